/**
 * A counting semaphore with a FIFO queue: at most `max` LibreOffice runs at once (each is a
 * whole office process of 150-300 MB), the rest wait their turn; a waiter whose signal aborts
 * leaves the queue at once.
 */
import { AppError } from "@transmute/core";

/** Gives out at most `max` slots at a time. */
export interface Limiter {
  /** Resolves with the function that frees the slot (safe to call twice); rejects with canceled when `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<() => void>;
  /** Slots in use now. */
  readonly running: number;
  /** Callers waiting for a slot. */
  readonly waiting: number;
}

/** Creates a limiter of `max` slots (at least 1). */
export function createLimiter(max: number): Limiter {
  const slots = Math.max(1, Math.floor(max));
  let running = 0;
  const queue: Array<() => void> = [];
  const next = () => {
    while (running < slots && queue.length > 0) queue.shift()?.();
  };
  return {
    get running() {
      return running;
    },
    get waiting() {
      return queue.length;
    },
    acquire(signal) {
      return new Promise((resolve, reject) => {
        if (signal?.aborted) return reject(new AppError("canceled", "the conversion was canceled"));
        const grant = () => {
          signal?.removeEventListener("abort", onAbort);
          running++;
          let freed = false;
          resolve(() => {
            if (freed) return;
            freed = true;
            running--;
            next();
          });
        };
        const onAbort = () => {
          const at = queue.indexOf(grant);
          if (at < 0) return;
          queue.splice(at, 1);
          reject(new AppError("canceled", "the conversion was canceled while it waited for LibreOffice"));
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        queue.push(grant);
        next();
      });
    },
  };
}
