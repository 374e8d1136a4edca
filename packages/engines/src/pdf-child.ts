/**
 * The handler module of PDF pool children (see pool-child.ts): one merge, split or image to PDF
 * at a time. sharp runs here too, on one thread, to read image headers and re-encode what
 * pdf-lib cannot embed.
 */
import sharp from "sharp";
import { imageToPdf, type ImageToPdfRequest, type ImageToPdfResult } from "./image-to-pdf.js";
import { mergePdf, type MergePdfRequest, type MergePdfResult } from "./merge-pdf.js";
import { splitPdf, type SplitPdfRequest, type SplitPdfResult } from "./split-pdf.js";

sharp.concurrency(1);
sharp.cache({ memory: 32, files: 0, items: 16 });

/** A request to a PDF child: a merge (no kind, as before splits existed), a split or an image to PDF. */
export type PdfChildRequest = (MergePdfRequest & { kind?: "merge" }) | SplitPdfRequest | ImageToPdfRequest;

/** What a PDF child answers, by request kind. */
export type PdfChildResult = MergePdfResult | SplitPdfResult | ImageToPdfResult;

/** Runs one request for the parent. */
export function handle(request: PdfChildRequest): Promise<PdfChildResult> {
  if (request.kind === "split") return splitPdf(request);
  if (request.kind === "image") return imageToPdf(request);
  return mergePdf(request);
}
