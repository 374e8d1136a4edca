/**
 * The PDF engine: pdf-lib behind the Engine interface, merging images and PDFs into one PDF in
 * a pool child. It converts nothing (convert says so with unsupported_conversion).
 */
import { createRequire } from "node:module";
import { AppError, normalizeFormat, parseMergeOptions } from "@transmute/core";
import type { ConvertContext, Engine, EngineProbe, MergeRequest, MergeResult } from "./engine.js";
import type { MergePdfRequest, MergePdfResult } from "./merge-pdf.js";
import { createProcessPool } from "./process-pool.js";

/** Settings of the PDF engine. */
export interface PdfEngineOptions {
  /** Merges running at once, one child process each (default 2). */
  poolSize?: number;
  /** Wall-clock limit of one merge (default 120 s). */
  timeoutMs?: number;
  /** Largest image input, in pixels (default 100 000 000). */
  maxPixels?: number;
}

/** The PDF engine: an Engine whose merge is always available where it is. */
export interface PdfEngine extends Engine {
  merge(request: MergeRequest, context?: ConvertContext): Promise<MergeResult>;
}

/**
 * Reports pdf-lib's version and the merges it does here: PDFs, and every image format sharp
 * reads (images are embedded, re-encoded by sharp when pdf-lib cannot take them as they are).
 */
export async function probePdfEngine(): Promise<EngineProbe> {
  try {
    await import("pdf-lib");
    const version = (createRequire(import.meta.url)("pdf-lib/package.json") as { version: string }).version;
    const { listImageFormats } = await import("./convert-image.js");
    const inputs = ["pdf", ...listImageFormats().inputs];
    return {
      version: `pdf-lib ${version}`,
      conversions: inputs.map((from) => ({ from, to: "pdf", operation: "merge" as const })),
      available: true,
    };
  } catch (err) {
    return { version: "unknown", conversions: [], available: false, missing: `pdf-lib or sharp could not be loaded (reinstall the npm packages): ${String(err)}` };
  }
}

/** Creates the pdf-lib engine; its child processes start on the first merge. */
export function createPdfEngine(options: PdfEngineOptions = {}): PdfEngine {
  const maxPixels = options.maxPixels ?? 100_000_000;
  const pool = createProcessPool<MergePdfRequest, MergePdfResult>({
    size: options.poolSize ?? 2,
    modulePath: new URL("./pdf-child.js", import.meta.url),
    timeoutMs: options.timeoutMs ?? 120_000,
  });
  return {
    name: "pdf-lib",
    engineClass: "pdf",
    probe: probePdfEngine,
    convert: (request) => Promise.reject(new AppError("unsupported_conversion", `the PDF engine does not convert ${normalizeFormat(request.inputFormat)} to ${normalizeFormat(request.outputFormat)}`)),
    async merge(request, context = {}) {
      if (normalizeFormat(request.outputFormat) !== "pdf") {
        throw new AppError("unsupported_conversion", `the PDF engine merges into pdf only, not ${normalizeFormat(request.outputFormat)}`);
      }
      const { values, ignored } = parseMergeOptions(request.options, "pdf");
      const result = await pool.run(
        {
          inputs: request.inputs,
          outputPath: request.outputPath,
          options: values,
          limits: { maxPixels: Math.min(maxPixels, request.limits?.maxPixels ?? Infinity) },
        },
        context,
      );
      return { format: "pdf", size: result.size, pages: result.pages, ignoredOptions: ignored };
    },
    close: () => pool.close(),
  };
}
