/** The limits of the connector imports: their time limit, on top of the task's own, and the prefix cap. */
import { AppError } from "@transmute/core";
import type { OperationContext } from "./context.js";

/**
 * Most objects one prefix import (key_prefix, file_prefix, blob_prefix) takes: a prefix is a
 * batch, not a bucket mirror; past this the task fails before downloading anything.
 */
export const MAX_PREFIX_OBJECTS = 1000;

/** A running import's deadline: `min(TRANSMUTE_IMPORT_URL_TIMEOUT_SECONDS, the task's timeout)`. */
export interface ImportDeadline {
  /** Aborts when the task is stopped (its signal) or the deadline passes. */
  readonly signal: AbortSignal;
  /**
   * What to throw for `err`: `engine_timeout` naming `what` when the deadline (and not the task's
   * own signal, which the worker reports itself) stopped the import, else `err` mapped by `map`.
   */
  failure(err: unknown, what: string, map: (err: unknown) => unknown): unknown;
  /** Stops the timer (call in `finally`). */
  clear(): void;
}

/** Starts the deadline of an import running in `ctx`. */
export function startImportDeadline(ctx: OperationContext): ImportDeadline {
  const ms = Math.min(ctx.limits.importUrlTimeoutMs, ctx.limits.timeoutMs);
  const timer = new AbortController();
  const timeout = setTimeout(() => timer.abort(), ms);
  return {
    signal: AbortSignal.any([ctx.signal, timer.signal]),
    failure(err, what, map) {
      if (timer.signal.aborted && !ctx.signal.aborted) {
        return new AppError("engine_timeout", `The ${what} did not finish within its time limit of ${Math.round(ms / 1000)} s.`);
      }
      return map(err);
    },
    clear: () => clearTimeout(timeout),
  };
}
