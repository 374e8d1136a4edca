/**
 * Which queue a ready task goes to. Imports and exports run on the `io` class that every worker
 * serves; a conversion's class depends on its input's format, known only once the input exists,
 * and on the engines that live workers registered (never on what this machine has installed).
 */
import { engineClassForConversion, normalizeFormat, staticEngineClass, type ErrorCode } from "@transmute/core";
import type { Tx } from "./tx.js";

/** Where a ready task goes, or why it cannot run. */
export type Route = { ok: true; engineClass: string } | { ok: false; code: ErrorCode; message: string };

let cache: { at: number; classes: Set<string> } | null = null;

/** The engine classes served by workers whose heartbeat is fresh (cached for a second). */
export async function liveEngineClasses(tx: Tx, staleAfterSeconds: number): Promise<Set<string>> {
  if (cache && Date.now() - cache.at < 1000) return cache.classes;
  const since = new Date(Date.now() - staleAfterSeconds * 1000);
  const workers = await tx.worker.findMany({ where: { heartbeatAt: { gt: since }, stoppedAt: null }, select: { engines: true } });
  const classes = new Set<string>();
  for (const w of workers) {
    const engines = (w.engines ?? {}) as { classes?: unknown };
    if (Array.isArray(engines.classes)) for (const c of engines.classes) if (typeof c === "string") classes.add(c);
  }
  cache = { at: Date.now(), classes };
  return classes;
}

/** Forgets the cached registrations (tests, and a worker that just registered in this process). */
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
  if (fixed) return { ok: true, engineClass: fixed };
  if (inputFormats.length === 0) return { ok: false, code: "no_input", message: "The input task produced no file to convert." };
  const declared = typeof task.payload.input_format === "string" ? normalizeFormat(task.payload.input_format) : null;
  const from = inputFormats[0] ?? declared;
  const to = normalizeFormat(String(task.payload.output_format ?? ""));
  if (!from) {
    return { ok: false, code: "unsupported_format", message: "The input file's format could not be identified from its bytes; set input_format if it is known." };
  }
  const engineClass = engineClassForConversion(from, to);
  if (!engineClass) {
    return { ok: false, code: "unsupported_conversion", message: `No engine converts ${from} to ${to}.` };
  }
  const live = await liveEngineClasses(tx, staleAfterSeconds);
  if (!live.has(engineClass)) {
    return {
      ok: false,
      code: "unsupported_conversion",
      message: `Converting ${from} to ${to} needs the "${engineClass}" engine, which no running worker has.`,
    };
  }
  return { ok: true, engineClass };
}
