/**
 * The PDF engine: pdf-lib behind the Engine interface, in pool children: merging images and PDFs
 * into one PDF, converting an image to a one-page PDF, and splitting a PDF (pdf -> pdf) by page
 * groups. Children write into a staging directory under the task's scratch; this side publishes
 * the outputs on success and removes the directory whatever happens, so a child killed on a
 * timeout or cancel leaves nothing behind.
 */
import { mkdtemp, rename, rm, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { AppError, engineClassesForConversion, normalizeFormat, parseMergeOptions, parsePdfOptions, type PdfOptions } from "@transmute/core";
import type { ConvertContext, ConvertRequest, ConvertResult, Engine, EngineProbe, MergeRequest, MergeResult, OutputFile } from "./engine.js";
import type { ImageToPdfResult } from "./image-to-pdf.js";
import type { PdfChildRequest, PdfChildResult } from "./pdf-child.js";
import { createProcessPool, type ProcessPool } from "./process-pool.js";
import { runTool, TOOL_PATH } from "./run-tool.js";
import type { SplitPdfResult } from "./split-pdf.js";

/** Settings of the PDF engine. */
export interface PdfEngineOptions {
  /** Merges running at once, one child process each (default 2). */
  poolSize?: number;
  /** Wall-clock limit of one merge (default 120 s). */
  timeoutMs?: number;
  /** Largest image input, in pixels (default 100 000 000). */
  maxPixels?: number;
  /** The qpdf executable that decrypts PDFs given with a password (default "qpdf" on a Debian PATH). */
  qpdfCommand?: string;
}

/** The PDF engine: an Engine whose merge and convert are always available where it is. */
export interface PdfEngine extends Engine {
  merge(request: MergeRequest, context?: ConvertContext): Promise<MergeResult>;
}

/**
 * Reports pdf-lib's version and what it does here: merges of PDFs and of every image format sharp
 * reads (images are embedded, re-encoded by sharp when pdf-lib cannot take them as they are),
 * the same images converted to PDF, and pdf -> pdf (split).
 */
export async function probePdfEngine(): Promise<EngineProbe> {
  try {
    await import("pdf-lib");
    const version = (createRequire(import.meta.url)("pdf-lib/package.json") as { version: string }).version;
    const { listImageFormats } = await import("./convert-image.js");
    const inputs = ["pdf", ...listImageFormats().inputs];
    return {
      version: `pdf-lib ${version}`,
      conversions: [
        ...inputs.map((from) => ({ from, to: "pdf", operation: "merge" as const })),
        ...inputs.filter((from) => engineClassesForConversion(from, "pdf").includes("pdf")).map((from) => ({ from, to: "pdf" })),
      ],
      available: true,
    };
  } catch (err) {
    return { version: "unknown", conversions: [], available: false, missing: `pdf-lib or sharp could not be loaded (reinstall the npm packages): ${String(err)}` };
  }
}

/** Creates the pdf-lib engine; its child processes start on the first merge. */
export function createPdfEngine(options: PdfEngineOptions = {}): PdfEngine {
  const maxPixels = options.maxPixels ?? 100_000_000;
  const pool = createProcessPool<PdfChildRequest, PdfChildResult>({
    size: options.poolSize ?? 2,
    modulePath: new URL("./pdf-child.js", import.meta.url),
    timeoutMs: options.timeoutMs ?? 120_000,
  });
  return {
    name: "pdf-lib",
    engineClass: "pdf",
    probe: probePdfEngine,
    convert: (request, context = {}) => convertToPdf(pool, { maxPixels, qpdf: options.qpdfCommand ?? "qpdf", timeoutMs: options.timeoutMs ?? 120_000 }, request, context),
    async merge(request, context = {}) {
      if (normalizeFormat(request.outputFormat) !== "pdf") {
        throw new AppError("unsupported_conversion", `the PDF engine merges into pdf only, not ${normalizeFormat(request.outputFormat)}`);
      }
      const { values, ignored } = parseMergeOptions(request.options, "pdf");
      const result = (await pool.run(
        {
          inputs: request.inputs,
          outputPath: request.outputPath,
          options: values,
          limits: { maxPixels: Math.min(maxPixels, request.limits?.maxPixels ?? Infinity) },
        },
        context,
      )) as MergeResult;
      return { format: "pdf", size: result.size, pages: result.pages, ignoredOptions: ignored };
    },
    close: () => pool.close(),
  };
}

interface ConvertSettings {
  maxPixels: number;
  qpdf: string;
  timeoutMs: number;
}

/** image -> pdf (one page) and pdf -> pdf (split); outputs staged, then published under their names. */
async function convertToPdf(pool: ProcessPool<PdfChildRequest, PdfChildResult>, settings: ConvertSettings, request: ConvertRequest, context: ConvertContext): Promise<ConvertResult> {
  const from = normalizeFormat(request.inputFormat);
  if (normalizeFormat(request.outputFormat) !== "pdf") {
    throw new AppError("unsupported_conversion", `the PDF engine converts into pdf only, not ${normalizeFormat(request.outputFormat)}`);
  }
  const { values, layout, ignored } = parsePdfOptions(request.options, { inputFormat: from, outputFormat: "pdf" });
  const workDir = request.workDir ?? dirname(request.outputPath);
  const staging = await mkdtemp(join(workDir, ".pdf-"));
  const deadline = Date.now() + (context.timeoutMs ?? settings.timeoutMs);
  const runOptions = () => ({ timeoutMs: Math.max(1, deadline - Date.now()), ...(context.signal ? { signal: context.signal } : {}) });
  try {
    if (from !== "pdf") {
      const result = (await pool.run(
        { kind: "image", inputPath: request.inputPath, inputFormat: from, outputPath: join(staging, "out.pdf"), layout, limits: { maxPixels: Math.min(settings.maxPixels, request.limits?.maxPixels ?? Infinity) } },
        runOptions(),
      )) as ImageToPdfResult;
      await rename(join(staging, "out.pdf"), request.outputPath);
      context.onProgress?.(100);
      return { format: "pdf", size: result.size, ignoredOptions: ignored, details: { pages: 1 } };
    }
    const split = (input: string) =>
      pool.run({ kind: "split", inputPath: input, outDir: staging, ...(request.limits?.maxPages !== undefined ? { maxPages: request.limits.maxPages } : {}), ...(values.page_ranges ? { spans: values.page_ranges } : {}) }, runOptions()) as Promise<SplitPdfResult>;
    let result: SplitPdfResult;
    if (values.password !== undefined) {
      result = await split(await decrypt(settings, request.inputPath, staging, values, deadline, context));
    } else {
      result = await split(request.inputPath).catch(async (err: unknown) => {
        // pdf-lib cannot parse some encrypted files at all (AES-256), so a corrupt_file may be
        // one: qpdf tells (invalid password), and decrypts what opens without a password
        // (owner password only). A file qpdf cannot read either keeps the first error.
        if (!(err instanceof AppError && (err.code === "password_protected" || err.code === "corrupt_file"))) throw err;
        const decrypted = await decrypt(settings, request.inputPath, staging, values, deadline, context).catch((qpdfErr: unknown) => {
          throw qpdfErr instanceof AppError && qpdfErr.code === "corrupt_file" ? err : qpdfErr;
        });
        return split(decrypted);
      });
    }
    return await publish(request, result, ignored, context);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Moves split outputs from staging to their published paths: outputPath for one, `${baseName}-${first}[-${last}].pdf` for several. */
async function publish(request: ConvertRequest, result: SplitPdfResult, ignored: string[], context: ConvertContext): Promise<ConvertResult> {
  const workDir = request.workDir ?? dirname(request.outputPath);
  const baseName = request.baseName ?? "output";
  const single = result.outputs.length === 1;
  const files: OutputFile[] = [];
  let size = 0;
  try {
    for (const output of result.outputs) {
      const name = output.first === output.last ? `${baseName}-${output.first}.pdf` : `${baseName}-${output.first}-${output.last}.pdf`;
      const path = single ? request.outputPath : join(workDir, name);
      await rename(output.path, path);
      files.push({ path, name });
      size += (await stat(path)).size;
    }
  } catch (err) {
    await Promise.all(files.map((file) => rm(file.path, { force: true })));
    throw new AppError("processing_failed", "the PDF split failed", { detail: String(err), retryable: true });
  }
  context.onProgress?.(100);
  return { format: "pdf", size, ignoredOptions: ignored, details: { pages: result.pages, outputs: files.length }, ...(single ? {} : { files }) };
}

/**
 * Decrypts with qpdf into staging (pdf-lib cannot read encrypted streams). Without a password
 * this succeeds only for PDFs that open without one (owner password only). The password is on
 * qpdf's command line, visible to this machine's other users for the run: the worker's host is
 * not shared with untrusted users.
 */
async function decrypt(settings: ConvertSettings, inputPath: string, staging: string, values: PdfOptions, deadline: number, context: ConvertContext): Promise<string> {
  const output = join(staging, "decrypted.pdf");
  const args = [...(values.password !== undefined ? [`--password=${values.password}`] : []), "--decrypt", "--", inputPath, output];
  let run;
  try {
    run = await runTool(settings.qpdf, args, {
      env: { PATH: TOOL_PATH, HOME: staging, TMPDIR: staging }, cwd: staging, timeoutMs: Math.max(1, deadline - Date.now()), isolateNetwork: "preferred",
      ...(context.signal ? { signal: context.signal } : {}),
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new AppError("processing_failed", "decrypting the PDF failed", { detail: `${settings.qpdf} was not found: install the Debian package qpdf`, retryable: true });
    }
    throw err;
  }
  // qpdf exits 3 for warnings (a repaired file) with an output written.
  if (run.code === 0 || run.code === 3) return output;
  const detail = run.stderr.slice(-2000);
  if (/invalid password/i.test(run.stderr)) {
    const message = values.password === undefined
      ? "the PDF is password-protected; give its password in the `password` option"
      : "the PDF is password-protected and option password is not its password";
    throw new AppError("password_protected", message, { detail });
  }
  throw new AppError("corrupt_file", "the file is damaged or is not a PDF", { detail });
}
