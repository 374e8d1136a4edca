/** Base64 encoding as a stream, for `?encoding=base64` downloads: constant memory at any size. */
import { Transform, type TransformCallback } from "node:stream";

/** The length of the base64 text of `bytes` bytes (with padding): 4 * ceil(n / 3). */
export function base64Length(bytes: number): number {
  return 4 * Math.ceil(bytes / 3);
}

/**
 * A Transform from bytes to standard padded base64 text (no line breaks). Each chunk is encoded up
 * to a multiple of 3 bytes; the 1 or 2 bytes left over wait for the next chunk, so the output is
 * exactly `Buffer.from(all).toString("base64")` whatever the chunk boundaries.
 */
export function createBase64Encoder(): Transform {
  let carry = Buffer.alloc(0);
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      const bytes = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      const whole = bytes.length - (bytes.length % 3);
      carry = Buffer.from(bytes.subarray(whole));
      callback(null, whole > 0 ? Buffer.from(bytes.subarray(0, whole).toString("base64"), "ascii") : undefined);
    },
    flush(callback: TransformCallback) {
      callback(null, carry.length > 0 ? Buffer.from(carry.toString("base64"), "ascii") : undefined);
    },
  });
}
