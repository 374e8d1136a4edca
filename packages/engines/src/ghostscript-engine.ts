/**
 * The Ghostscript engine: PDF compression with `gs -sDEVICE=pdfwrite`. gs is a separate
 * process already, so it needs no pool: it runs in its own process group, in the task's scratch
 * directory, always with -dSAFER, and a timeout or an abort SIGKILLs the group.
 */
import { stat } from "node:fs/promises";
import { dirname } from "node:path";
import { AppError, normalizeFormat, parseCompressOptions, type CompressOptions, type PdfCompressionLevel } from "@transmute/core";
import type { CompressRequest, CompressResult, ConvertContext, Engine, EngineProbe } from "./engine.js";
import { runTool, TOOL_PATH } from "./run-tool.js";

/** Settings of the Ghostscript engine. */
export interface GhostscriptEngineOptions {
  /** The gs executable, a name looked up on `env.PATH` or a path (default "gs"). */
  command?: string;
  /** Wall-clock limit of one compression (default 120 s). */
  timeoutMs?: number;
  /** gs's environment (default: only a Debian PATH): it parses untrusted files and gets no secrets. */
  env?: Record<string, string>;
}

/** The Ghostscript engine. */
export interface GhostscriptEngine extends Engine {
  compress(request: CompressRequest, context?: ConvertContext): Promise<CompressResult>;
}

const DEFAULT_ENV = { PATH: TOOL_PATH };
const STDERR_TAIL = 4096;

/**
 * Per level: Ghostscript's distiller preset (JPEG quality of re-encoded images among others) and
 * the resolution colour and gray images are downsampled to (mono images: twice that, at least
 * 300 ppi). The presets alone downsample only images 1.5 times over the target; a photo placed
 * at 200 ppi would pass /ebook untouched, so the threshold is set to 1.1.
 */
const LEVELS: Readonly<Record<PdfCompressionLevel, { preset: string; ppi: number }>> = {
  low: { preset: "/printer", ppi: 300 },
  medium: { preset: "/ebook", ppi: 150 },
  strong: { preset: "/screen", ppi: 72 },
};

/** The gs arguments of one compression (exported for the tests: the flags are the contract with gs). */
export function ghostscriptArgs(inputPath: string, outputPath: string, options: CompressOptions): string[] {
  const args = [
    "-dSAFER", "-dBATCH", "-dNOPAUSE", "-dQUIET", "-sDEVICE=pdfwrite", "-dCompatibilityLevel=1.5",
  ];
  const { preset, ppi } = LEVELS[options.pdf_compression_level ?? "medium"];
  args.push(`-dPDFSETTINGS=${preset}`);
  for (const kind of ["Color", "Gray", "Mono"]) {
    args.push(
      `-dDownsample${kind}Images=true`,
      `-d${kind}ImageResolution=${kind === "Mono" ? Math.max(300, ppi * 2) : ppi}`,
      `-d${kind}ImageDownsampleThreshold=1.1`,
      `-d${kind}ImageDownsampleType=${kind === "Mono" ? "/Subsample" : "/Bicubic"}`,
    );
  }
  args.push("-dDetectDuplicateImages=true", "-dCompressFonts=true", "-dSubsetFonts=true", "-dAutoRotatePages=/None");
  if (options.pdf_convert_to_gray) args.push("-sColorConversionStrategy=Gray", "-dProcessColorModel=/DeviceGray");
  // -f ends the options: a path that starts with "-" cannot be read as one.
  args.push(`-sOutputFile=${outputPath}`, "-f", inputPath);
  return args;
}

/** Runs `gs --version`; a missing or broken gs is `available: false` with what to install. */
export async function probeGhostscript(options: GhostscriptEngineOptions = {}): Promise<EngineProbe> {
  const command = options.command ?? "gs";
  try {
    const { code, stdout, stderr } = await runTool(command, ["--version"], { env: options.env ?? DEFAULT_ENV, timeoutMs: 10_000, what: "gs --version" });
    if (code !== 0) throw new Error(`exit code ${code}: ${stderr.trim()}`);
    return { version: `Ghostscript ${stdout.trim()}`, conversions: [{ from: "pdf", to: "pdf", operation: "compress" }], available: true };
  } catch (err) {
    const notFound = (err as NodeJS.ErrnoException).code === "ENOENT";
    const why = notFound ? `${command} was not found` : `${command} --version failed (${String(err)})`;
    return {
      version: "unknown",
      conversions: [],
      available: false,
      missing: `Ghostscript: ${why}; install the Debian package ghostscript (scripts/install-engines.sh does). Until then PDF compression is not offered.`,
    };
  }
}

/** Creates the Ghostscript engine. */
export function createGhostscriptEngine(options: GhostscriptEngineOptions = {}): GhostscriptEngine {
  const command = options.command ?? "gs";
  const env = options.env ?? DEFAULT_ENV;
  return {
    name: "ghostscript",
    engineClass: "ghostscript",
    probe: () => probeGhostscript(options),
    convert: (request) => Promise.reject(new AppError("unsupported_conversion", `the Ghostscript engine does not convert ${normalizeFormat(request.inputFormat)} to ${normalizeFormat(request.outputFormat)}`)),
    async compress(request, context = {}) {
      if (normalizeFormat(request.format) !== "pdf") throw new AppError("unsupported_format", `Ghostscript compresses pdf only, not ${normalizeFormat(request.format)}`);
      const { values, ignored } = parseCompressOptions(request.options, { format: "pdf" });
      const scratch = dirname(request.outputPath);
      const run = await runTool(command, ghostscriptArgs(request.inputPath, request.outputPath, values), {
        // gs writes its temporary files under TMPDIR: the task's scratch, removed with it.
        env: { ...env, TMPDIR: scratch },
        cwd: scratch,
        timeoutMs: context.timeoutMs ?? options.timeoutMs ?? 120_000,
        what: "the compression",
        ...(context.signal ? { signal: context.signal } : {}),
      });
      // gs exits 0 on a file it could not read at all, saying so only in its output.
      if (run.code !== 0 || /No pages will be processed/i.test(run.stderr + run.stdout)) throw describeFailure(run.stderr + run.stdout);
      const size = (await stat(request.outputPath).catch(() => null))?.size;
      if (!size) throw new AppError("corrupt_file", "Ghostscript produced no PDF from the file", { detail: (run.stderr + run.stdout).slice(-STDERR_TAIL) });
      return { format: "pdf", size, ignoredOptions: ignored };
    },
    close: () => Promise.resolve(),
  };
}

function describeFailure(output: string): AppError {
  const detail = output.slice(-STDERR_TAIL);
  if (/password|encrypt/i.test(output)) {
    return new AppError("password_protected", "the PDF is password-protected; compress takes PDFs that open without a password", { detail });
  }
  return new AppError("corrupt_file", "the file is damaged or is not a PDF Ghostscript can read", { detail });
}
