import { crc32, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import {
  FORMATS,
  findFormat,
  guessFormatFromName,
  identifyFormat,
  identifyZipContainer,
  normalizeFormat,
  sameFormatFamily,
} from "../src/formats.js";

const enc = (s: string) => new TextEncoder().encode(s);
const latin1 = (s: string) => Uint8Array.from([...s].map((c) => c.charCodeAt(0)));
const cat = (...parts: Array<Uint8Array | number[] | string>) =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === "string" ? [...latin1(p)] : [...p])));
const u16 = (n: number) => [n & 0xff, (n >> 8) & 0xff];
const u32 = (n: number) => [...u16(n & 0xffff), ...u16(n >>> 16)];
const be32 = (n: number) => [(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
const utf16le = (s: string) => [...s].flatMap((c) => [c.charCodeAt(0), 0]);
const zeros = (n: number) => new Array<number>(n).fill(0);

/** A real zip archive with stored (uncompressed) entries, written the way zip tools write it. */
function makeZip(entries: Array<[name: string, content: string]>): Uint8Array {
  const locals: number[] = [];
  const central: number[] = [];
  for (const [name, content] of entries) {
    const data = enc(content);
    const nameBytes = enc(name);
    const common = [...u16(20), ...u16(0), ...u16(0), ...u16(0), ...u16(0x21), ...u32(crc32(data)), ...u32(data.length), ...u32(data.length), ...u16(nameBytes.length), ...u16(0)];
    central.push(...u32(0x02014b50), ...u16(20), ...common, ...u16(0), ...u16(0), ...u16(0), ...u32(0), ...u32(locals.length), ...nameBytes);
    locals.push(...u32(0x04034b50), ...common, ...nameBytes, ...data);
  }
  const eocd = [...u32(0x06054b50), ...u16(0), ...u16(0), ...u16(entries.length), ...u16(entries.length), ...u32(central.length), ...u32(locals.length), ...u16(0)];
  return Uint8Array.from([...locals, ...central, ...eocd]);
}

function isoHead(major: string, ...compatible: string[]): Uint8Array {
  const size = 16 + 4 * compatible.length;
  return cat(be32(size), "ftyp", major, [0, 0, 0, 0], compatible.join(""), be32(8), "free");
}

function ebmlHead(docType: string): Uint8Array {
  return cat([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81, 0x01, 0x42, 0xf7, 0x81, 0x01, 0x42, 0x82, 0x80 | docType.length], docType, [0x42, 0x87, 0x81, 0x04]);
}

function oggHead(packet: string): Uint8Array {
  return cat("OggS", [0, 2], zeros(20), [1, packet.length], packet);
}

function tarHead(): Uint8Array {
  const header = new Uint8Array(512);
  header.set(enc("hello.txt"), 0);
  header.set(enc("0000644\0"), 100);
  header.set(enc("ustar\x0000"), 257);
  return header;
}

function oleHead(streamName?: string): Uint8Array {
  const header = cat([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1], zeros(504));
  const directory = streamName === undefined ? zeros(512) : [...utf16le("Root Entry"), ...zeros(108), ...utf16le(streamName), ...zeros(128 - 2 * streamName.length)];
  return cat(header, zeros(512), directory);
}

describe("normalizeFormat", () => {
  it.each([
    ["jpg", "jpg"], ["JPEG", "jpg"], [".jpe", "jpg"], ["jfif", "jpg"], ["TIF", "tiff"], [".tiff", "tiff"],
    ["htm", "html"], ["heif", "heic"], ["tar.gz", "tgz"], [".GZIP", "gz"], [" Png ", "png"], ["qt", "mov"],
    ["PSD", "psd"], [".Xyz", "xyz"],
  ])("%s -> %s", (input, expected) => {
    expect(normalizeFormat(input)).toBe(expected);
  });

  it("finds catalog entries by alias and leaves unknown formats alone", () => {
    expect(findFormat(".JPEG")?.contentType).toBe("image/jpeg");
    expect(findFormat("tif")?.ext).toBe("tiff");
    expect(findFormat("psd")).toBeUndefined();
  });
});

describe("the catalog", () => {
  it("gives every name (extension or alias) to exactly one format", () => {
    const names = FORMATS.flatMap((f) => [f.ext, ...f.aliases]);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^[a-z0-9.]+$/);
  });

  it("only refers to formats it holds", () => {
    for (const f of FORMATS) {
      for (const other of [...(f.identifiedAs ?? []), ...(f.container ? [f.container] : [])]) {
        expect(findFormat(other), `${f.ext} -> ${other}`).toBeDefined();
      }
    }
  });

  it.each([
    ["jpg", "image"], ["png", "image"], ["webp", "image"], ["avif", "image"], ["heic", "image"], ["gif", "image"],
    ["tiff", "image"], ["bmp", "image"], ["ico", "image"], ["svg", "vector"], ["pdf", "document"], ["docx", "document"],
    ["xlsx", "document"], ["pptx", "document"], ["odt", "document"], ["ods", "document"], ["odp", "document"],
    ["doc", "document"], ["xls", "document"], ["ppt", "document"], ["rtf", "document"], ["txt", "document"],
    ["csv", "document"], ["html", "document"], ["md", "document"], ["epub", "ebook"], ["zip", "archive"],
    ["tar", "archive"], ["gz", "archive"], ["7z", "archive"], ["mp3", "audio"], ["wav", "audio"], ["ogg", "audio"],
    ["flac", "audio"], ["aac", "audio"], ["m4a", "audio"], ["opus", "audio"], ["mp4", "video"], ["webm", "video"],
    ["mov", "video"], ["mkv", "video"], ["avi", "video"],
  ])("holds %s in family %s", (ext, family) => {
    const f = findFormat(ext);
    expect(f?.family).toBe(family);
    expect(f?.contentType).toMatch(/^[a-z]+\/[\w.+-]+$/);
  });
});

describe("guessFormatFromName", () => {
  it.each([
    ["photo.JPG", "jpg"], ["scan.tif", "tiff"], ["backup.tar.gz", "tgz"], ["dir/sub/report.final.docx", "docx"],
    ["C:\\x\\a.PDF", "pdf"], ["notes", null], [".bashrc", null], ["weird.", null], ["file.psd", "psd"],
  ])("%s -> %s", (name, expected) => {
    expect(guessFormatFromName(name)).toBe(expected);
  });
});

describe("identifyFormat", () => {
  const cases: Array<[string, Uint8Array, string | null]> = [
    ["JPEG", cat([0xff, 0xd8, 0xff, 0xe0, 0, 0x10], "JFIF\0"), "jpg"],
    ["PNG", cat([0x89], "PNG\r\n\x1a\n", be32(13), "IHDR"), "png"],
    ["GIF87a", cat("GIF87a", [1, 0, 1, 0]), "gif"],
    ["GIF89a", cat("GIF89a", [1, 0, 1, 0]), "gif"],
    ["WEBP", cat("RIFF", u32(100), "WEBPVP8 "), "webp"],
    ["WAV", cat("RIFF", u32(100), "WAVEfmt "), "wav"],
    ["AVI", cat("RIFF", u32(100), "AVI LIST"), "avi"],
    ["unknown RIFF", cat("RIFF", u32(100), "XXXX"), null],
    ["BMP", cat("BM", u32(70), u32(0), u32(54), u32(40), u32(1), u32(1)), "bmp"],
    ["BMP-like text", enc("BMW is a car brand and that is all"), "txt"],
    ["TIFF little-endian", cat("II*\0", u32(8)), "tiff"],
    ["TIFF big-endian", cat("MM\0*", be32(8)), "tiff"],
    ["BigTIFF", cat("II+\0", u16(8), u16(0)), "tiff"],
    ["ICO", cat([0, 0, 1, 0], u16(1), [16, 16, 0, 0], u16(1), u16(32), u32(1128), u32(22)), "ico"],
    ["PDF", enc("%PDF-1.7\n%\xe2\xe3\n1 0 obj"), "pdf"],
    ["PDF after junk", enc("garbage line\r\n%PDF-1.4\n"), "pdf"],
    ["text mentioning a PDF header", enc("this says %PDF-1.7 inside a sentence"), "txt"],
    ["plain zip", makeZip([["hello.txt", "hi"]]), "zip"],
    ["empty zip", cat(u32(0x06054b50), zeros(18)), "zip"],
    ["docx", makeZip([["[Content_Types].xml", "<Types/>"], ["_rels/.rels", "<Relationships/>"], ["word/document.xml", "<w:document/>"]]), "docx"],
    ["xlsx", makeZip([["[Content_Types].xml", "<Types/>"], ["xl/workbook.xml", "<workbook/>"]]), "xlsx"],
    ["pptx", makeZip([["[Content_Types].xml", "<Types/>"], ["ppt/presentation.xml", "<p/>"]]), "pptx"],
    ["odt", makeZip([["mimetype", "application/vnd.oasis.opendocument.text"], ["content.xml", "<x/>"]]), "odt"],
    ["ods", makeZip([["mimetype", "application/vnd.oasis.opendocument.spreadsheet"]]), "ods"],
    ["odp", makeZip([["mimetype", "application/vnd.oasis.opendocument.presentation"]]), "odp"],
    ["epub", makeZip([["mimetype", "application/epub+zip"], ["META-INF/container.xml", "<container/>"]]), "epub"],
    ["7z", cat([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0, 4]), "7z"],
    ["gzip", gzipSync(enc("hello")), "gz"],
    ["tar", tarHead(), "tar"],
    ["rar4", cat("Rar!\x1a\x07\x00"), "rar"],
    ["rar5", cat("Rar!\x1a\x07\x01\x00"), "rar"],
    ["bzip2", cat("BZh91AY&SY"), "bz2"],
    ["xz", cat([0xfd], "7zXZ\0", [0, 4]), "xz"],
    ["OLE, streams out of reach", oleHead(), "ole"],
    ["OLE with a WordDocument stream", oleHead("WordDocument"), "doc"],
    ["OLE with a Workbook stream", oleHead("Workbook"), "xls"],
    ["OLE with a PowerPoint stream", oleHead("PowerPoint Document"), "ppt"],
    ["RTF", enc("{\\rtf1\\ansi hello}"), "rtf"],
    ["AVIF", isoHead("avif", "mif1", "miaf"), "avif"],
    ["AVIF under mif1", isoHead("mif1", "mif1", "avif"), "avif"],
    ["HEIC", isoHead("heic", "mif1", "heic"), "heic"],
    ["HEIF under mif1", isoHead("mif1", "mif1", "heic"), "heic"],
    ["MP4", isoHead("isom", "isom", "iso2", "mp41"), "mp4"],
    ["MP4 with an odd major brand", isoHead("XYZW", "isom"), "mp4"],
    ["MOV", isoHead("qt  ", "qt  "), "mov"],
    ["M4A", isoHead("M4A ", "M4A ", "mp42"), "m4a"],
    ["old QuickTime", cat(be32(100), "moov"), "mov"],
    ["unknown ISO brand", isoHead("crx ", "crx "), null],
    ["Ogg Vorbis", oggHead("\x01vorbis"), "ogg"],
    ["Ogg Opus", oggHead("OpusHead"), "opus"],
    ["FLAC", cat("fLaC", [0, 0, 0, 34]), "flac"],
    ["MP3 with ID3", cat("ID3", [4, 0, 0, 0, 0, 0, 10], zeros(10), [0xff, 0xfb, 0x90, 0x64]), "mp3"],
    ["MP3 with a tag larger than the head", cat("ID3", [3, 0, 0, 0, 0x7f, 0x7f, 0x7f]), "mp3"],
    ["FLAC behind ID3", cat("ID3", [4, 0, 0, 0, 0, 0, 4], zeros(4), "fLaC"), "flac"],
    ["MP3 frame", cat([0xff, 0xfb, 0x90, 0x64], zeros(8)), "mp3"],
    ["AAC ADTS", cat([0xff, 0xf1, 0x50, 0x80, 0x02, 0x1f, 0xfc]), "aac"],
    ["Matroska", ebmlHead("matroska"), "mkv"],
    ["WebM", ebmlHead("webm"), "webm"],
    ["EBML, other doctype", ebmlHead("other"), null],
    ["SVG", enc('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'), "svg"],
    ["SVG, prolog", enc('\ufeff<?xml version="1.0"?>\n<!-- by hand -->\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x.dtd" [ <!ENTITY a "b"> ]>\n<svg xmlns="http://www.w3.org/2000/svg">'), "svg"],
    ["SVG, namespace prefix", enc('<svg:svg xmlns:svg="http://www.w3.org/2000/svg">'), "svg"],
    ["SVG, UTF-16", cat([0xff, 0xfe], utf16le('<?xml version="1.0" encoding="UTF-16"?><svg xmlns="http://www.w3.org/2000/svg"/>')), "svg"],
    ["SVG doctype, root past the head", enc('<!DOCTYPE svg [ <!ENTITY x "y"> ]><!-- very long'), "svg"],
    ["svg tag after text", enc("hello <svg></svg>"), "txt"],
    ["an element that starts with svg", enc("<svgx>hi</svgx>"), "xml"],
    ["HTML doctype", enc("<!DOCTYPE html>\n<html><body>hi</body></html>"), "html"],
    ["HTML root", enc("  <HTML lang=en><head>"), "html"],
    ["HTML fragment", enc("<div class='x'>hi</div>"), "html"],
    ["XML", enc('<?xml version="1.0"?><note><to>x</to></note>'), "xml"],
    ["MHTML from Chromium", enc('From: <Saved by Blink>\r\nSnapshot-Content-Location: http://x/\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/related;\r\n\ttype="text/html";\r\n\tboundary="----MultipartBoundary--a"\r\n\r\n------MultipartBoundary--a'), "mhtml"],
    ["a mail (multipart/mixed) is not MHTML", enc("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x"), "txt"],
    ["a header-like line inside text is not MHTML", enc("Notes\nMIME-Version: 1.0\nContent-Type: multipart/related\n"), "txt"],
    ["text", enc("hello, world\n"), "txt"],
    ["CSV", enc("a,b,c\n1,2,3\n"), "txt"],
    ["UTF-8 text", enc("héllo ✓ 日本語 😀\n"), "txt"],
    ["UTF-8 cut by the head", enc("hello ✓").subarray(0, 8), "txt"],
    ["whitespace only", enc(" \n\t"), "txt"],
    ["NUL byte", cat("hello\0world"), null],
    ["invalid UTF-8", cat([0x68, 0xc3, 0x28, 0x69]), null],
    ["overlong UTF-8", cat([0xc0, 0xaf]), null],
    ["UTF-8 surrogate", cat([0xed, 0xa0, 0x80]), null],
    ["random binary", Uint8Array.from([0x00, 0x13, 0x88, 0x01, 0x02, 0xfe]), null],
    ["empty", new Uint8Array(0), null],
  ];

  it.each(cases)("%s", (_label, head, expected) => {
    expect(identifyFormat(head)).toBe(expected);
  });
});

describe("identifyZipContainer", () => {
  it.each<[string[], string | undefined, string]>([
    [["[Content_Types].xml", "_rels/.rels", "word/document.xml"], undefined, "docx"],
    [["[Content_Types].xml", "xl/workbook.xml", "xl/worksheets/sheet1.xml"], undefined, "xlsx"],
    [["[Content_Types].xml", "ppt/presentation.xml"], undefined, "pptx"],
    [["word/document.xml"], undefined, "zip"],
    [["mimetype", "content.xml", "META-INF/manifest.xml"], "application/vnd.oasis.opendocument.text", "odt"],
    [["mimetype"], "application/vnd.oasis.opendocument.spreadsheet\n", "ods"],
    [["mimetype"], "application/vnd.oasis.opendocument.presentation", "odp"],
    [["mimetype", "META-INF/container.xml", "OEBPS/content.opf"], "application/epub+zip", "epub"],
    [["mimetype", "META-INF/container.xml"], undefined, "epub"],
    [["mimetype"], "application/x-unknown", "zip"],
    [["a.txt", "b/c.png"], undefined, "zip"],
    [[], undefined, "zip"],
  ])("%j (%s) -> %s", (names, mimetype, expected) => {
    expect(identifyZipContainer(names, mimetype)).toBe(expected);
  });
});

describe("sameFormatFamily (declared, detected)", () => {
  it.each<[string, string, boolean]>([
    ["jpg", "jpeg", true], ["JPEG", "jpg", true], ["tif", "tiff", true], ["heif", "heic", true], ["png", "jpg", false],
    ["zip", "docx", true], ["zip", "epub", true], ["docx", "zip", false], ["docx", "xlsx", false],
    ["doc", "ole", true], ["xls", "ole", true], ["doc", "xls", false],
    ["csv", "txt", true], ["md", "txt", true], ["txt", "html", true], ["html", "txt", true], ["svg", "txt", false],
    ["svg", "xml", false], ["xml", "svg", true],
    ["tgz", "gz", true], ["tar", "gz", false],
    ["mp4", "mov", true], ["mov", "mp4", true], ["m4a", "mp4", true], ["aac", "m4a", true], ["mp4", "webm", false],
    ["mkv", "webm", true], ["webm", "mkv", false], ["ogg", "opus", true], ["opus", "ogg", false],
    ["psd", "psd", true], ["psd", "png", false],
  ])("%s, %s -> %s", (declared, detected, expected) => {
    expect(sameFormatFamily(declared, detected)).toBe(expected);
  });
});
