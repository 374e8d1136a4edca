import { AppError, normalizeFormat, type EngineClass } from "@transmute/core";

/** One conversion an engine can do, in canonical format names. */
export interface ConversionPair {
  from: string;
  to: string;
  /** The operation: absent for convert; compress and extract (to = from) or merge (every input `from` into `to`). */
  operation?: "compress" | "merge" | "extract" | "secure";
}

/** What an engine reports about itself: workers register this with their heartbeat. */
export interface EngineProbe {
  /** Tool versions, e.g. "sharp 0.35.5, libvips 8.18.7". */
  version: string;
  /** Every (from, to) pair this engine converts on this machine. */
  conversions: ConversionPair[];
  /** False when the tool is missing or broken here; `missing` says what to install or fix. */
  available: boolean;
  /** Operator-facing reason the engine is unavailable. */
  missing?: string;
}

/** A conversion request: paths on local disk, never bytes, so it can cross a process boundary. */
export interface ConvertRequest {
  inputPath: string;
  outputPath: string;
  inputFormat: string;
  outputFormat: string;
  /** The task's `options` object, raw or already parsed; each engine validates it against its own table. */
  options?: unknown;
  /** Limits for this call; an engine never goes past its own configured ones. */
  limits?: ConvertLimits;
  /**
   * Where the engine may write further outputs and its temporary files (the task's scratch
   * directory, removed with the task; default: the directory of outputPath). Nothing of an
   * engine's may be left anywhere else.
   */
  workDir?: string;
  /** The name outputs are published under, without extension (default "output"); multi-file outputs are named from it. */
  baseName?: string;
}

/** Per-call limits (a Filewall authorize request may set tighter ones than the operator). */
export interface ConvertLimits {
  /** Most pixels of an image input or output. */
  maxPixels?: number;
  /** Most pages of a document read, rendered or split (limit_exceeded past it). */
  maxPages?: number;
  /** Longest audio or video input, in seconds (limit_exceeded past it). */
  maxMediaSeconds?: number;
  /** The archive guards. */
  archive?: ArchiveLimits;
}

/** What an archive may hold before it is refused (zip bombs, entry floods, deep nesting). */
export interface ArchiveLimits {
  /** Most entries (files and folders). */
  maxEntries: number;
  /** Largest total uncompressed size, bytes. */
  maxBytes: number;
  /** Largest ratio of uncompressed to compressed size, of the whole archive or of one entry. */
  maxRatio: number;
  /** How deep archives inside archives are opened and checked. */
  maxDepth: number;
}

/** Per-call controls of a conversion. */
export interface ConvertContext {
  /** Aborting kills the work (the promise rejects with `canceled`). */
  signal?: AbortSignal;
  /** Wall-clock limit for this call; default the engine's own. */
  timeoutMs?: number;
  /** Called with 0..100 as the work advances (ffmpeg's time, pages done); cheap to call often. */
  onProgress?(percent: number): void;
}

/** One output file of a multi-file result: a path under the request's workDir and the name to publish it under. */
export interface OutputFile {
  path: string;
  name: string;
}

/** What a conversion produced. */
export interface ConvertResult {
  /** Canonical output format. */
  format: string;
  /** Output size in bytes. */
  size: number;
  /** Output width in pixels, for formats that have one. */
  width?: number;
  /** Output height in pixels (of one frame for animations). */
  height?: number;
  /** Option names that were given but had no effect, for the task result. */
  ignoredOptions: string[];
  /**
   * The outputs when the conversion made several files (one per page, per split range): in
   * order, each under workDir. When present, outputPath is unused and `size` is their total.
   */
  files?: OutputFile[];
  /** Further fields of the task's result, e.g. `{ pages: 3 }` or `{ duration: 12.5 }`. */
  details?: Record<string, unknown>;
}

/** One extraction: an archive unpacked into its files, under the archive guards. */
export interface ExtractRequest {
  inputPath: string;
  /** The archive's format (zip, tar, tgz, 7z). */
  format: string;
  /** Where the entries are written (entry names never become paths: files are numbered here). */
  workDir: string;
  options?: unknown;
  limits?: ConvertLimits;
}

/** What an extraction wrote: each regular file entry, in archive order. */
export interface ExtractResult {
  /** `name` is the entry's base name, made unique within the result. */
  files: OutputFile[];
  ignoredOptions: string[];
  /** Further result fields, e.g. `{ entries: [...full entry paths] }`. */
  details?: Record<string, unknown>;
}

/** One disarm-and-rebuild: the input re-made from what it shows (pixels, page images), nothing else. */
export interface SecureRequest {
  inputPath: string;
  /** The input's format as its bytes identify it (never a name or a declared type). */
  format: string;
  /** Where the output and every temporary file go. */
  workDir: string;
  /** The output's name without extension; the engine adds the extension of what it writes. */
  baseName: string;
  /** The task's `options` (core's secure table: max_pages_per_document, max_files_per_archive, max_width, max_height, max_dpi). */
  options?: unknown;
  /** The operator's caps, which hold whatever the options say. */
  limits?: ConvertLimits;
}

/** What a rebuild wrote: one file. */
export interface SecureResult {
  /** The rebuilt file, under workDir. */
  path: string;
  /** The name to publish it under: baseName and the extension of `format`. */
  name: string;
  format: string;
  size: number;
  ignoredOptions: string[];
  /** Result fields, e.g. `{ pages: 3, pages_dropped: 0 }` or `{ members: [...], dropped: [{name, reason}] }`. */
  details?: Record<string, unknown>;
}

/** One HTTP exchange of a page capture, made by the caller under its outbound policy. */
export interface CaptureFetchRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: Buffer;
}

/** The answer to a CaptureFetchRequest; redirects are answered as they are (3xx with location), never followed. */
export interface CaptureFetchResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** A web-page capture: every request the page makes goes through `fetch`, never straight to the network. */
export interface CaptureRequest {
  url: string;
  /** Where the MHTML snapshot is written. */
  outputPath: string;
  /** Makes one request of the page; rejects with an AppError (outbound_refused, download_failed) to block it. */
  fetch(request: CaptureFetchRequest): Promise<CaptureFetchResponse>;
  viewportWidth?: number;
  viewportHeight?: number;
  /** Extra wait after the page's load event, ms (default 0). */
  waitMs?: number;
  /** Most bytes the page and its resources may add up to. */
  maxBytes?: number;
}

/** What a capture wrote. */
export interface CaptureResult {
  format: "mhtml";
  size: number;
  /** The page's title, if it has one. */
  title?: string;
  /** The URL after redirects. */
  finalUrl: string;
  /** Requests the page made (blocked ones included). */
  requests: number;
  /** Requests refused by the outbound policy or failed. */
  blocked: number;
}

/** One compression: the file is re-encoded in its own format. */
export interface CompressRequest {
  inputPath: string;
  outputPath: string;
  /** The input's (and so the output's) format. */
  format: string;
  /** The task's `options` object, raw or parsed; each engine validates it against core's compress table. */
  options?: unknown;
  limits?: ConvertLimits;
}

/** What a compression wrote; the caller decides whether it is worth keeping (never larger than the input). */
export interface CompressResult {
  format: string;
  /** Output size in bytes. */
  size: number;
  /** Option names that were given but had no effect. */
  ignoredOptions: string[];
}

/** One merge: inputs in order into one output file. */
export interface MergeRequest {
  inputs: Array<{ path: string; format: string; name: string }>;
  outputPath: string;
  outputFormat: string;
  /** The task's `options`, raw or parsed (core's merge table). */
  options?: unknown;
  limits?: ConvertLimits;
}

/** What a merge wrote. */
export interface MergeResult {
  format: string;
  size: number;
  /** Pages of a PDF, frames of a GIF. */
  pages: number;
  /** Size of a GIF's frames, in pixels. */
  width?: number;
  height?: number;
  ignoredOptions: string[];
}

/** One tool family behind one interface: sharp, pdf-lib, Ghostscript, poppler, LibreOffice, ffmpeg, Chromium, archives. */
export interface Engine {
  /** Short tool name, e.g. "sharp". */
  readonly name: string;
  /** The queue this engine's work runs on. */
  readonly engineClass: EngineClass;
  /** Reports versions and supported conversions; never throws (an unusable tool is `available: false`). */
  probe(): Promise<EngineProbe>;
  /** Converts one file; rejects with an AppError (unsupported_conversion, corrupt_file, engine_timeout...). */
  convert(request: ConvertRequest, context?: ConvertContext): Promise<ConvertResult>;
  /** Compresses one file in its own format, for engines that probe `compress` pairs. */
  compress?(request: CompressRequest, context?: ConvertContext): Promise<CompressResult>;
  /** Merges files into one, for engines that probe `merge` pairs. */
  merge?(request: MergeRequest, context?: ConvertContext): Promise<MergeResult>;
  /** Unpacks an archive, for engines that probe `extract` pairs. */
  extract?(request: ExtractRequest, context?: ConvertContext): Promise<ExtractResult>;
  /** Captures a web page, for the engine of class `browser`. */
  capture?(request: CaptureRequest, context?: ConvertContext): Promise<CaptureResult>;
  /** Disarms and rebuilds a file, for engines that probe `secure` pairs. */
  secure?(request: SecureRequest, context?: ConvertContext): Promise<SecureResult>;
  /** Stops the engine's processes. */
  close(): Promise<void>;
}

/** An engine's probe with its identity, as a worker registers it. */
export interface EngineStatus extends EngineProbe {
  name: string;
  engineClass: EngineClass;
}

/** Engines with their probes, and the dispatcher that picks one for a conversion. */
export interface EngineRegistry {
  /** The engines, in order of preference. */
  readonly engines: readonly Engine[];
  /** Each engine's probe, in the same order. */
  readonly probes: readonly EngineStatus[];
  /** The first available engine that does `operation` (default convert) from `from` to `to` (aliases allowed), if any. */
  findEngine(from: string, to: string, operation?: "compress" | "merge" | "extract" | "secure"): Engine | undefined;
  /** Converts with the first engine that converts the pair; unsupported_conversion when none does. */
  convert(request: ConvertRequest, context?: ConvertContext): Promise<ConvertResult>;
  /** Extracts with the first engine that extracts the format; unsupported_conversion when none does. */
  extract(request: ExtractRequest, context?: ConvertContext): Promise<ExtractResult>;
  /** Captures with the available engine that captures (class browser); unsupported_conversion when none does. */
  capture(request: CaptureRequest, context?: ConvertContext): Promise<CaptureResult>;
  /** Secures with the first engine that secures the format; unsupported_conversion when none does. */
  secure(request: SecureRequest, context?: ConvertContext): Promise<SecureResult>;
  /** Compresses with the first engine that compresses the format; unsupported_conversion when none does. */
  compress(request: CompressRequest, context?: ConvertContext): Promise<CompressResult>;
  /** Merges with the first engine that merges every input format into the output; unsupported_conversion when none does. */
  merge(request: MergeRequest, context?: ConvertContext): Promise<MergeResult>;
  /** Closes every engine. */
  close(): Promise<void>;
}

/**
 * Probes every engine once and returns the dispatcher. Order is preference: when two engines
 * can do a conversion, the earlier one gets it. A probe that throws counts as unavailable.
 */
export async function loadEngineRegistry(engines: readonly Engine[]): Promise<EngineRegistry> {
  const probes: EngineStatus[] = [];
  const pairs = new Map<Engine, Set<string>>();
  for (const engine of engines) {
    const probe = await engine.probe().catch(
      (err: unknown): EngineProbe => ({ version: "unknown", conversions: [], available: false, missing: String(err) }),
    );
    probes.push({ ...probe, name: engine.name, engineClass: engine.engineClass });
    if (probe.available) pairs.set(engine, new Set(probe.conversions.map((p) => pairKey(p.from, p.to, p.operation))));
  }
  const findEngine = (from: string, to: string, operation?: "compress" | "merge" | "extract" | "secure") => {
    const key = pairKey(from, to, operation);
    return engines.find((engine) => pairs.get(engine)?.has(key));
  };
  return {
    engines,
    probes,
    findEngine,
    convert(request, context) {
      const engine = findEngine(request.inputFormat, request.outputFormat);
      if (!engine) return Promise.reject(notSupported(`no engine here converts ${normalizeFormat(request.inputFormat)} to ${normalizeFormat(request.outputFormat)}`));
      return engine.convert(request, context);
    },
    extract(request, context) {
      const engine = findEngine(request.format, request.format, "extract");
      if (!engine?.extract) return Promise.reject(notSupported(`no engine here extracts ${normalizeFormat(request.format)}`));
      return engine.extract(request, context);
    },
    capture(request, context) {
      const engine = engines.find((e) => e.capture && e.engineClass === "browser" && pairs.has(e));
      if (!engine?.capture) return Promise.reject(notSupported("no engine here captures web pages (Chromium is not installed)"));
      return engine.capture(request, context);
    },
    secure(request, context) {
      const engine = findEngine(request.format, request.format, "secure");
      if (!engine?.secure) return Promise.reject(notSupported(`no engine here secures ${normalizeFormat(request.format)}`));
      return engine.secure(request, context);
    },
    compress(request, context) {
      const engine = findEngine(request.format, request.format, "compress");
      if (!engine?.compress) return Promise.reject(notSupported(`no engine here compresses ${normalizeFormat(request.format)}`));
      return engine.compress(request, context);
    },
    merge(request, context) {
      // One engine must take every input: the first input picks it, the others must agree.
      const [first] = request.inputs;
      const engine = first && findEngine(first.format, request.outputFormat, "merge");
      const odd = request.inputs.find((input) => !engine || !pairs.get(engine)?.has(pairKey(input.format, request.outputFormat, "merge")));
      if (!engine?.merge || odd) {
        return Promise.reject(notSupported(`no engine here merges ${normalizeFormat(odd?.format ?? first?.format ?? "nothing")} into ${normalizeFormat(request.outputFormat)}`));
      }
      return engine.merge(request, context);
    },
    async close() {
      await Promise.all(engines.map((engine) => engine.close()));
    },
  };
}

function pairKey(from: string, to: string, operation?: string): string {
  return `${operation ?? "convert"}:${normalizeFormat(from)}>${normalizeFormat(to)}`;
}

/** The typed "not supported" failure of the dispatcher (a Gotenberg habit: say it, do not guess). */
function notSupported(message: string): AppError {
  return new AppError("unsupported_conversion", message);
}
