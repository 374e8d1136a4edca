/**
 * `Content-Disposition` for downloads, written so that both public Filewall-style parsers get
 * the right name: one takes the text after the last `; filename="`, the other splits on
 * `; filename=` and strips quotes. So the RFC 5987 form comes first and the quoted ASCII form
 * last, and the ASCII form alone when the name is ASCII.
 */

/** Removes what must never reach a header or a path: quotes, CR/LF, controls, separators. */
export function sanitizeFilename(name: string): string {
  const base = name.split(/[/\\]/).pop() ?? "";
  // eslint-disable-next-line no-control-regex
  const cleaned = base.replace(/[\u0000-\u001f\u007f"]/g, "").replace(/^\.+/, "").trim();
  return cleaned.length > 0 ? cleaned.slice(0, 255) : "file";
}

/** The ASCII fallback of a name: non-ASCII characters become `_`. */
export function asciiFilename(name: string): string {
  // eslint-disable-next-line no-control-regex
  return sanitizeFilename(name).replace(/[^\x20-\x7e]/g, "_").replace(/[;\\]/g, "_");
}

/** The header value for an attachment named `name`. */
export function buildContentDisposition(name: string): string {
  const clean = sanitizeFilename(name);
  const ascii = asciiFilename(clean);
  if (ascii === clean) return `attachment; filename="${ascii}"`;
  const encoded = encodeURIComponent(clean).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename*=UTF-8''${encoded}; filename="${ascii}"`;
}
