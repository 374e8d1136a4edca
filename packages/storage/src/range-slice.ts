/** Trims a response body to the byte range asked for, when a server sent more than that. */
import { Readable, Transform, type TransformCallback } from "node:stream";

/**
 * Returns `body` cut to bytes `start..end` (inclusive; `end` undefined: to the end), given the
 * `Content-Range` the server answered (undefined: it ignored the Range header and sent the whole
 * object, which HTTP allows). Returns `body` itself when the server sent exactly what was asked.
 */
export function sliceToRange(body: Readable, contentRange: string | undefined, start: number, end: number | undefined): Readable {
  const match = contentRange === undefined ? null : /^bytes (\d+)-(\d+)\//.exec(contentRange);
  const sentStart = match ? Number(match[1]) : 0;
  const sentEnd = match ? Number(match[2]) : Number.POSITIVE_INFINITY;
  const wantEnd = end ?? Number.POSITIVE_INFINITY;
  if (sentStart === start && (sentEnd <= wantEnd || (match !== null && end === undefined))) return body;
  let skip = start - sentStart;
  let left = wantEnd - start + 1;
  const trim = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      let part = chunk;
      if (skip > 0) {
        const dropped = Math.min(skip, part.length);
        part = part.subarray(dropped);
        skip -= dropped;
      }
      if (left < part.length) part = part.subarray(0, left);
      left -= part.length;
      callback(null, part.length > 0 ? part : undefined);
    },
  });
  body.on("error", (err) => trim.destroy(err));
  trim.on("close", () => body.destroy());
  return body.pipe(trim);
}
