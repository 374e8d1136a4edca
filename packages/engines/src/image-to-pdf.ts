/**
 * image -> pdf: one page holding the image, laid out as merge lays out its images (default: the
 * page is the image's size at 72 dpi, 1 px = 1 pt). Runs inside a PDF pool child.
 */
import { writeFile } from "node:fs/promises";
import { PDFDocument } from "pdf-lib";
import { AppError, isAppError, normalizeFormat, type MergeOptions } from "@transmute/core";
import type { ImageLimits } from "./convert-image.js";
import { appendImage, prepareImage } from "./merge-pdf.js";

/** One image to PDF, as sent to a pool child. */
export interface ImageToPdfRequest {
  kind: "image";
  inputPath: string;
  inputFormat: string;
  outputPath: string;
  /** Page layout, already validated (merge's pdf_* options). */
  layout: MergeOptions;
  limits: ImageLimits;
}

/** What an image to PDF wrote. */
export interface ImageToPdfResult {
  size: number;
  /** The page, in points. */
  width: number;
  height: number;
}

/** Writes the one-page PDF; fails with corrupt_file, image_too_large or processing_failed. */
export async function imageToPdf(request: ImageToPdfRequest): Promise<ImageToPdfResult> {
  const doc = await PDFDocument.create();
  try {
    await appendImage(doc, await prepareImage(request.inputPath, normalizeFormat(request.inputFormat), request.limits), request.layout);
    const bytes = await doc.save({ useObjectStreams: true });
    await writeFile(request.outputPath, bytes);
    const { width, height } = doc.getPage(0).getSize();
    return { size: bytes.length, width, height };
  } catch (err) {
    if (isAppError(err)) throw err;
    throw new AppError("processing_failed", "converting the image to PDF failed", { detail: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
}
