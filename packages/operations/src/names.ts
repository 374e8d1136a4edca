/** Output file names. */
import { sanitizeFilename } from "@transmute/core";

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
