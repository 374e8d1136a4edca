/**
 * The handler module of PDF pool children (see pool-child.ts): one merge at a time. sharp runs
 * here too, on one thread, to read image headers and re-encode what pdf-lib cannot embed.
 */
import sharp from "sharp";
import { mergePdf, type MergePdfRequest, type MergePdfResult } from "./merge-pdf.js";

sharp.concurrency(1);
sharp.cache({ memory: 32, files: 0, items: 16 });

/** Runs one merge for the parent. */
export function handle(request: MergePdfRequest): Promise<MergePdfResult> {
  return mergePdf(request);
}
