/**
 * A PDF writer that holds one page at a time: each page (one JPEG drawn over the whole page) is
 * appended to the file as it comes, and only the byte offsets of its objects are kept. The page
 * tree, catalog, xref table and trailer are written at the end. The output holds nothing but
 * what is written here: no object of any input document can reach it.
 *
 * Object numbers: 1 is the catalog and 2 the page tree (both written last, their numbers known
 * from the start so pages can point at their parent); pages take three objects each from 3 on.
 */
import { open, type FileHandle } from "node:fs/promises";

/** What a JPEG's frame header says: the image's size in pixels and its colour components. */
export interface JpegFrame {
  width: number;
  height: number;
  /** 1 gray, 3 YCbCr/RGB (4, CMYK, is refused: its inversion depends on an Adobe marker). */
  components: number;
}

/** A PDF being written page by page. */
export interface PdfStreamWriter {
  /** Appends a page of `widthPt` x `heightPt` points showing `jpeg` stretched over all of it. */
  addJpegPage(jpeg: Buffer, widthPt: number, heightPt: number): Promise<void>;
  /** Pages written so far. */
  readonly pages: number;
  /** Writes the page tree, catalog, xref and trailer and closes the file; resolves with its size. */
  finish(): Promise<number>;
  /** Closes the file without finishing it (the caller removes it). */
  abort(): Promise<void>;
}

/** Reads the frame header (SOFn) of a baseline or progressive JPEG; throws when there is none. */
export function readJpegFrame(jpeg: Buffer): JpegFrame {
  if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) throw new Error("not a JPEG");
  let at = 2;
  while (at + 4 <= jpeg.length) {
    if (jpeg[at] !== 0xff) throw new Error(`JPEG marker expected at ${at}`);
    const marker = jpeg[at + 1]!;
    // Fill bytes and standalone markers carry no length.
    if (marker === 0xff) { at += 1; continue; }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { at += 2; continue; }
    const length = jpeg.readUInt16BE(at + 2);
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (at + 10 > jpeg.length) break;
      return { height: jpeg.readUInt16BE(at + 5), width: jpeg.readUInt16BE(at + 7), components: jpeg[at + 9]! };
    }
    if (marker === 0xda) break;
    at += 2 + length;
  }
  throw new Error("JPEG without a frame header");
}

const num = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(4).replace(/0+$/, ""));

/** Opens `path` for writing (truncating it) and writes the PDF header. */
export async function createPdfStreamWriter(path: string): Promise<PdfStreamWriter> {
  const file: FileHandle = await open(path, "w");
  const offsets: number[] = [];
  const pageIds: number[] = [];
  let position = 0;
  let nextId = 3;
  let closed = false;

  const write = async (data: string | Buffer) => {
    const bytes = typeof data === "string" ? Buffer.from(data, "latin1") : data;
    await file.write(bytes, 0, bytes.length, position);
    position += bytes.length;
  };
  const begin = async (id: number) => {
    offsets[id] = position;
    await write(`${id} 0 obj\n`);
  };

  // The binary comment tells transfer tools the file is not text.
  await write("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n");

  return {
    get pages() {
      return pageIds.length;
    },
    async addJpegPage(jpeg, widthPt, heightPt) {
      const frame = readJpegFrame(jpeg);
      if (frame.components !== 1 && frame.components !== 3) throw new Error(`a JPEG of ${frame.components} components is not written`);
      if (!(widthPt > 0 && heightPt > 0)) throw new Error(`page size ${widthPt} x ${heightPt} pt`);
      const [imageId, contentId, pageId] = [nextId, nextId + 1, nextId + 2];
      nextId += 3;
      await begin(imageId);
      const colorSpace = frame.components === 1 ? "/DeviceGray" : "/DeviceRGB";
      await write(`<< /Type /XObject /Subtype /Image /Width ${frame.width} /Height ${frame.height} /ColorSpace ${colorSpace} /BitsPerComponent 8 /Filter /DCTDecode /Length ${jpeg.length} >>\nstream\n`);
      await write(jpeg);
      await write("\nendstream\nendobj\n");
      const content = `q ${num(widthPt)} 0 0 ${num(heightPt)} 0 0 cm /Im0 Do Q\n`;
      await begin(contentId);
      await write(`<< /Length ${content.length} >>\nstream\n${content}endstream\nendobj\n`);
      await begin(pageId);
      await write(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${num(widthPt)} ${num(heightPt)}] /Resources << /XObject << /Im0 ${imageId} 0 R >> >> /Contents ${contentId} 0 R >>\nendobj\n`);
      pageIds.push(pageId);
    },
    async finish() {
      if (pageIds.length === 0) throw new Error("a PDF needs at least one page");
      await begin(2);
      // Kids are written in slices: one string of 100 000 references would be a few MB at once.
      await write(`<< /Type /Pages /Count ${pageIds.length} /Kids [`);
      for (let i = 0; i < pageIds.length; i += 1000) {
        await write(`${pageIds.slice(i, i + 1000).map((id) => `${id} 0 R`).join(" ")}\n`);
      }
      await write("] >>\nendobj\n");
      await begin(1);
      await write("<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
      const xrefAt = position;
      await write(`xref\n0 ${nextId}\n0000000000 65535 f \n`);
      for (let id = 1; id < nextId; id += 1000) {
        let chunk = "";
        for (let j = id; j < Math.min(id + 1000, nextId); j++) chunk += `${String(offsets[j]).padStart(10, "0")} 00000 n \n`;
        await write(chunk);
      }
      await write(`trailer\n<< /Size ${nextId} /Root 1 0 R >>\nstartxref\n${xrefAt}\n%%EOF\n`);
      closed = true;
      await file.close();
      return position;
    },
    async abort() {
      if (closed) return;
      closed = true;
      await file.close().catch(() => undefined);
    },
  };
}
