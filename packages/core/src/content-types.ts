/**
 * The media type a stored file is served with: the catalog type of the format its bytes were
 * identified as, never the extension a caller chose (a file named `x.html` holding unknown
 * bytes is served as `application/octet-stream`).
 */
import { findFormat } from "./formats.js";

/** The media type of a file identified as `format` (null: not identified). */
export function contentTypeOf(format: string | null, _filename?: string): string {
  if (!format) return "application/octet-stream";
  return findFormat(format)?.contentType ?? "application/octet-stream";
}
