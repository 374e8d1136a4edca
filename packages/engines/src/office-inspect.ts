/**
 * Checks an office input before LibreOffice sees it. soffice "converts" almost anything: random
 * bytes named .docx come out as a PDF of garbage text, and an encrypted file makes it wait for
 * a password nobody can type. So the bytes must be the declared format, and encryption is found
 * here, cheaply, from the container:
 * - OOXML (docx, xlsx, pptx): an encrypted one is an OLE2 compound file with the streams
 *   EncryptionInfo and EncryptedPackage;
 * - ODF (odt, ods, odp): manifest:encryption-data in META-INF/manifest.xml;
 * - doc: the FIB's fEncrypted (or fObfuscated) flag; xls: a FILEPASS record among the first
 *   records of the Workbook stream; ppt: the Current User atom's encrypted header token.
 * Not detected: RTF and text have no encryption; a cell- or sheet-level "protection" of a
 * spreadsheet is not encryption and converts fine.
 */
import { open } from "node:fs/promises";
import { AppError, findFormat, identifyFormat, identifyZipContainer, normalizeFormat, sameFormatFamily } from "@transmute/core";
import yauzl from "yauzl";
import { CfbError, isCompoundFile, openCompoundFile, type CompoundFile } from "./office-cfb.js";
import type { TextEncoding } from "./office-formats.js";

/** What the inspection found about a readable input. */
export interface OfficeInputInfo {
  /** The file opens only with a password. */
  encrypted: boolean;
  /** For txt and csv: how the text is encoded. */
  encoding?: TextEncoding;
}

const ZIP_FORMATS = new Set(["docx", "xlsx", "pptx", "odt", "ods", "odp"]);
const OLE_FORMATS = new Set(["doc", "xls", "ppt"]);
const TEXT_FORMATS = new Set(["txt", "csv", "html"]);
const HEAD_BYTES = 4096;
/** Zip entries listed at most: an office file has tens to a few thousand. */
const MAX_ZIP_ENTRIES = 50_000;
/** Largest manifest or mimetype entry read. */
const MAX_META_BYTES = 1 << 20;

/** Inspects the input at `path`, declared as `format`; rejects with corrupt_file when the bytes are not that format. */
export async function inspectOfficeInput(path: string, format: string): Promise<OfficeInputInfo> {
  const declared = normalizeFormat(format);
  const file = await open(path, "r");
  try {
    const { size } = await file.stat();
    if (size === 0) throw new AppError("corrupt_file", `the ${label(declared)} file is empty`);
    const head = Buffer.alloc(Math.min(size, HEAD_BYTES));
    await file.read(head, 0, head.length, 0);
    if (isCompoundFile(head)) return await inspectCompound(file, size, declared);
    if (head.subarray(0, 4).toString("latin1") === "PK\x03\x04") {
      return await inspectZip(path, declared);
    }
    const detected = identifyFormat(head);
    if (ZIP_FORMATS.has(declared) || OLE_FORMATS.has(declared) || declared === "rtf") {
      if (detected !== null && sameFormatFamily(declared, detected)) return { encrypted: false };
      throw mismatch(declared, detected);
    }
    if (!TEXT_FORMATS.has(declared)) throw new AppError("unsupported_format", `LibreOffice does not read ${label(declared)} files here`);
    // A text file may be in a legacy 8-bit encoding, which identifyFormat does not take for text.
    if (detected !== null && !sameFormatFamily(declared, detected) && !["txt", "html", "xml", "rtf"].includes(detected)) {
      throw mismatch(declared, detected);
    }
    const encoding = textEncoding(head, head.length < size);
    if (!encoding) throw mismatch(declared, null);
    return { encrypted: false, encoding };
  } finally {
    await file.close();
  }
}

async function inspectCompound(file: Awaited<ReturnType<typeof open>>, size: number, declared: string): Promise<OfficeInputInfo> {
  let cfb: CompoundFile;
  try {
    cfb = await openCompoundFile(file, size);
  } catch (err) {
    if (!(err instanceof CfbError)) throw err;
    throw new AppError("corrupt_file", `the ${label(declared)} file is damaged: its Office container cannot be read`, { detail: err.message });
  }
  const stream = (name: string) => cfb.streams.find((s) => s.name === name);
  // Encrypted OOXML and (with agile encryption) any Office file: the real document is inside.
  if (stream("EncryptionInfo") && stream("EncryptedPackage") && (ZIP_FORMATS.has(declared) || OLE_FORMATS.has(declared))) {
    return { encrypted: true };
  }
  const word = stream("WordDocument");
  const book = stream("Workbook") ?? stream("Book");
  const slides = stream("PowerPoint Document");
  const kind = word ? "doc" : book ? "xls" : slides ? "ppt" : "ole";
  if (kind !== declared) throw mismatch(declared, kind);
  try {
    if (word) {
      const fib = await cfb.readHead(word, 12);
      // wIdent 0xA5EC starts every Word 97+ FIB; flags: fEncrypted 0x0100, fObfuscated 0x8000.
      if (fib.length < 12 || fib.readUInt16LE(0) !== 0xa5ec) throw new CfbError("no Word FIB");
      return { encrypted: (fib.readUInt16LE(10) & 0x8100) !== 0 };
    }
    if (book) return { encrypted: hasFilePass(await cfb.readHead(book, 8192)) };
    const user = stream("Current User");
    // headerToken 0xF3D1C4DF marks an encrypted presentation (0xE391C05F a plain one).
    const atom = user ? await cfb.readHead(user, 16) : Buffer.alloc(0);
    return { encrypted: atom.length >= 16 && atom.readUInt32LE(12) === 0xf3d1c4df };
  } catch (err) {
    if (!(err instanceof CfbError)) throw err;
    throw new AppError("corrupt_file", `the ${label(declared)} file is damaged: its document stream cannot be read`, { detail: err.message });
  }
}

/** Whether the BIFF records at the start of a Workbook stream include FILEPASS (0x002F), which only follows the first BOF. */
function hasFilePass(biff: Buffer): boolean {
  for (let at = 0, n = 0; at + 4 <= biff.length && n < 64; n++) {
    const type = biff.readUInt16LE(at);
    if (type === 0x002f) return true;
    at += 4 + biff.readUInt16LE(at + 2);
  }
  return false;
}

async function inspectZip(path: string, declared: string): Promise<OfficeInputInfo> {
  let listing: { names: string[]; mimetype?: string; manifest?: string };
  try {
    listing = await listZip(path);
  } catch (err) {
    if (!ZIP_FORMATS.has(declared)) throw mismatch(declared, "zip");
    throw new AppError("corrupt_file", `the ${label(declared)} file is damaged: its zip container cannot be read`, { detail: String(err) });
  }
  // Also for a zip declared as something else (a docx named .doc): the listing names what it is.
  const container = identifyZipContainer(listing.names, listing.mimetype);
  if (container !== declared) throw mismatch(declared, container);
  return { encrypted: listing.manifest !== undefined && /<manifest:encryption-data\b/.test(listing.manifest) };
}

function listZip(path: string): Promise<{ names: string[]; mimetype?: string; manifest?: string }> {
  return new Promise((resolve, reject) => {
    yauzl.open(path, { lazyEntries: true, autoClose: true, strictFileNames: false }, (err, zip) => {
      if (err) return reject(err);
      const names: string[] = [];
      const meta: { mimetype?: string; manifest?: string } = {};
      zip.on("error", reject);
      zip.on("end", () => resolve({ names, ...meta }));
      zip.on("entry", (entry: yauzl.Entry) => {
        names.push(entry.fileName);
        const key = entry.fileName === "mimetype" ? "mimetype" : entry.fileName === "META-INF/manifest.xml" ? "manifest" : undefined;
        if (!key || entry.uncompressedSize > MAX_META_BYTES || names.length >= MAX_ZIP_ENTRIES) {
          if (names.length >= MAX_ZIP_ENTRIES) {
            zip.close();
            return resolve({ names, ...meta });
          }
          return zip.readEntry();
        }
        zip.openReadStream(entry, (streamErr, stream) => {
          if (streamErr) return reject(streamErr);
          const chunks: Buffer[] = [];
          stream.on("data", (chunk: Buffer) => chunks.push(chunk));
          stream.on("error", reject);
          stream.on("end", () => {
            meta[key] = Buffer.concat(chunks).toString("utf8");
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}

/** The encoding of a text head, or null when it holds bytes no text has (NUL outside UTF-16). */
function textEncoding(head: Buffer, truncated: boolean): TextEncoding | null {
  if ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff)) return "utf16";
  if (head.includes(0)) return null;
  try {
    // stream: a multi-byte character cut at the end of a truncated head is not an error.
    new TextDecoder("utf-8", { fatal: true }).decode(head, { stream: truncated });
    return "utf8";
  } catch {
    // Control bytes other than whitespace make it binary, whatever the encoding.
    return /[\x01-\x08\x0e-\x1a\x1c-\x1f]/.test(head.toString("latin1")) ? null : "latin1";
  }
}

function label(format: string): string {
  return findFormat(format)?.name ?? format.toUpperCase();
}

function mismatch(declared: string, detected: string | null): AppError {
  const what = detected === null ? "unrecognised binary data"
    : detected === "zip" ? "a zip archive that is not an office document"
    : detected === "ole" ? "an Office 97-2003 file that is not a document LibreOffice converts"
    : `a ${label(detected)} file`;
  return new AppError("corrupt_file", `the file is not a valid ${label(declared)} file: its contents are ${what}`, { detail: `declared ${declared}, detected ${detected ?? "nothing"}` });
}
