/**
 * pdf -> pdf: splits a PDF with pdf-lib, one output per page group. Runs inside a PDF pool child
 * (pdf-child.ts). Outputs go to a staging directory the engine owns: it publishes them on
 * success and removes the directory whatever happens, even when this child is killed mid-write.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PDFDocument } from "pdf-lib";
import { AppError, resolvePageGroups, type PageSpan } from "@transmute/core";

/** One split, as sent to a pool child. */
export interface SplitPdfRequest {
  kind: "split";
  inputPath: string;
  /** Where part-<n>.pdf files are written. */
  outDir: string;
  /** The groups (option page_ranges); absent: one output per page. */
  spans?: PageSpan[];
  /** Most pages the input may have (limit_exceeded past it); absent: no limit. */
  maxPages?: number;
}

/** What a split wrote, in group order. */
export interface SplitPdfResult {
  /** Pages of the input. */
  pages: number;
  outputs: Array<{ path: string; first: number; last: number }>;
}

/** Splits the PDF; fails with corrupt_file, password_protected (encrypted), limit_exceeded or invalid_option (a group past the end). */
export async function splitPdf(request: SplitPdfRequest): Promise<SplitPdfResult> {
  let source: PDFDocument;
  let count: number;
  try {
    // ignoreEncryption: encryption is reported below as password_protected, not as a parse error.
    source = await PDFDocument.load(await readFile(request.inputPath), { updateMetadata: false, ignoreEncryption: true });
    count = source.getPageCount();
  } catch (err) {
    throw new AppError("corrupt_file", "the file is damaged or is not a PDF", { detail: String(err) });
  }
  if (source.isEncrypted) throw new AppError("password_protected", "the PDF is password-protected; give its password in the `password` option");
  if (count < 1) throw new AppError("corrupt_file", "the PDF has no pages");
  if (request.maxPages !== undefined && count > request.maxPages) throw new AppError("limit_exceeded", `the PDF has ${count} pages; the limit is ${request.maxPages}`);
  const groups = request.spans
    ? resolvePageGroups(request.spans, count, "page_ranges")
    : Array.from({ length: count }, (_, i) => ({ first: i + 1, last: i + 1 }));
  const outputs: SplitPdfResult["outputs"] = [];
  for (const [index, group] of groups.entries()) {
    const part = await PDFDocument.create();
    const indices = Array.from({ length: group.last - group.first + 1 }, (_, i) => group.first - 1 + i);
    // One copyPages call per output: shared fonts and images are copied once into it.
    const pages = await part.copyPages(source, indices).catch((err: unknown) => {
      throw new AppError("corrupt_file", `the PDF is damaged: pages ${group.first} to ${group.last} cannot be read`, { detail: String(err) });
    });
    for (const page of pages) part.addPage(page);
    const path = join(request.outDir, `part-${index + 1}.pdf`);
    await writeFile(path, await part.save({ useObjectStreams: true }));
    outputs.push({ path, ...group });
  }
  return { pages: count, outputs };
}
