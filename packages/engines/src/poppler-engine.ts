/**
 * The poppler engine: PDF pages to images (pdftoppm) and to text (pdftotext), after pdfinfo has
 * said how many pages there are, how big, and whether a password is needed.
 *
 * Why pdftoppm and not pdf.js (pdfjs-dist 5.6.205 legacy + @napi-rs/canvas), measured on a
 * 20-page A4 PDF (text and vector pages alternating) at 150 dpi, one run each on a 2-core box:
 *   pdf.js in-process, PNG by @napi-rs/canvas:           5.7 pages/s
 *   pdftoppm -png (poppler's own PNG writer):             2.3 pages/s
 *   pdftoppm -tiff uncompressed (render only):           26.8 pages/s, + sharp PNG at 26 ms/page
 *   pdftoppm -jpeg:                                       28.8 pages/s
 * Rendering is not poppler's cost, its zlib PNG writer is: rendering to uncompressed TIFF and
 * encoding with sharp makes ~15 pages/s, 2.6x pdf.js, with smaller PNGs (555 KB vs 751 KB on
 * the text page). Fidelity: same pixel sizes; on the vector page the two renders differ by 1.4/255
 * on average, on the text page by 6.1/255 (font substitutes: pdf.js ships Foxit's standard
 * fonts, poppler uses the system's URW/Liberation), neither visibly wrong. And pdftoppm is a
 * separate process: a hostile PDF costs a killable process group, not the worker's event loop
 * and heap, which is what pdf.js would need a pool of its own for. bench/lib/pdf.mjs
 * (benchPdfPages) on a loaded machine: this engine 12.7 pages/s, pdftoppm -png 1.2, pdf.js 3.5.
 */
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import sharp from "sharp";
import { AppError, DEFAULT_PDF_DPI, isAppError, normalizeFormat, parsePdfOptions, resolvePageRange } from "@transmute/core";
import type { ConvertContext, ConvertRequest, ConvertResult, Engine, EngineProbe, OutputFile } from "./engine.js";
import { consecutiveRuns, passwordArgs, readPdfInfo, runPoppler, toolPath, type PopplerRun } from "./poppler-tools.js";
import { runTool, TOOL_PATH } from "./run-tool.js";

/** Settings of the poppler engine. */
export interface PopplerEngineOptions {
  /** Wall-clock limit of one conversion, all its tool runs together (default 120 s). */
  timeoutMs?: number;
  /** The tools' environment (default: only a Debian PATH): they parse untrusted files and get no secrets. */
  env?: Record<string, string>;
  /** Directory of pdftoppm, pdftotext and pdfinfo (default: looked up on env.PATH). */
  binDir?: string;
  /** Largest rendered page, in pixels, when the request sets no limit (default 100 000 000). */
  maxPixels?: number;
}

const OUTPUTS = ["png", "jpg", "webp", "txt"] as const;
const TOOLS = ["pdftoppm", "pdftotext", "pdfinfo"] as const;

/** Runs `<tool> -v` for each poppler tool; any missing one makes the engine unavailable, saying what to install. */
export async function probePoppler(options: PopplerEngineOptions = {}): Promise<EngineProbe> {
  const versions: string[] = [];
  for (const tool of TOOLS) {
    const command = toolPath({ binDir: options.binDir ?? "" }, tool);
    try {
      const run = await runTool(command, ["-v"], { env: options.env ?? { PATH: TOOL_PATH }, timeoutMs: 10_000, what: `${tool} -v` });
      const version = /version\s+([\d.]+)/i.exec(run.stderr + run.stdout)?.[1];
      if (run.code !== 0 || !version) throw new Error(`exit code ${run.code}: ${run.stderr.trim().slice(0, 200)}`);
      versions.push(`${tool} ${version}`);
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code === "ENOENT" ? `${command} was not found` : `${command} -v failed (${String(err)})`;
      return {
        version: "unknown", conversions: [], available: false,
        missing: `poppler: ${why}; install the Debian package poppler-utils (scripts/install-engines.sh does). Until then PDF to image and text is not offered.`,
      };
    }
  }
  return { version: `poppler ${versions.join(", ")}`, conversions: OUTPUTS.map((to) => ({ from: "pdf", to })), available: true };
}

/** Creates the poppler engine (no pool: the tools are processes of their own). */
export function createPopplerEngine(options: PopplerEngineOptions = {}): Engine {
  return {
    name: "poppler",
    engineClass: "poppler",
    probe: () => probePoppler(options),
    convert: (request, context = {}) => convertPdf(options, request, context),
    close: () => Promise.resolve(),
  };
}

async function convertPdf(engine: PopplerEngineOptions, request: ConvertRequest, context: ConvertContext): Promise<ConvertResult> {
  const from = normalizeFormat(request.inputFormat);
  const to = normalizeFormat(request.outputFormat);
  if (from !== "pdf" || !(OUTPUTS as readonly string[]).includes(to)) {
    throw new AppError("unsupported_conversion", `the poppler engine does not convert ${from} to ${to}`);
  }
  const { values, ignored } = parsePdfOptions(request.options, { inputFormat: from, outputFormat: to });
  const inputSize = (await stat(request.inputPath).catch(() => null))?.size;
  if (!inputSize) throw new AppError("corrupt_file", "the file is empty or missing; a PDF was expected", { detail: request.inputPath });
  const workDir = request.workDir ?? dirname(request.outputPath);
  const timeoutMs = context.timeoutMs ?? engine.timeoutMs ?? 120_000;
  const scratch = await mkdtemp(join(workDir, ".poppler-"));
  const written: string[] = [];
  try {
    const home = join(scratch, "home");
    await mkdir(home);
    const run: PopplerRun = {
      binDir: engine.binDir ?? "", env: engine.env ?? { PATH: TOOL_PATH }, home, deadline: Date.now() + timeoutMs, timeoutMs,
      ...(context.signal ? { signal: context.signal } : {}),
      ...(values.password !== undefined ? { password: values.password } : {}),
    };
    const maxPages = request.limits?.maxPages ?? Infinity;
    // Sizes of the pages up to the limit only: a 100 000-page file must not make 100 000 lines.
    const info = await readPdfInfo(run, request.inputPath, Number.isFinite(maxPages) ? maxPages : 1_000_000);
    if (info.pages > maxPages) {
      throw new AppError("limit_exceeded", `the PDF has ${info.pages} pages; the limit is ${maxPages}`);
    }
    const pages = resolvePageRange(values.page_range, info.pages, "page_range");
    const ext = to === "txt" ? "txt" : to;
    if (to === "txt") {
      await extractText(run, request, pages, scratch);
      written.push(request.outputPath);
      context.onProgress?.(100);
      const size = (await stat(request.outputPath)).size;
      return { format: "txt", size, ignoredOptions: ignored, details: { pages: pages.length } };
    }
    const dpi = values.dpi ?? DEFAULT_PDF_DPI;
    const maxPixels = Math.min(engine.maxPixels ?? 100_000_000, request.limits?.maxPixels ?? Infinity);
    for (const page of pages) {
      const size = info.sizes[page - 1];
      if (!size) throw new AppError("corrupt_file", `page ${page} of the PDF has no readable size`);
      const width = Math.ceil((size.width * dpi) / 72);
      const height = Math.ceil((size.height * dpi) / 72);
      if (width * height > maxPixels) {
        throw new AppError("image_too_large", `page ${page} would be ${width} x ${height} pixels at ${dpi} dpi; the limit is ${maxPixels} pixels: choose a lower dpi`);
      }
    }
    const rendered = await renderPages(run, request.inputPath, pages, dpi, to as "png" | "jpg" | "webp", scratch, maxPixels, context);
    const baseName = request.baseName ?? "output";
    const single = pages.length === 1;
    const files: OutputFile[] = [];
    let total = 0;
    let dims: { width?: number; height?: number } = {};
    for (const { page, path } of rendered) {
      const target = single ? request.outputPath : join(workDir, `${baseName}-${page}.${ext}`);
      await rename(path, target);
      written.push(target);
      total += (await stat(target)).size;
      files.push({ path: target, name: `${baseName}-${page}.${ext}` });
      if (single) dims = await sharp(target).metadata().then((m) => ({ width: m.width, height: m.height }));
    }
    return {
      format: to, size: total, ignoredOptions: ignored, details: { pages: pages.length }, ...dims,
      ...(single ? {} : { files }),
    };
  } catch (err) {
    await Promise.all(written.map((path) => rm(path, { force: true })));
    if (isAppError(err)) throw err;
    throw new AppError("processing_failed", "the PDF conversion failed", { detail: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Renders the pages into `scratch`, one pdftoppm run per run of consecutive pages. PNG and WebP
 * are rendered to uncompressed TIFF and encoded by sharp: poppler's own PNG writer is 8x slower
 * than its rendering (see the top of this file).
 */
async function renderPages(
  run: PopplerRun, inputPath: string, pages: number[], dpi: number, to: "png" | "jpg" | "webp", scratch: string, maxPixels: number, context: ConvertContext,
): Promise<Array<{ page: number; path: string }>> {
  const out: Array<{ page: number; path: string }> = [];
  const format = to === "jpg" ? ["-jpeg", "-jpegopt", "quality=90"] : ["-tiff", "-tiffcompression", "none"];
  const encodes: Promise<void>[] = [];
  for (const [first, last] of consecutiveRuns(pages)) {
    const done: Array<{ page: number; file: string }> = [];
    const result = await runPoppler(
      run, "pdftoppm",
      ["-progress", "-r", String(dpi), ...format, ...passwordArgs(run.password), "-f", String(first), "-l", String(last), "--", inputPath, join(scratch, "page")],
      {
        // "-progress" prints "<page> <last page> <file>" as each page is written.
        onStderrLine(line) {
          const match = /^(\d+) \d+ (.+)$/.exec(line);
          if (!match) return;
          done.push({ page: Number(match[1]), file: match[2]! });
          context.onProgress?.(Math.min(99, Math.round(((out.length + done.length) * 100) / pages.length)));
        },
      },
    );
    if (result.code !== 0 || done.length !== last - first + 1) {
      throw new AppError("corrupt_file", `the PDF is damaged: pages ${first} to ${last} could not be rendered`, { detail: result.stderr.slice(-2000) });
    }
    for (const { page, file } of done) {
      if (to === "jpg") {
        out.push({ page, path: file });
        continue;
      }
      const path = join(scratch, `${basename(file)}.${to}`);
      const image = sharp(file, { limitInputPixels: maxPixels });
      encodes.push((to === "png" ? image.png({ compressionLevel: 6 }) : image.webp({ quality: 85 })).toFile(path).then(() => rm(file, { force: true })));
      out.push({ page, path });
    }
    await Promise.all(encodes);
  }
  context.onProgress?.(100);
  return out;
}

/** pdftotext per run of consecutive pages, concatenated (pages stay separated by form feeds, as pdftotext does). */
async function extractText(run: PopplerRun, request: ConvertRequest, pages: number[], scratch: string): Promise<void> {
  const parts: Buffer[] = [];
  for (const [index, [first, last]] of consecutiveRuns(pages).entries()) {
    const part = join(scratch, `text-${index}.txt`);
    const result = await runPoppler(run, "pdftotext", ["-enc", "UTF-8", ...passwordArgs(run.password), "-f", String(first), "-l", String(last), "--", request.inputPath, part]);
    if (result.code !== 0) throw new AppError("corrupt_file", "the PDF is damaged: its text could not be read", { detail: result.stderr.slice(-2000) });
    parts.push(await readFile(part));
  }
  await writeFile(request.outputPath, Buffer.concat(parts));
}
