/**
 * Which queue a ready task goes to. Imports and exports run on the `io` class that every worker
 * serves; a conversion's class depends on its input's format, known only once the input exists,
 * and on the engines that live workers registered (never on what this machine has installed).
 */
import { ARCHIVE_FORMATS, COMPRESSIBLE_FORMATS, SECURE_FORMATS, acceptedFormats, engineClassesForConversion, normalizeFormat, sameFormatFamily, staticEngineClass, type ErrorCode, type FormatOperation } from "@transmute/core";
import type { Tx } from "./tx.js";

/** Where a ready task goes, or why it cannot run. */
export type Route = { ok: true; engineClass: string } | { ok: false; code: ErrorCode; message: string };

/** What live workers can do: the engine classes they serve and the conversions their engines probed. */
export interface LiveCapabilities {
  classes: Set<string>;
  /** `from>to` pairs (convert) and `operation:from>to` pairs (compress, merge) by engine class. */
  conversions: Map<string, Set<string>>;
}

let cache: { at: number; caps: LiveCapabilities } | null = null;

/** Reads the capabilities of workers whose heartbeat is fresh (cached for a second). */
export async function liveCapabilities(tx: Pick<Tx, "worker">, staleAfterSeconds: number): Promise<LiveCapabilities> {
  if (cache && Date.now() - cache.at < 1000) return cache.caps;
  const since = new Date(Date.now() - staleAfterSeconds * 1000);
  const workers = await tx.worker.findMany({ where: { heartbeatAt: { gt: since }, stoppedAt: null }, select: { engines: true } });
  const caps: LiveCapabilities = { classes: new Set(), conversions: new Map() };
  for (const w of workers) {
    const reg = (w.engines ?? {}) as { classes?: unknown; engines?: unknown };
    if (Array.isArray(reg.classes)) for (const c of reg.classes) if (typeof c === "string") caps.classes.add(c);
    if (!Array.isArray(reg.engines)) continue;
    for (const engine of reg.engines as Array<{ engineClass?: unknown; conversions?: unknown }>) {
      if (typeof engine.engineClass !== "string" || !Array.isArray(engine.conversions)) continue;
      let pairs = caps.conversions.get(engine.engineClass);
      if (!pairs) caps.conversions.set(engine.engineClass, (pairs = new Set()));
      for (const c of engine.conversions as Array<{ from?: unknown; to?: unknown; operation?: unknown }>) {
        pairs.add(pairKey(typeof c.operation === "string" ? (c.operation as FormatOperation) : "convert", String(c.from), String(c.to)));
      }
    }
  }
  cache = { at: Date.now(), caps };
  return caps;
}

/** Forgets the cached capabilities (tests, and a worker that just registered in this process). */
export function forgetLiveEngineClasses(): void {
  cache = null;
}

/** Decides the engine class of a ready task from its operation, payload and input formats. */
export async function routeTask(
  tx: Tx,
  task: { operation: string; payload: Record<string, unknown> },
  inputFormats: Array<string | null>,
  staleAfterSeconds: number,
): Promise<Route> {
  const fixed = staticEngineClass(task.operation);
  if (fixed === "io") return { ok: true, engineClass: fixed };
  if (fixed) {
    // An operation tied to one tool (import/webpage: Chromium) needs a live worker that has it.
    const live = await liveCapabilities(tx, staleAfterSeconds);
    if (live.classes.has(fixed)) return { ok: true, engineClass: fixed };
    return { ok: false, code: "unsupported_conversion", message: `No running worker runs ${task.operation} (the "${fixed}" engine is not installed or not running).` };
  }
  if (task.operation === "compress" || task.operation === "merge" || task.operation === "extract" || task.operation === "secure") {
    return routeByInputs(tx, task.operation, task.payload, inputFormats, staleAfterSeconds);
  }
  if (inputFormats.length === 0) return { ok: false, code: "no_input", message: "The input task produced no file to convert." };
  const declared = typeof task.payload.input_format === "string" ? normalizeFormat(task.payload.input_format) : null;
  // Where the bytes cannot tell two formats apart (txt for csv), the declared one wins.
  const detected = inputFormats[0] ?? null;
  const from = declared && detected && sameFormatFamily(declared, detected) ? declared : (detected ?? declared);
  const to = normalizeFormat(String(task.payload.output_format ?? ""));
  if (!from) {
    return { ok: false, code: "unsupported_format", message: "The input file's format could not be identified from its bytes; set input_format if it is known." };
  }
  const candidates = engineClassesForConversion(from, to);
  if (candidates.length === 0) {
    return { ok: false, code: "unsupported_conversion", message: `No engine converts ${from} to ${to}.` };
  }
  const live = await liveCapabilities(tx, staleAfterSeconds);
  const key = `${normalizeFormat(from)}>${to}`;
  const engineClass = candidates.find((c) => live.classes.has(c) && live.conversions.get(c)?.has(key));
  if (!engineClass) {
    return {
      ok: false,
      code: "unsupported_conversion",
      message: `No running worker converts ${from} to ${to} (the "${candidates.join('" or "')}" engine lacks it or is not running).`,
    };
  }
  return { ok: true, engineClass };
}

/** The key of one live pair; convert keeps the plain `from>to` form older workers register. */
function pairKey(operation: FormatOperation, from: string, to: string): string {
  return operation === "convert" ? `${from}>${to}` : `${operation}:${from}>${to}`;
}

/**
 * compress (to the input's own format) and merge (every input into `output_format`): each input
 * format must be in the table for the operation, and some live worker of the engine class must
 * have probed that pair. The first input that fails decides the message, naming its position.
 */
async function routeByInputs(
  tx: Tx,
  operation: "compress" | "merge" | "extract" | "secure",
  payload: Record<string, unknown>,
  inputFormats: Array<string | null>,
  staleAfterSeconds: number,
): Promise<Route> {
  if (inputFormats.length === 0) return { ok: false, code: "no_input", message: `The input tasks produced no file to ${operation}.` };
  const declared = typeof payload.input_format === "string" ? normalizeFormat(payload.input_format) : null;
  const target = operation === "merge" ? normalizeFormat(String(payload.output_format ?? "")) : null;
  let engineClass: string | null = null;
  const pairs: string[] = [];
  for (const [i, format] of inputFormats.entries()) {
    const from = format && declared && operation !== "merge" && sameFormatFamily(declared, format) ? declared : (format ?? (operation === "merge" ? null : declared));
    const to = target ?? from;
    const cls = from && to ? (engineClassesForConversion(from, to, operation)[0] ?? null) : null;
    if (!from || !to || !cls) {
      const accepted =
        operation === "merge" ? acceptedFormats("merge", target ?? "") : operation === "extract" ? ARCHIVE_FORMATS : operation === "secure" ? SECURE_FORMATS : COMPRESSIBLE_FORMATS;
      const which = operation === "merge" ? `Input ${i + 1} of the merge` : "The input file";
      const what = from ? `is ${from}` : "has a format that could not be identified from its bytes";
      const into = operation === "merge" ? `merge into ${target} takes` : `${operation} takes`;
      return { ok: false, code: "unsupported_format", message: `${which} ${what}; ${into} ${[...new Set(accepted)].sort().join(", ")}.` };
    }
    engineClass = cls;
    pairs.push(pairKey(operation, normalizeFormat(from), to));
  }
  const live = await liveCapabilities(tx, staleAfterSeconds);
  const offered = live.conversions.get(engineClass!);
  const missing = pairs.find((p) => !live.classes.has(engineClass!) || !offered?.has(p));
  if (missing !== undefined) {
    const [from, to] = missing.slice(missing.indexOf(":") + 1).split(">");
    const what = operation === "merge" ? `merges ${from} into ${to}` : `${operation === "compress" ? "compresses" : operation === "extract" ? "extracts" : "secures"} ${from}`;
    return { ok: false, code: "unsupported_conversion", message: `No running worker ${what} (the "${engineClass}" engine lacks it or is not running).` };
  }
  return { ok: true, engineClass: engineClass! };
}
