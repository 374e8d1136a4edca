import { AppError, normalizeFormat, type EngineClass } from "@transmute/core";

/** One conversion an engine can do, in canonical format names. */
export interface ConversionPair {
  from: string;
  to: string;
  /** The operation: absent for convert; compress (to = from) or merge (every input `from` into `to`). */
  operation?: "compress" | "merge";
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
}

/** Per-call limits (a Filewall authorize request may set tighter ones than the operator). */
export interface ConvertLimits {
  /** Most pixels of an image input or output. */
  maxPixels?: number;
}

/** Per-call controls of a conversion. */
export interface ConvertContext {
  /** Aborting kills the work (the promise rejects with `canceled`). */
  signal?: AbortSignal;
  /** Wall-clock limit for this call; default the engine's own. */
  timeoutMs?: number;
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

/** One tool family behind one interface: sharp (images), pdf-lib (PDF assembly), Ghostscript (PDF compression). */
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
  findEngine(from: string, to: string, operation?: "compress" | "merge"): Engine | undefined;
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
  const findEngine = (from: string, to: string, operation?: "compress" | "merge") => {
    const key = pairKey(from, to, operation);
    return engines.find((engine) => pairs.get(engine)?.has(key));
  };
  return {
    engines,
    probes,
    findEngine,
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
