/**
 * The secure engine (content disarm and reconstruction): a file comes back rebuilt from what it
 * shows and carries nothing else. Images are re-encoded from their pixels (secure-image.ts),
 * PDFs rebuilt from page pictures (secure-pdf.ts), office documents and text converted to PDF by
 * LibreOffice and then rebuilt the same way, archives member by member (secure-archive.ts). A
 * file that cannot be rebuilt fails: nothing of the input is ever passed through, and nothing is
 * left in workDir after a failure.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { AppError, DEFAULT_SECURE_DPI, isAppError, normalizeFormat, parseSecureOptions, SECURE_FORMATS, type SecureOptions } from "@transmute/core";
import type { ConvertContext, Engine, EngineProbe, SecureRequest, SecureResult } from "./engine.js";
import { DEFAULT_ARCHIVE_LIMITS } from "./archive-guard.js";
import { probePoppler } from "./poppler-engine.js";
import type { PopplerRun } from "./poppler-tools.js";
import { TOOL_PATH } from "./run-tool.js";
import { secureImage } from "./secure-image.js";
import { secureArchive } from "./secure-archive.js";
import { securePdf } from "./secure-pdf.js";

/** Settings of the secure engine. */
export interface SecureEngineOptions {
  /** The LibreOffice engine, which turns office documents and text into PDF (default: none, and those formats are not secured). */
  office?: Engine;
  /** Wall-clock limit of one rebuild, every tool run together (default 300 s). */
  timeoutMs?: number;
  /** Most pixels of an image or a rendered page when the request sets no limit (default 100 000 000). */
  maxPixels?: number;
  /** Most pages kept of a document when the request sets no limit (default 1000). */
  maxPages?: number;
  /** Directory of the poppler tools (default: looked up on env.PATH). */
  binDir?: string;
  /** The tools' environment (default: only a Debian PATH): they parse untrusted files and get no secrets. */
  env?: Record<string, string>;
}

/** The secure engine. */
export interface SecureEngine extends Engine {
  secure(request: SecureRequest, context?: ConvertContext): Promise<SecureResult>;
}

/** Images sharp rebuilds from pixels. */
export const SECURE_IMAGE_FORMATS: readonly string[] = ["jpg", "png", "gif", "webp", "tiff", "avif", "svg"];
const DEFAULT_MAX_PIXELS = 100_000_000;
const DEFAULT_MAX_PAGES = 1000;
/** Share of the progress the office-to-PDF step takes; the page rebuild takes the rest. */
const OFFICE_SHARE = 30;

/**
 * Lists what this machine secures: images and archives always (an archive's members that cannot
 * be secured here are dropped), PDFs when poppler is installed, office documents and text when
 * the office engine converts them to PDF. Never throws.
 */
export async function probeSecure(options: SecureEngineOptions = {}): Promise<EngineProbe> {
  const secures = new Set<string>(SECURE_IMAGE_FORMATS);
  const versions = [`sharp ${(await import("sharp")).default.versions.sharp ?? "?"}`];
  const missing: string[] = [];
  const poppler = await probePoppler({ ...(options.binDir ? { binDir: options.binDir } : {}), ...(options.env ? { env: options.env } : {}) });
  if (poppler.available) {
    secures.add("pdf");
    versions.push(poppler.version);
    if (options.office) {
      const office = await options.office.probe().catch((): EngineProbe => ({ version: "unknown", conversions: [], available: false }));
      if (office.available) {
        versions.push(office.version);
        for (const pair of office.conversions) if (pair.to === "pdf" && pair.operation === undefined) secures.add(normalizeFormat(pair.from));
      } else {
        missing.push(`office documents are not secured: ${office.missing ?? "LibreOffice is unavailable"}`);
      }
    }
  } else {
    missing.push(`PDFs and office documents are not secured: ${poppler.missing ?? "poppler is unavailable"}`);
  }
  for (const format of ARCHIVE_FORMATS) secures.add(format);
  const formats = SECURE_FORMATS.filter((format) => secures.has(format));
  return {
    version: versions.join("; "),
    conversions: formats.map((format) => ({ from: format, to: format, operation: "secure" as const })),
    available: true,
    ...(missing.length > 0 ? { missing: missing.join("; ") } : {}),
  };
}

/** Creates the secure engine. */
export function createSecureEngine(options: SecureEngineOptions = {}): SecureEngine {
  return {
    name: "secure",
    engineClass: "secure",
    probe: () => probeSecure(options),
    convert: (request) => Promise.reject(new AppError("unsupported_conversion", `the secure engine does not convert ${normalizeFormat(request.inputFormat)} to ${normalizeFormat(request.outputFormat)}`)),
    secure: (request, context = {}) => secureFile(options, request, context),
    close: () => Promise.resolve(),
  };
}

/** The limits one rebuild works under: the caller's options, capped by the operator's. */
interface SecureLimits {
  values: SecureOptions;
  maxPixels: number;
  maxPages: number;
}

async function secureFile(engine: SecureEngineOptions, request: SecureRequest, context: ConvertContext): Promise<SecureResult> {
  const format = normalizeFormat(request.format);
  const { values, ignored } = parseSecureOptions(request.options);
  const limits: SecureLimits = {
    values,
    maxPixels: Math.min(engine.maxPixels ?? DEFAULT_MAX_PIXELS, request.limits?.maxPixels ?? Infinity),
    maxPages: Math.min(values.max_pages_per_document ?? Infinity, request.limits?.maxPages ?? Infinity, engine.maxPages ?? DEFAULT_MAX_PAGES),
  };
  const baseName = safeBaseName(request.baseName);
  if (context.signal?.aborted) throw new AppError("canceled", "the rebuild was canceled");
  // Everything goes under one private directory: the output cannot collide with the input
  // (a file named input.pdf), and a failure removes it whole.
  const scratch = await mkdtemp(join(request.workDir, ".secure-"));
  const outDir = join(scratch, "out");
  const tmp = join(scratch, "tmp");
  await mkdir(outDir);
  await mkdir(tmp);
  try {
    const result = await rebuild(engine, { ...request, format }, context, limits, { outStem: join(outDir, baseName), tmp, baseName });
    context.onProgress?.(100);
    await rm(tmp, { recursive: true, force: true });
    return { ...result, ignoredOptions: ignored };
  } catch (err) {
    await rm(scratch, { recursive: true, force: true });
    if (isAppError(err)) throw err;
    throw new AppError("processing_failed", "the file could not be rebuilt", { detail: String(err) });
  }
}

type Rebuilt = Omit<SecureResult, "ignoredOptions">;

async function rebuild(
  engine: SecureEngineOptions, request: SecureRequest, context: ConvertContext, limits: SecureLimits,
  paths: { outStem: string; tmp: string; baseName: string },
): Promise<Rebuilt> {
  const { format } = request;
  const deadline = Date.now() + (context.timeoutMs ?? engine.timeoutMs ?? 300_000);
  if (SECURE_IMAGE_FORMATS.includes(format)) {
    const { values } = limits;
    const image = await secureImage({
      inputPath: request.inputPath, format, outputStem: paths.outStem, maxPixels: limits.maxPixels,
      ...(values.max_width !== undefined ? { maxWidth: values.max_width } : {}),
      ...(values.max_height !== undefined ? { maxHeight: values.max_height } : {}),
      ...(values.max_dpi !== undefined ? { maxDpi: values.max_dpi } : {}),
    });
    // sharp runs in-process and cannot be stopped midway: a cancel or a deadline passed while it
    // worked is honoured once it is done (the caller removes what it wrote).
    if (context.signal?.aborted) throw new AppError("canceled", "the rebuild was canceled");
    if (Date.now() > deadline) throw new AppError("engine_timeout", "the rebuild took longer than its time limit and was stopped");
    return {
      path: image.path, name: `${paths.baseName}.${image.format}`, format: image.format, size: image.size,
      details: { width: image.width, height: image.height, density: image.density },
    };
  }
  if (format === "pdf") return rebuildPdf(engine, request.inputPath, context, limits, paths, deadline, 0);
  if (ARCHIVE_FORMATS.has(format)) return rebuildArchive(engine, request, context, limits, paths, deadline);
  if (engine.office && OFFICE_FORMATS.has(format)) {
    const officeDir = join(paths.tmp, "office");
    await mkdir(officeDir);
    const pdfPath = join(officeDir, "document.pdf");
    await engine.office.convert(
      { inputPath: request.inputPath, outputPath: pdfPath, inputFormat: format, outputFormat: "pdf", workDir: officeDir, baseName: "document", ...(request.limits ? { limits: request.limits } : {}) },
      {
        timeoutMs: Math.max(1, deadline - Date.now()),
        ...(context.signal ? { signal: context.signal } : {}),
        onProgress: (p) => context.onProgress?.((p * OFFICE_SHARE) / 100),
      },
    );
    return rebuildPdf(engine, pdfPath, context, limits, paths, deadline, OFFICE_SHARE);
  }
  throw new AppError("unsupported_format", `${format} files are not secured here; secure takes images, PDFs, office documents, text and archives`);
}

const ARCHIVE_FORMATS = new Set(["zip", "tar", "tgz"]);

/**
 * Rebuilds each member of an archive as a file of its own (secure-archive.ts does the guarded
 * reading and repacking). A member inside is never an archive: nested archives are dropped, as
 * are members whose bytes match no format secured here.
 */
async function rebuildArchive(
  engine: SecureEngineOptions, request: SecureRequest, context: ConvertContext, limits: SecureLimits,
  paths: { outStem: string; tmp: string; baseName: string }, deadline: number,
): Promise<Rebuilt> {
  const format = request.format as "zip" | "tar" | "tgz";
  const archiveLimits = request.limits?.archive ?? DEFAULT_ARCHIVE_LIMITS;
  const outputPath = `${paths.outStem}.${format}`;
  // Members are rebuilt under the same caps, without the member count (it is the archive's).
  const memberLimits: SecureLimits = { ...limits, values: { ...limits.values, max_files_per_archive: undefined } };
  const result = await secureArchive({
    inputPath: request.inputPath, format, workDir: paths.tmp, outputPath, limits: archiveLimits,
    maxFiles: Math.min(limits.values.max_files_per_archive ?? Infinity, archiveLimits.maxEntries),
    timeoutMs: Math.max(1, deadline - Date.now()),
    ...(context.signal ? { signal: context.signal } : {}),
    async secureMember(member, memberWorkDir, signal) {
      const memberFormat = member.format === null ? null : normalizeFormat(member.format);
      if (memberFormat === null || ARCHIVE_FORMATS.has(memberFormat) || !SECURE_FORMATS.includes(memberFormat as never)) {
        throw new AppError("unsupported_format", memberFormat === null
          ? "its type could not be told from its bytes"
          : ARCHIVE_FORMATS.has(memberFormat) ? "archives inside archives are not secured" : `${memberFormat} files are not secured`);
      }
      const stem = member.name.includes(".") && member.name.lastIndexOf(".") > 0 ? member.name.slice(0, member.name.lastIndexOf(".")) : member.name;
      const paths = { outStem: join(memberWorkDir, "out"), tmp: join(memberWorkDir, "tmp"), baseName: safeBaseName(stem) };
      await mkdir(paths.outStem);
      await mkdir(paths.tmp);
      const rebuilt = await rebuild(engine, { ...request, inputPath: member.path, format: memberFormat, workDir: memberWorkDir }, { signal, timeoutMs: Math.max(1, deadline - Date.now()) }, memberLimits, { ...paths, outStem: join(paths.outStem, paths.baseName) });
      await rm(paths.tmp, { recursive: true, force: true });
      return { path: rebuilt.path, name: rebuilt.name };
    },
  });
  return { path: outputPath, name: `${paths.baseName}.${format}`, format, size: result.size, details: { members: result.members, dropped: result.dropped } };
}

/** The office formats LibreOffice opens that secure takes (the probe narrows them to the installed modules). */
const OFFICE_FORMATS = new Set(["doc", "docx", "odt", "rtf", "txt", "xls", "xlsx", "ods", "csv", "ppt", "pptx", "odp"]);

async function rebuildPdf(
  engine: SecureEngineOptions, inputPath: string, context: ConvertContext, limits: SecureLimits,
  paths: { outStem: string; tmp: string; baseName: string }, deadline: number, progressFrom: number,
): Promise<Rebuilt> {
  const home = join(paths.tmp, "home");
  await mkdir(home, { recursive: true });
  const timeoutMs = Math.max(1, deadline - Date.now());
  const run: PopplerRun = {
    binDir: engine.binDir ?? "", env: engine.env ?? { PATH: TOOL_PATH }, home, deadline, timeoutMs,
    ...(context.signal ? { signal: context.signal } : {}),
  };
  const { values } = limits;
  const outputPath = `${paths.outStem}.pdf`;
  const result = await securePdf(run, {
    inputPath, outputPath, scratchDir: paths.tmp, dpi: values.max_dpi ?? DEFAULT_SECURE_DPI, maxPages: limits.maxPages, maxPixels: limits.maxPixels,
    ...(values.max_width !== undefined ? { maxWidth: values.max_width } : {}),
    ...(values.max_height !== undefined ? { maxHeight: values.max_height } : {}),
    onProgress: (p) => context.onProgress?.(progressFrom + (p * (100 - progressFrom)) / 100),
  });
  return {
    path: outputPath, name: `${paths.baseName}.pdf`, format: "pdf", size: result.size,
    details: { pages: result.pages, pages_dropped: result.pagesDropped },
  };
}

/** The caller's base name as one path segment (it is sanitized upstream; this is the last guard). */
function safeBaseName(baseName: string): string {
  const clean = baseName.replace(/[/\\\0]/g, "_").trim();
  return clean === "" || clean === "." || clean === ".." ? "output" : clean;
}
