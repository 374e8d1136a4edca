/**
 * The tasks this worker is running, watched on the event bus: when one of them is canceled,
 * deleted, or failed by someone else (its input deleted), its claim is checked at once instead
 * of at the next heartbeat, and a lost claim stops the run (its pool child killed, its scratch
 * removed). The heartbeat stays the safety net for an event that never arrives.
 */
import type { EventBus } from "@transmute/queue";

/** Events after which a running task may have lost its claim. */
const STOP_EVENTS: ReadonlySet<string> = new Set(["task.canceled", "task.deleted", "task.failed"]);

/** The registry of running tasks. */
export interface RunningTasks {
  /** Registers a run; `checkClaim` renews the claim now and stops the run if it was lost. Returns the unregister function. */
  add(taskId: string, checkClaim: () => void): () => void;
  /** Stops watching the bus. */
  close(): void;
}

/** Watches `events` for the tasks registered with the returned registry. */
export function watchRunningTasks(events: EventBus): RunningTasks {
  const running = new Map<string, Set<() => void>>();
  const unsubscribe = events.subscribe((event) => {
    if (!event.taskId || !STOP_EVENTS.has(event.type)) return;
    for (const check of running.get(event.taskId) ?? []) check();
  });
  return {
    add(taskId, checkClaim) {
      let checks = running.get(taskId);
      if (!checks) running.set(taskId, (checks = new Set()));
      checks.add(checkClaim);
      return () => {
        checks.delete(checkClaim);
        if (checks.size === 0 && running.get(taskId) === checks) running.delete(taskId);
      };
    },
    close() {
      unsubscribe();
      running.clear();
    },
  };
}
