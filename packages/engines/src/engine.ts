import { normalizeFormat, type EngineClass } from "@transmute/core";

/** One conversion an engine can do, in canonical format names. */
export interface ConversionPair {
  from: string;
  to: string;
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

/** One tool family behind one interface: the image engine now; office, media and pdf beside it later. */
export interface Engine {
  /** Short tool name, e.g. "sharp". */
  readonly name: string;
  /** The queue this engine's work runs on. */
  readonly engineClass: EngineClass;
  /** Reports versions and supported conversions; never throws (an unusable tool is `available: false`). */
  probe(): Promise<EngineProbe>;
  /** Converts one file; rejects with an AppError (unsupported_conversion, corrupt_file, engine_timeout...). */
  convert(request: ConvertRequest, context?: ConvertContext): Promise<ConvertResult>;
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
  /** The first available engine that converts `from` to `to` (aliases allowed), if any. */
  findEngine(from: string, to: string): Engine | undefined;
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
    if (probe.available) pairs.set(engine, new Set(probe.conversions.map((p) => pairKey(p.from, p.to))));
  }
  return {
    engines,
    probes,
    findEngine(from, to) {
      const key = pairKey(from, to);
      return engines.find((engine) => pairs.get(engine)?.has(key));
    },
    async close() {
      await Promise.all(engines.map((engine) => engine.close()));
    },
  };
}

function pairKey(from: string, to: string): string {
  return `${normalizeFormat(from)}>${normalizeFormat(to)}`;
}
