/**
 * merge into a PDF with pdf-lib: PDF inputs contribute all their pages, each image one page,
 * in input order. Runs inside a PDF pool child (pdf-child.ts): parsing untrusted PDFs and
 * decoding images is CPU-heavy and may blow up, and must only cost that child.
 */
import { readFile, rm, writeFile } from "node:fs/promises";
import { PDFDocument } from "pdf-lib";
import sharp from "sharp";
import { AppError, isAppError, normalizeFormat, placeImage, type MergeOptions } from "@transmute/core";
import { checkPixels, toAppError, type ImageLimits } from "./convert-image.js";

/** One PDF merge, as sent to a pool child. */
export interface MergePdfRequest {
  inputs: Array<{ path: string; format: string; name: string }>;
  outputPath: string;
  /** Options already validated by parseMergeOptions for pdf. */
  options: MergeOptions;
  limits: ImageLimits;
}

/** What a PDF merge wrote. */
export interface MergePdfResult {
  size: number;
  pages: number;
}

/** Image bytes pdf-lib can embed as they are, with their size in pixels after orientation. */
export interface Embeddable {
  kind: "jpg" | "png";
  bytes: Uint8Array;
  width: number;
  height: number;
}

/**
 * Builds the merged PDF. Fails with unsupported_format (an encrypted PDF, an input that is
 * neither image nor PDF), corrupt_file (an input that cannot be read), image_too_large, or
 * processing_failed; leaves no output behind on failure.
 */
export async function mergePdf(request: MergePdfRequest): Promise<MergePdfResult> {
  const out = await PDFDocument.create();
  try {
    for (const [index, input] of request.inputs.entries()) {
      const format = normalizeFormat(input.format);
      if (format === "pdf") await appendPdf(out, input, index);
      else await appendImage(out, await prepareImage(input.path, format, request.limits), request.options);
    }
    if (out.getPageCount() === 0) throw new AppError("corrupt_file", "the inputs have no pages to merge");
    const bytes = await out.save({ useObjectStreams: true });
    await writeFile(request.outputPath, bytes);
    return { size: bytes.length, pages: out.getPageCount() };
  } catch (err) {
    await rm(request.outputPath, { force: true });
    if (isAppError(err)) throw err;
    throw new AppError("processing_failed", "merging into a PDF failed", { detail: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
}

/**
 * Appends every page of one PDF. All pages are copied in ONE copyPages call: pdf-lib copies the
 * objects a page references each time it is called, so page-by-page copies would duplicate
 * fonts and images shared between pages.
 */
async function appendPdf(out: PDFDocument, input: { path: string; name: string }, index: number): Promise<void> {
  let source: PDFDocument;
  let indices: number[];
  try {
    // Encryption is checked below, on the loaded document: pdf-lib's own error class does not
    // survive its ES5 build (instanceof fails), and its message is no contract.
    source = await PDFDocument.load(await readFile(input.path), { updateMetadata: false, ignoreEncryption: true });
    // pdf-lib loads almost anything: a missing catalog or page tree shows only here.
    indices = source.getPageIndices();
  } catch (err) {
    throw new AppError("corrupt_file", `input ${index + 1} ("${input.name}") is damaged or is not a PDF`, { detail: String(err) });
  }
  if (source.isEncrypted) {
    throw new AppError("unsupported_format", `input ${index + 1} ("${input.name}") is an encrypted PDF; merge takes unencrypted PDFs`);
  }
  const pages = await out.copyPages(source, indices).catch((err: unknown) => {
    throw new AppError("corrupt_file", `input ${index + 1} ("${input.name}") is damaged: its pages cannot be read`, { detail: String(err) });
  });
  for (const page of pages) out.addPage(page);
}

/** Adds one page holding the image, laid out by the merge options (default: the image's own size, 1 px = 1 pt). */
export async function appendImage(out: PDFDocument, image: Embeddable, options: MergeOptions): Promise<void> {
  const embedded = image.kind === "jpg" ? await out.embedJpg(image.bytes) : await out.embedPng(image.bytes);
  const place = placeImage(image, options);
  const page = out.addPage([place.pageWidth, place.pageHeight]);
  page.drawImage(embedded, { x: place.x, y: place.y, width: place.width, height: place.height });
}

/**
 * Gets an image into a form pdf-lib embeds. A plain RGB or gray JPEG goes in as it is (no
 * re-encoding: no loss, no CPU); anything else is re-encoded by sharp with its orientation
 * applied: to PNG when it has transparency or came from a lossless format, else to JPEG.
 */
export async function prepareImage(path: string, format: string, limits: ImageLimits): Promise<Embeddable> {
  try {
    const source = format === "svg" ? await readFile(path) : path;
    const meta = await sharp(source, { limitInputPixels: false }).metadata();
    const width = meta.autoOrient?.width ?? meta.width;
    const height = meta.autoOrient?.height ?? meta.height;
    if (!width || !height) throw new AppError("corrupt_file", `the ${format} file has no readable dimensions`);
    checkPixels(width, height, 1, limits.maxPixels, "image");
    const upright = (meta.orientation ?? 1) === 1;
    if (format === "jpg" && upright && (meta.space === "srgb" || meta.space === "b-w")) {
      return { kind: "jpg", bytes: await readFile(path), width, height };
    }
    if (format === "png" && upright && meta.depth === "uchar") return { kind: "png", bytes: await readFile(path), width, height };
    const image = sharp(source, { limitInputPixels: limits.maxPixels, failOn: "error", autoOrient: true, pages: 1 });
    const lossless = meta.hasAlpha || format === "png" || format === "gif" || format === "tiff" || format === "svg";
    const bytes = lossless
      ? await image.toColourspace("srgb").png({ compressionLevel: 6 }).toBuffer()
      : await image.toColourspace("srgb").jpeg({ quality: 92 }).toBuffer();
    return { kind: lossless ? "png" : "jpg", bytes, width, height };
  } catch (err) {
    throw toAppError(err, format, limits.maxPixels);
  }
}
