/**
 * Fixtures of the compress and merge suites: photo-like JPEGs (smooth multi-scale structure,
 * correlated colour, sensor grain: what a camera makes, not flat colour that any codec crushes),
 * a PDF of such photos built with pdf-lib, and readers of a PDF's pages and images.
 */
import { inflateSync } from "node:zlib";
import { PDFDict, PDFDocument, PDFName, PDFNumber, PDFRawStream, PDFRef, type PDFObject } from "pdf-lib";
import sharp from "sharp";

/** A deterministic PRNG (mulberry32), so fixtures are the same bytes on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Value noise: random values on a grid of `cell` pixels, smoothly interpolated by sharp. */
async function noiseField(width: number, height: number, cell: number, channels: 1 | 3, rand: () => number): Promise<Buffer> {
  const gw = Math.max(2, Math.ceil(width / cell) + 1);
  const gh = Math.max(2, Math.ceil(height / cell) + 1);
  const grid = Buffer.alloc(gw * gh * channels);
  for (let i = 0; i < grid.length; i++) grid[i] = Math.floor(rand() * 256);
  return sharp(grid, { raw: { width: gw, height: gh, channels } }).resize(width, height, { kernel: "cubic", fit: "fill" }).raw().toBuffer();
}

/** A photo-like JPEG (quality 90, about 2 bits a pixel like a camera's): sky-to-ground gradient, four octaves of detail, grain. */
export async function makePhoto(width: number, height: number, seed = 1): Promise<Buffer> {
  const rand = random(seed);
  const octaves: Array<[Buffer, number]> = [];
  for (const [cell, weight] of [[width / 6, 0.45], [width / 24, 0.3], [width / 90, 0.15], [6, 0.1]] as const) {
    octaves.push([await noiseField(width, height, cell, 1, rand), weight]);
  }
  const chroma = await noiseField(width, height, width / 4, 3, rand);
  const sky = [90 + rand() * 60, 130 + rand() * 50, 180 + rand() * 50];
  const ground = [70 + rand() * 60, 90 + rand() * 50, 40 + rand() * 40];
  const out = Buffer.alloc(width * height * 3);
  for (let y = 0, p = 0; y < height; y++) {
    const t = y / height;
    for (let x = 0; x < width; x++, p++) {
      let detail = 0;
      for (const [field, weight] of octaves) detail += field[p]! * weight;
      for (let c = 0; c < 3; c++) {
        const v = sky[c]! * (1 - t) + ground[c]! * t + (detail - 128) * 1.1 + (chroma[p * 3 + c]! - 128) * 0.5 + (rand() - 0.5) * 14;
        out[p * 3 + c] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  }
  return sharp(out, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

/** A PDF of A4 pages, one photo on each (as a scanner or a report would make), with a line of text. */
export async function makePhotoPdf(photos: Buffer[]): Promise<Buffer> {
  const doc = await PDFDocument.create();
  for (const [i, photo] of photos.entries()) {
    const image = await doc.embedJpg(photo);
    const page = doc.addPage([595.28, 841.89]);
    const width = 540;
    const height = (image.height / image.width) * width;
    page.drawImage(image, { x: 27.64, y: 760 - height, width, height });
    page.drawText(`Photo ${i + 1} of ${photos.length}`, { x: 40, y: 790, size: 20 });
  }
  return Buffer.from(await doc.save());
}

/** One image XObject of a page, as stored. */
export interface PdfImage {
  width: number;
  height: number;
  /** The colour space's name (DeviceRGB, DeviceGray, ICCBased...); for ICCBased, with its component count. */
  colorSpace: string;
  filter: string | null;
  /** The stream's bytes as stored (a JPEG's own bytes for DCTDecode). */
  data: Buffer;
}

/** Every page's size in points (its media box) and its images, in page order. */
export async function readPdf(bytes: Buffer): Promise<Array<{ width: number; height: number; images: PdfImage[] }>> {
  const doc = await PDFDocument.load(bytes, { updateMetadata: false });
  return doc.getPages().map((page) => {
    const { width, height } = page.getSize();
    const images: PdfImage[] = [];
    const xobjects = page.node.Resources()?.lookupMaybe(PDFName.of("XObject"), PDFDict);
    for (const [, ref] of xobjects?.entries() ?? []) collectImages(doc, ref, images, 0);
    return { width: round2(width), height: round2(height), images };
  });
}

/** Images of an XObject, following forms (Ghostscript may wrap images in them). */
function collectImages(doc: PDFDocument, ref: PDFObject, images: PdfImage[], depth: number): void {
  const stream = ref instanceof PDFRef ? doc.context.lookup(ref) : ref;
  if (!(stream instanceof PDFRawStream) || depth > 4) return;
  const dict = stream.dict;
  const subtype = dict.get(PDFName.of("Subtype"));
  if (subtype === PDFName.of("Form")) {
    const nested = dict.lookupMaybe(PDFName.of("Resources"), PDFDict)?.lookupMaybe(PDFName.of("XObject"), PDFDict);
    for (const [, inner] of nested?.entries() ?? []) collectImages(doc, inner, images, depth + 1);
    return;
  }
  if (subtype !== PDFName.of("Image")) return;
  const number = (key: string) => (dict.lookup(PDFName.of(key)) as PDFNumber).asNumber();
  const filter = dict.lookup(PDFName.of("Filter"));
  images.push({
    width: number("Width"),
    height: number("Height"),
    colorSpace: describeColorSpace(doc, dict.lookup(PDFName.of("ColorSpace"))),
    filter: filter instanceof PDFName ? filter.decodeText() : filter ? String(filter) : null,
    data: Buffer.from(stream.contents),
  });
}

function describeColorSpace(doc: PDFDocument, space: PDFObject | undefined): string {
  if (space instanceof PDFName) return space.decodeText();
  const text = String(space);
  // [/ICCBased <ref>]: the profile's /N says how many components (1 is gray).
  const match = /ICCBased\s+(\d+)\s+(\d+)\s+R/.exec(text);
  if (match) {
    const profile = doc.context.lookup(PDFRef.of(Number(match[1]), Number(match[2])));
    const n = profile instanceof PDFRawStream ? (profile.dict.lookup(PDFName.of("N")) as PDFNumber).asNumber() : 0;
    return `ICCBased/${n}`;
  }
  return text;
}

/** Whether an image's colour space has one component. */
export function isGray(image: PdfImage): boolean {
  return image.colorSpace === "DeviceGray" || image.colorSpace === "CalGray" || image.colorSpace === "ICCBased/1";
}

/** The RGB of the middle pixel of an 8-bit DeviceRGB FlateDecode image (what pdf-lib writes for PNGs). */
export function middlePixel(image: PdfImage): [number, number, number] {
  const raw = image.filter === "FlateDecode" ? inflateSync(image.data) : image.data;
  const at = (Math.floor(image.height / 2) * image.width + Math.floor(image.width / 2)) * 3;
  return [raw[at]!, raw[at + 1]!, raw[at + 2]!];
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
