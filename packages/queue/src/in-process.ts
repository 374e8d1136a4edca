/**
 * The embedded mode's queue and bus: plain memory. Nothing here survives a restart, and nothing
 * needs to: the job engine rebuilds the queue from the database at start (the reconciler).
 */
import { EventEmitter } from "node:events";
import type { DomainEvent, EventBus, QueueConsumer, TaskHandler, TaskMessage, TaskQueue } from "./types.js";

interface Lane {
  pending: Array<{ message: TaskMessage; key: string }>;
  keys: Set<string>;
  wake: Set<() => void>;
}

/** A FIFO queue per engine class, in memory. */
export function createInProcessQueue(): TaskQueue {
  const lanes = new Map<string, Lane>();
  let closed = false;
  const lane = (name: string): Lane => {
    let l = lanes.get(name);
    if (!l) {
      l = { pending: [], keys: new Set(), wake: new Set() };
      lanes.set(name, l);
    }
    return l;
  };

  return {
    kind: "in-process",
    async enqueue(engineClass, message, dedupeKey) {
      if (closed) throw new Error("queue is closed");
      const l = lane(engineClass);
      if (l.keys.has(dedupeKey)) return;
      l.keys.add(dedupeKey);
      l.pending.push({ message, key: dedupeKey });
      for (const wake of l.wake) wake();
    },
    consume(engineClasses, handler: TaskHandler, { concurrency }): QueueConsumer {
      let stopping = false;
      const stopWaiters = new Set<() => void>();
      const running = new Set<Promise<void>>();
      const loops: Promise<void>[] = [];
      for (const name of engineClasses) {
        const l = lane(name);
        for (let i = 0; i < concurrency; i++) {
          loops.push(
            (async () => {
              while (!stopping) {
                const item = l.pending.shift();
                if (!item) {
                  await new Promise<void>((resolve) => {
                    const wake = () => {
                      l.wake.delete(wake);
                      stopWaiters.delete(wake);
                      resolve();
                    };
                    l.wake.add(wake);
                    stopWaiters.add(wake);
                  });
                  continue;
                }
                l.keys.delete(item.key);
                const run = handler(item.message).catch(() => undefined);
                running.add(run);
                await run;
                running.delete(run);
              }
            })(),
          );
        }
      }
      return {
        async close() {
          stopping = true;
          for (const wake of stopWaiters) wake();
          await Promise.all(loops);
        },
      };
    },
    async close() {
      closed = true;
    },
  };
}

/** An event bus on a process-local EventEmitter. */
export function createInProcessEventBus(): EventBus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    kind: "in-process",
    async publish(event: DomainEvent) {
      emitter.emit("event", event);
    },
    subscribe(listener) {
      const safe = (event: DomainEvent) => {
        try {
          listener(event);
        } catch {
          // A listener's failure must not stop delivery to the others.
        }
      };
      emitter.on("event", safe);
      return () => emitter.off("event", safe);
    },
    async close() {
      emitter.removeAllListeners();
    },
  };
}
