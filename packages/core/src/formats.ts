/**
 * The format catalog and format identification from a file's first bytes. Pure: the I/O side
 * reads the head of a file (FORMAT_HEAD_BYTES) and, for zips, the entry names, and asks here.
 */

/** The FreeConvert type families, the groups `/query/view/options` answers with. */
export type FormatFamily = "image" | "document" | "audio" | "video" | "archive" | "ebook" | "vector";

/** One format of the catalog. */
export interface FormatInfo {
  /** Canonical extension (lowercase, no dot): the one name used inside Transmute. */
  readonly ext: string;
  /** Display name, as FreeConvert shows it. */
  readonly name: string;
  /** FreeConvert type family. */
  readonly family: FormatFamily;
  /** MIME type for downloads and file rows. */
  readonly contentType: string;
  /** Other extensions that name the same format (`jpeg` for `jpg`). */
  readonly aliases: readonly string[];
  /** The generic format a file of this one also is (a docx is a zip): declared `zip` accepts it. */
  readonly container?: string;
  /** What identifyFormat may report for a valid file of this format, when the bytes cannot tell more. */
  readonly identifiedAs?: readonly string[];
  /** Reported by identifyFormat only; never a conversion source or target a caller can name. */
  readonly detectOnly?: boolean;
}

/** How many leading bytes identifyFormat wants (it works with fewer, it just knows less). */
export const FORMAT_HEAD_BYTES = 4096;

const OOXML = "application/vnd.openxmlformats-officedocument";
const ODF = "application/vnd.oasis.opendocument";
const ISO_VIDEO = ["mp4", "m4v", "mov", "m4a"];
const others = (ext: string, group: string[]): string[] => group.filter((g) => g !== ext);

/** Every format Transmute knows by name. Conversions a format supports are the engines' business. */
export const FORMATS: readonly FormatInfo[] = [
  // Images.
  { ext: "jpg", name: "JPG", family: "image", contentType: "image/jpeg", aliases: ["jpeg", "jpe", "jfif"] },
  { ext: "png", name: "PNG", family: "image", contentType: "image/png", aliases: [] },
  { ext: "webp", name: "WEBP", family: "image", contentType: "image/webp", aliases: [] },
  { ext: "avif", name: "AVIF", family: "image", contentType: "image/avif", aliases: [] },
  { ext: "heic", name: "HEIC", family: "image", contentType: "image/heic", aliases: ["heif"] },
  { ext: "gif", name: "GIF", family: "image", contentType: "image/gif", aliases: [] },
  { ext: "tiff", name: "TIFF", family: "image", contentType: "image/tiff", aliases: ["tif"] },
  { ext: "bmp", name: "BMP", family: "image", contentType: "image/bmp", aliases: ["dib"] },
  { ext: "ico", name: "ICO", family: "image", contentType: "image/vnd.microsoft.icon", aliases: [] },
  { ext: "svg", name: "SVG", family: "vector", contentType: "image/svg+xml", aliases: [] },
  // Documents.
  { ext: "pdf", name: "PDF", family: "document", contentType: "application/pdf", aliases: [] },
  { ext: "docx", name: "DOCX", family: "document", contentType: `${OOXML}.wordprocessingml.document`, aliases: [], container: "zip" },
  { ext: "xlsx", name: "XLSX", family: "document", contentType: `${OOXML}.spreadsheetml.sheet`, aliases: [], container: "zip" },
  { ext: "pptx", name: "PPTX", family: "document", contentType: `${OOXML}.presentationml.presentation`, aliases: [], container: "zip" },
  { ext: "odt", name: "ODT", family: "document", contentType: `${ODF}.text`, aliases: [], container: "zip" },
  { ext: "ods", name: "ODS", family: "document", contentType: `${ODF}.spreadsheet`, aliases: [], container: "zip" },
  { ext: "odp", name: "ODP", family: "document", contentType: `${ODF}.presentation`, aliases: [], container: "zip" },
  { ext: "doc", name: "DOC", family: "document", contentType: "application/msword", aliases: ["dot"], identifiedAs: ["ole"] },
  { ext: "xls", name: "XLS", family: "document", contentType: "application/vnd.ms-excel", aliases: [], identifiedAs: ["ole"] },
  { ext: "ppt", name: "PPT", family: "document", contentType: "application/vnd.ms-powerpoint", aliases: ["pps"], identifiedAs: ["ole"] },
  { ext: "ole", name: "OLE2 compound file (Office 97-2003)", family: "document", contentType: "application/x-ole-storage", aliases: [], detectOnly: true },
  { ext: "rtf", name: "RTF", family: "document", contentType: "application/rtf", aliases: [] },
  // A text file may hold anything textual; the bytes cannot tell csv from md from txt.
  { ext: "txt", name: "TXT", family: "document", contentType: "text/plain", aliases: ["text"], identifiedAs: ["html", "xml", "svg", "rtf"] },
  { ext: "csv", name: "CSV", family: "document", contentType: "text/csv", aliases: [], identifiedAs: ["txt"] },
  { ext: "md", name: "MD", family: "document", contentType: "text/markdown", aliases: ["markdown"], identifiedAs: ["txt", "html"] },
  { ext: "json", name: "JSON", family: "document", contentType: "application/json", aliases: [], identifiedAs: ["txt"] },
  // An HTML fragment has no structure to recognise, so plain text is a valid identification.
  { ext: "html", name: "HTML", family: "document", contentType: "text/html", aliases: ["htm", "xhtml"], identifiedAs: ["txt", "xml"] },
  // A web-page snapshot (what import/webpage captures): MIME headers, then the page and its resources.
  { ext: "mhtml", name: "MHTML", family: "document", contentType: "multipart/related", aliases: ["mht"], identifiedAs: ["txt"] },
  { ext: "xml", name: "XML", family: "document", contentType: "application/xml", aliases: [], identifiedAs: ["txt", "svg", "html"] },
  // Ebooks.
  { ext: "epub", name: "EPUB", family: "ebook", contentType: "application/epub+zip", aliases: [], container: "zip" },
  // Archives.
  { ext: "zip", name: "ZIP", family: "archive", contentType: "application/zip", aliases: [] },
  { ext: "tar", name: "TAR", family: "archive", contentType: "application/x-tar", aliases: [] },
  { ext: "gz", name: "GZ", family: "archive", contentType: "application/gzip", aliases: ["gzip"] },
  // A tarball is a gzip stream; telling it from any other gzip takes decompressing.
  { ext: "tgz", name: "TAR.GZ", family: "archive", contentType: "application/gzip", aliases: ["tar.gz"], identifiedAs: ["gz"] },
  { ext: "7z", name: "7Z", family: "archive", contentType: "application/x-7z-compressed", aliases: [] },
  { ext: "rar", name: "RAR", family: "archive", contentType: "application/vnd.rar", aliases: [] },
  { ext: "bz2", name: "BZ2", family: "archive", contentType: "application/x-bzip2", aliases: ["bzip2"] },
  { ext: "xz", name: "XZ", family: "archive", contentType: "application/x-xz", aliases: [] },
  // Audio.
  { ext: "mp3", name: "MP3", family: "audio", contentType: "audio/mpeg", aliases: [] },
  { ext: "wav", name: "WAV", family: "audio", contentType: "audio/wav", aliases: ["wave"] },
  { ext: "ogg", name: "OGG", family: "audio", contentType: "audio/ogg", aliases: ["oga"] },
  { ext: "opus", name: "OPUS", family: "audio", contentType: "audio/opus", aliases: [], container: "ogg" },
  { ext: "flac", name: "FLAC", family: "audio", contentType: "audio/flac", aliases: [] },
  // iTunes writes AAC in an MP4 box and still names it .aac at times.
  { ext: "aac", name: "AAC", family: "audio", contentType: "audio/aac", aliases: [], identifiedAs: ["m4a", "mp4"] },
  { ext: "m4a", name: "M4A", family: "audio", contentType: "audio/mp4", aliases: [], identifiedAs: others("m4a", ISO_VIDEO) },
  // Video. ISO-BMFF brands are set loosely by encoders, so the whole group accepts each other.
  { ext: "mp4", name: "MP4", family: "video", contentType: "video/mp4", aliases: [], identifiedAs: others("mp4", ISO_VIDEO) },
  { ext: "m4v", name: "M4V", family: "video", contentType: "video/x-m4v", aliases: [], identifiedAs: others("m4v", ISO_VIDEO) },
  { ext: "mov", name: "MOV", family: "video", contentType: "video/quicktime", aliases: ["qt"], identifiedAs: others("mov", ISO_VIDEO) },
  { ext: "webm", name: "WEBM", family: "video", contentType: "video/webm", aliases: [], container: "mkv" },
  { ext: "mkv", name: "MKV", family: "video", contentType: "video/x-matroska", aliases: [] },
  { ext: "avi", name: "AVI", family: "video", contentType: "video/x-msvideo", aliases: [] },
];

const BY_NAME: ReadonlyMap<string, FormatInfo> = new Map(
  FORMATS.flatMap((f) => [f.ext, ...f.aliases].map((name) => [name, f] as const)),
);

function cleanExtension(ext: string): string {
  return ext.trim().toLowerCase().replace(/^\.+/, "");
}

/** The catalog entry for an extension or alias (case-insensitive, leading dot ok), if known. */
export function findFormat(ext: string): FormatInfo | undefined {
  return BY_NAME.get(cleanExtension(ext));
}

/**
 * The canonical name of a format: `JPEG`, `.jpe` and `jpg` all give `jpg`. An extension the
 * catalog does not know comes back lowercased without its dot, so unknown formats still compare.
 */
export function normalizeFormat(ext: string): string {
  const clean = cleanExtension(ext);
  return BY_NAME.get(clean)?.ext ?? clean;
}

/** The format a file name's extension names (`a.tar.gz` gives `tgz`), or null when it has none. */
export function guessFormatFromName(fileName: string): string | null {
  const base = fileName.split(/[\\/]/).pop()?.toLowerCase() ?? "";
  const parts = base.split(".");
  if (parts.length < 2 || parts[0] === "" && parts.length === 2) return null;
  const double = parts.slice(-2).join(".");
  if (parts.length >= 3 && BY_NAME.has(double)) return normalizeFormat(double);
  const last = parts[parts.length - 1] ?? "";
  return last === "" ? null : normalizeFormat(last);
}

/**
 * Whether bytes identified as `detected` are acceptable for a task that declared `declared`: the
 * `format_mismatch` rule. Not symmetric, on purpose:
 * - aliases are equal (`jpeg` = `jpg`, `tif` = `tiff`);
 * - a specialised format satisfies its container: declared `zip` accepts a detected `docx`, since
 *   a docx is a zip archive and unpacking it works;
 * - the reverse is a mismatch: a zip whose entries are not a docx's is not a docx. So the I/O side
 *   must refine a detected `zip` with identifyZipContainer before comparing;
 * - where the bytes cannot tell formats apart, the declared one wins (FormatInfo.identifiedAs):
 *   declared `csv` accepts detected `txt`, declared `doc` accepts `ole`, `tgz` accepts `gz`.
 * A format outside the catalog matches only itself.
 */
export function sameFormatFamily(declared: string, detected: string): boolean {
  const a = normalizeFormat(declared);
  const b = normalizeFormat(detected);
  if (a === b) return true;
  if (BY_NAME.get(a)?.identifiedAs?.includes(b)) return true;
  return BY_NAME.get(b)?.container === a;
}

const ZIP_MIMETYPES: Readonly<Record<string, string>> = {
  "application/epub+zip": "epub",
  [`${ODF}.text`]: "odt",
  [`${ODF}.spreadsheet`]: "ods",
  [`${ODF}.presentation`]: "odp",
};

/**
 * The format of a zip archive from its entry names and, when it has one, the text of its
 * `mimetype` entry (ODF and EPUB store their type there): docx, xlsx, pptx, odt, ods, odp, epub,
 * or `zip` for any other archive. A partial list of names can only prove, never disprove.
 */
export function identifyZipContainer(entryNames: readonly string[], mimetypeEntry?: string): string {
  const byMimetype = mimetypeEntry === undefined ? undefined : ZIP_MIMETYPES[mimetypeEntry.trim()];
  if (byMimetype) return byMimetype;
  const names = new Set(entryNames.map((n) => n.replace(/^\.?\//, "")));
  if (names.has("[Content_Types].xml")) {
    const has = (prefix: string) => entryNames.some((n) => n.replace(/^\.?\//, "").startsWith(prefix));
    if (has("word/")) return "docx";
    if (has("xl/")) return "xlsx";
    if (has("ppt/")) return "pptx";
  }
  if (names.has("mimetype") && names.has("META-INF/container.xml")) return "epub";
  return "zip";
}

// ---------------------------------------------------------------------------------------------
// Identification from the first bytes.

function startsWith(head: Uint8Array, bytes: readonly number[], at = 0): boolean {
  if (head.length < at + bytes.length) return false;
  return bytes.every((b, i) => head[at + i] === b);
}

function ascii(head: Uint8Array, at: number, length: number): string {
  let s = "";
  for (let i = at; i < Math.min(head.length, at + length); i++) s += String.fromCharCode(head[i] ?? 0);
  return s;
}

function u16le(h: Uint8Array, at: number): number {
  return (h[at] ?? 0) | ((h[at + 1] ?? 0) << 8);
}

function u32le(h: Uint8Array, at: number): number {
  return (u16le(h, at) + (u16le(h, at + 2) << 16)) >>> 0;
}

function u32be(h: Uint8Array, at: number): number {
  return (((h[at] ?? 0) << 24) | ((h[at + 1] ?? 0) << 16) | ((h[at + 2] ?? 0) << 8) | (h[at + 3] ?? 0)) >>> 0;
}

function indexOfBytes(h: Uint8Array, needle: readonly number[], from = 0, to = h.length): number {
  outer: for (let i = from; i <= Math.min(to, h.length) - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (h[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

const utf16le = (s: string): number[] => [...s].flatMap((c) => [c.charCodeAt(0), 0]);
const bytesOf = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

/**
 * Identifies a file from its first bytes (ideally FORMAT_HEAD_BYTES of them): binary formats by
 * their signature, text formats by structure (svg, html, xml, else txt for valid UTF-8 without
 * control bytes). Returns a catalog name, `ole` for an Office 97-2003 file it cannot narrow down,
 * `zip` for an archive whose first entries do not name its type, or null when nothing matches.
 */
export function identifyFormat(head: Uint8Array): string | null {
  if (head.length === 0) return null;
  return identifyBinary(head) ?? identifyText(head);
}

function identifyBinary(h: Uint8Array): string | null {
  if (startsWith(h, [0xff, 0xd8, 0xff])) return "jpg";
  if (startsWith(h, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return "png";
  const first4 = ascii(h, 0, 4);
  if (first4 === "GIF8" && (ascii(h, 4, 2) === "7a" || ascii(h, 4, 2) === "9a")) return "gif";
  if (first4 === "RIFF") return { WEBP: "webp", WAVE: "wav", "AVI ": "avi" }[ascii(h, 8, 4)] ?? null;
  if (first4 === "II*\0" || first4 === "MM\0*" || first4 === "II+\0" || first4 === "MM\0+") return "tiff";
  if (ascii(h, 0, 2) === "BM" && [12, 40, 52, 56, 64, 108, 124].includes(u32le(h, 14))) return "bmp";
  if (isIco(h)) return "ico";
  if (isPdf(h)) return "pdf";
  if (first4 === "PK\x03\x04") return identifyZipHead(h);
  if (first4 === "PK\x05\x06" || first4 === "PK\x07\x08") return "zip";
  if (startsWith(h, [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c])) return "7z";
  if (startsWith(h, [0x1f, 0x8b, 0x08])) return "gz";
  if (ascii(h, 0, 7) === "Rar!\x1a\x07\x00" || ascii(h, 0, 8) === "Rar!\x1a\x07\x01\x00") return "rar";
  if (ascii(h, 0, 3) === "BZh" && (h[3] ?? 0) >= 0x31 && (h[3] ?? 0) <= 0x39) return "bz2";
  if (startsWith(h, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return "xz";
  if (ascii(h, 257, 5) === "ustar") return "tar";
  if (startsWith(h, [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1])) return identifyOle(h);
  if (ascii(h, 0, 5) === "{\\rtf") return "rtf";
  if (ascii(h, 4, 4) === "ftyp") return identifyIsoBmff(h);
  if (["moov", "mdat", "wide", "free", "skip", "pnot"].includes(ascii(h, 4, 4)) && u32be(h, 0) >= 8) return "mov";
  if (first4 === "OggS") return identifyOgg(h);
  if (first4 === "fLaC") return "flac";
  if (startsWith(h, [0x1a, 0x45, 0xdf, 0xa3])) return identifyMatroska(h);
  if (ascii(h, 0, 3) === "ID3") return identifyAfterId3(h);
  return identifyAudioFrame(h, 0);
}

function isIco(h: Uint8Array): boolean {
  if (!startsWith(h, [0, 0, 1, 0]) || h.length < 22) return false;
  const count = u16le(h, 4);
  // The first directory entry: reserved byte 0, 0 or 1 planes, a sane bit depth, data after the directory.
  return count > 0 && h[9] === 0 && u16le(h, 10) <= 1 && [0, 1, 4, 8, 16, 24, 32].includes(u16le(h, 12))
    && u32le(h, 14) > 0 && u32le(h, 18) >= 6 + 16 * count;
}

function isPdf(h: Uint8Array): boolean {
  // Readers accept the header anywhere in the first 1024 bytes; require it at a line start so a
  // text file that mentions "%PDF-1.7" is not taken for one.
  const at = indexOfBytes(h, bytesOf("%PDF-"), 0, 1024);
  if (at < 0) return false;
  const atLineStart = at === 0 || h[at - 1] === 0x0a || h[at - 1] === 0x0d;
  const version = h[at + 5] ?? 0;
  return atLineStart && version >= 0x31 && version <= 0x32;
}

/** Walks the zip's local headers that fit in the head, for the entry names and a stored mimetype. */
function identifyZipHead(h: Uint8Array): string {
  const names: string[] = [];
  let mimetype: string | undefined;
  let at = 0;
  while (at + 30 <= h.length && u32le(h, at) === 0x04034b50 && names.length < 64) {
    const flags = u16le(h, at + 6);
    const method = u16le(h, at + 8);
    const compressedSize = u32le(h, at + 18);
    const nameLength = u16le(h, at + 26);
    const dataAt = at + 30 + nameLength + u16le(h, at + 28);
    if (at + 30 + nameLength > h.length) break;
    const name = new TextDecoder().decode(h.subarray(at + 30, at + 30 + nameLength));
    names.push(name);
    if (name === "mimetype" && method === 0 && dataAt + compressedSize <= h.length) {
      mimetype = ascii(h, dataAt, compressedSize);
    }
    // Sizes kept in a trailing data descriptor (bit 3) or in zip64 extras: the next header can't be found.
    if (flags & 0x08 || compressedSize === 0xffffffff) break;
    at = dataAt + compressedSize;
  }
  return identifyZipContainer(names, mimetype);
}

function identifyOle(h: Uint8Array): string {
  // The stream names live in directory sectors that are in the head only for small files; when
  // they are, they tell Word from Excel from PowerPoint.
  if (indexOfBytes(h, utf16le("WordDocument")) >= 0) return "doc";
  if (indexOfBytes(h, utf16le("Workbook")) >= 0 || indexOfBytes(h, utf16le("Book\0")) >= 0) return "xls";
  if (indexOfBytes(h, utf16le("PowerPoint Document")) >= 0) return "ppt";
  return "ole";
}

const ISO_BRANDS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ["avif", ["avif", "avis"]],
  ["heic", ["heic", "heix", "heim", "heis", "hevc", "hevx", "hevm", "hevs"]],
  ["m4a", ["M4A ", "M4B ", "M4P "]],
  ["m4v", ["M4V ", "M4VH", "M4VP"]],
  ["mov", ["qt  "]],
  ["mp4", ["isom", "iso2", "iso3", "iso4", "iso5", "iso6", "iso8", "iso9", "mp41", "mp42", "mp71", "avc1",
    "dash", "MSNV", "NDAS", "F4V ", "F4P ", "mmp4", "3gp4", "3gp5", "3gp6", "3gg6", "3g2a", "XAVC"]],
];

function brandFormat(brand: string): string | null {
  return ISO_BRANDS.find(([, brands]) => brands.includes(brand))?.[0] ?? null;
}

function identifyIsoBmff(h: Uint8Array): string | null {
  const major = ascii(h, 8, 4);
  const end = Math.min(h.length, Math.max(16, u32be(h, 0)));
  const compatible: string[] = [];
  for (let at = 16; at + 4 <= end; at += 4) compatible.push(ascii(h, at, 4));
  // mif1/msf1 are the generic HEIF brands: the codec brand is among the compatible ones.
  if (major === "mif1" || major === "msf1") return compatible.includes("avif") || compatible.includes("avis") ? "avif" : "heic";
  const byMajor = brandFormat(major);
  if (byMajor) return byMajor;
  for (const [format] of ISO_BRANDS) {
    if (compatible.some((b) => brandFormat(b) === format)) return format;
  }
  return null;
}

function identifyOgg(h: Uint8Array): string {
  // The first page's first packet names the codec; it starts after the segment table.
  const packetAt = 27 + (h[26] ?? 0);
  return ascii(h, packetAt, 8) === "OpusHead" ? "opus" : "ogg";
}

function identifyMatroska(h: Uint8Array): string | null {
  const at = indexOfBytes(h, [0x42, 0x82], 4, 64);
  if (at < 0) return null;
  const sizeByte = h[at + 2] ?? 0;
  const sizeLength = Math.clz32(sizeByte) - 23; // EBML variable-length integer: leading zeros + 1
  if (sizeLength < 1 || sizeLength > 8) return null;
  let size = sizeByte & (0xff >> sizeLength);
  for (let i = 1; i < sizeLength; i++) size = size * 256 + (h[at + 2 + i] ?? 0);
  const docType = ascii(h, at + 2 + sizeLength, Math.min(size, 16)).replace(/\0+$/, "");
  return docType === "webm" ? "webm" : docType === "matroska" ? "mkv" : null;
}

function identifyAfterId3(h: Uint8Array): string {
  // Syncsafe size (7 bits a byte), plus a 10-byte footer when flag 0x10 is set.
  const size = ((h[6] ?? 0) << 21) | ((h[7] ?? 0) << 14) | ((h[8] ?? 0) << 7) | (h[9] ?? 0);
  const after = 10 + size + ((h[5] ?? 0) & 0x10 ? 10 : 0);
  if (ascii(h, after, 4) === "fLaC") return "flac";
  // Past the head (cover art makes tags large) there is nothing more to learn: ID3 means MP3.
  return identifyAudioFrame(h, after) ?? "mp3";
}

function identifyAudioFrame(h: Uint8Array, at: number): string | null {
  const b1 = h[at + 1] ?? 0;
  const b2 = h[at + 2] ?? 0;
  if (h[at] !== 0xff || (b1 & 0xe0) !== 0xe0 || h.length < at + 4) return null;
  // ADTS: 12-bit sync, layer 00, a sampling-frequency index in range.
  if ((b1 & 0xf6) === 0xf0 && (b2 >> 2 & 0x0f) < 13) return "aac";
  const version = (b1 >> 3) & 3;
  const layer = (b1 >> 1) & 3;
  const bitrate = b2 >> 4;
  const sampleRate = (b2 >> 2) & 3;
  if (version !== 1 && layer === 1 && bitrate !== 15 && sampleRate !== 3) return "mp3";
  return null;
}

// ---------------------------------------------------------------------------------------------
// Text formats.

function decodeText(h: Uint8Array): string | null {
  if (h[0] === 0xff && h[1] === 0xfe) return decodeUtf16(h.subarray(2), true);
  if (h[0] === 0xfe && h[1] === 0xff) return decodeUtf16(h.subarray(2), false);
  const body = startsWith(h, [0xef, 0xbb, 0xbf]) ? h.subarray(3) : h;
  return isUtf8Text(body) ? new TextDecoder().decode(body) : null;
}

function decodeUtf16(h: Uint8Array, littleEndian: boolean): string | null {
  const even = h.subarray(0, h.length - (h.length % 2));
  const swapped = littleEndian ? even : even.map((_, i) => even[i ^ 1] ?? 0);
  const text = new TextDecoder("utf-16le").decode(swapped);
  return [...text].some((c) => isControl(c.charCodeAt(0))) ? null : text;
}

function isControl(code: number): boolean {
  // NUL and the C0 controls other than tab, newlines, form feed and escape almost never occur in
  // text, while binary formats without a signature are full of them.
  return code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0b && code !== 0x0c && code !== 0x0d && code !== 0x1b;
}

/** Valid UTF-8 without control bytes; a sequence cut off by the end of the head is fine. */
function isUtf8Text(h: Uint8Array): boolean {
  let i = 0;
  while (i < h.length) {
    const b = h[i] ?? 0;
    if (b < 0x80) {
      if (isControl(b)) return false;
      i++;
      continue;
    }
    const length = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (length === 0) return false;
    // Second-byte ranges exclude overlong forms, surrogates and code points past U+10FFFF.
    const min = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
    const max = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
    for (let k = 1; k < length; k++) {
      if (i + k >= h.length) return true;
      const c = h[i + k] ?? 0;
      if (k === 1 ? c < min || c > max : c < 0x80 || c > 0xbf) return false;
    }
    i += length;
  }
  return true;
}

const HTML_ROOTS = new Set(["html", "head", "body", "meta", "title", "link", "script", "style", "div", "p", "table",
  "span", "a", "img", "br", "ul", "ol", "form", "section", "article", "header", "nav", "main", "footer", "iframe",
  "h1", "h2", "h3", "h4", "h5", "h6"]);

function identifyText(h: Uint8Array): string | null {
  const text = decodeText(h);
  if (text === null) return null;
  if (isMhtml(text)) return "mhtml";
  let at = 0;
  let xmlDeclaration = false;
  let doctype: string | undefined;
  for (;;) {
    while (at < text.length && /\s/.test(text[at] ?? "")) at++;
    if (text.startsWith("<?", at)) {
      xmlDeclaration ||= text.startsWith("<?xml", at);
      const end = text.indexOf("?>", at);
      if (end < 0) return markupVerdict(doctype, undefined, xmlDeclaration);
      at = end + 2;
    } else if (text.startsWith("<!--", at)) {
      const end = text.indexOf("-->", at);
      if (end < 0) return markupVerdict(doctype, undefined, xmlDeclaration);
      at = end + 3;
    } else if (/^<!doctype\s/i.test(text.slice(at, at + 10))) {
      doctype = /^<!doctype\s+([^\s>[]+)/i.exec(text.slice(at))?.[1]?.toLowerCase();
      const end = skipDoctype(text, at);
      if (end < 0) return markupVerdict(doctype, undefined, xmlDeclaration);
      at = end;
    } else {
      break;
    }
  }
  const root = /^<(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)(?=[\s>/]|$)/.exec(text.slice(at, at + 256))?.[1];
  if (root === undefined && at < text.length) return "txt";
  return markupVerdict(doctype, root, xmlDeclaration);
}

/** A MIME message of type multipart/related at the top: the header block names it before any blank line. */
function isMhtml(text: string): boolean {
  const headerEnd = text.search(/\r?\n\r?\n/);
  const headers = headerEnd < 0 ? text : text.slice(0, headerEnd);
  if (!/^[A-Za-z][\w-]*:/.test(headers)) return false;
  return /^mime-version:/im.test(headers) && /^content-type:\s*multipart\/related/im.test(headers);
}

function markupVerdict(doctype: string | undefined, root: string | undefined, xmlDeclaration: boolean): string {
  if (root === "svg" || (root === undefined && doctype === "svg")) return "svg";
  if (doctype === "html" || (root !== undefined && HTML_ROOTS.has(root.toLowerCase()))) return "html";
  if (root !== undefined || xmlDeclaration || doctype !== undefined) return "xml";
  return "txt";
}

/** Index just past a doctype, which may hold an internal subset in brackets; -1 when cut off. */
function skipDoctype(text: string, at: number): number {
  let depth = 0;
  for (let i = at + 2; i < text.length; i++) {
    const c = text[i];
    if (c === "[") depth++;
    else if (c === "]") depth--;
    else if (c === ">" && depth <= 0) return i + 1;
  }
  return -1;
}
