/** A pass-through stream that hashes and counts the bytes flowing to storage and enforces a size limit. */
import { createHash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { AppError } from "@transmute/core";

/** Counts and hashes bytes on their way to storage; fails with `payload_too_large` past `maxBytes`. */
export class ChecksumMeter extends Transform {
  private readonly sha256 = createHash("sha256");
  private readonly md5 = createHash("md5");
  private readonly maxBytes: number;
  /** Bytes passed through so far. */
  size = 0;

  constructor(maxBytes = Number.POSITIVE_INFINITY) {
    super();
    if (!(maxBytes >= 0) || (Number.isFinite(maxBytes) && !Number.isSafeInteger(maxBytes))) {
      throw new AppError("internal_error", "Internal error", { detail: `invalid maxBytes ${String(maxBytes)}` });
    }
    this.maxBytes = maxBytes;
  }

  override _transform(chunk: Buffer | string, encoding: BufferEncoding, callback: TransformCallback): void {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, encoding) : chunk;
    // Checked before hashing or passing on, so not one byte past the limit reaches the disk.
    if (this.size + bytes.length > this.maxBytes) {
      callback(new AppError("payload_too_large", `The file is larger than the limit of ${this.maxBytes} bytes.`));
      return;
    }
    this.size += bytes.length;
    this.sha256.update(bytes);
    this.md5.update(bytes);
    callback(null, bytes);
  }

  /** Hex digests of everything that passed; call once, after the stream finished. */
  digests(): { sha256: string; md5: string } {
    return { sha256: this.sha256.digest("hex"), md5: this.md5.digest("hex") };
  }
}
