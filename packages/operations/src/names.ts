/** Output file names. */
import { findFormat, guessFormatFromName, sameFormatFamily, sanitizeFilename } from "@transmute/core";

/** The name without its last extension. */
export function stemOf(name: string): string {
  const clean = sanitizeFilename(name);
  const dot = clean.lastIndexOf(".");
  return dot > 0 ? clean.slice(0, dot) : clean;
}

/** `name` with its extension replaced by `ext`. */
export function withExtension(name: string, ext: string): string {
  return `${stemOf(name)}.${ext}`;
}

/**
 * The name of a file of `format` that a caller chose (`filename` of convert or export/url): the
 * caller's name, but a download saved under it must open, so an extension naming another format
 * is replaced (`some.zip` for a PNG gives `some.png`) and a missing or unknown one is added.
 * A name whose extension fits the bytes (`x.jpeg` for jpg) is kept as given.
 */
export function nameForFormat(given: string, format: string | null): string {
  const clean = sanitizeFilename(given);
  const info = format ? findFormat(format) : undefined;
  if (!info || info.detectOnly) return clean;
  const named = guessFormatFromName(clean);
  if (named && sameFormatFamily(named, info.ext)) return clean;
  return named && findFormat(named) ? withExtension(clean, info.ext) : `${clean}.${info.ext}`;
}

/** A file name from a URL's last path segment, or null. */
export function nameFromUrl(url: URL): string | null {
  const last = url.pathname.split("/").filter(Boolean).pop();
  if (!last) return null;
  try {
    return sanitizeFilename(decodeURIComponent(last));
  } catch {
    return sanitizeFilename(last);
  }
}

/** The file name of a Content-Disposition header (filename* preferred), or null. */
export function nameFromContentDisposition(header: string | undefined): string | null {
  if (!header) return null;
  const star = /filename\*\s*=\s*([^']*)'[^']*'([^;]+)/i.exec(header);
  if (star?.[2]) {
    try {
      return sanitizeFilename(decodeURIComponent(star[2].trim()));
    } catch {
      /* fall through to the plain form */
    }
  }
  const plain = /filename\s*=\s*("([^"]*)"|[^;]+)/i.exec(header);
  const value = plain?.[2] ?? plain?.[1];
  return value ? sanitizeFilename(value.trim()) : null;
}

/** The file name of an object in a store (S3 key, GCS object, Azure blob): its last path segment, or "file". */
export function nameOfObjectKey(key: string): string {
  return sanitizeFilename(key.split("/").filter(Boolean).pop() ?? "") || "file";
}
