/**
 * A background pass that runs when kicked (after a commit) and on a poll, never twice at once:
 * a kick during a pass asks for one more pass. The outbox relay and the webhook sender use it.
 */

/** A running kick loop. */
export interface KickLoop {
  /** Asks for a pass now. */
  kick(): void;
  /** Kicks and waits until no pass is running. */
  drain(): Promise<void>;
  /** Stops the poll and waits for the running pass. */
  close(): Promise<void>;
}

/** Starts a loop running `work` on kicks and every `pollMs`; a failed pass goes to `onError` and the next kick retries. */
export function startKickLoop(work: () => Promise<void>, opts: { pollMs: number; onError: (err: unknown) => void }): KickLoop {
  let running: Promise<void> | null = null;
  let again = false;
  let closed = false;
  const pass = async (): Promise<void> => {
    do {
      again = false;
      try {
        await work();
      } catch (err) {
        opts.onError(err);
      }
    } while (again && !closed);
  };
  const kick = () => {
    if (closed) return;
    if (running) {
      again = true;
      return;
    }
    running = pass().finally(() => {
      running = null;
    });
  };
  const timer = setInterval(kick, opts.pollMs);
  timer.unref();
  return {
    kick,
    async drain() {
      kick();
      while (running) await running;
    },
    async close() {
      closed = true;
      clearInterval(timer);
      if (running) await running;
    },
  };
}
