/**
 * The scaled-out queue (BullMQ, one queue per engine class) and event bus (Redis pub/sub).
 * Producers fail fast when Redis is down (no offline queue: the outbox keeps the work and the
 * relay retries); consumers wait it out (BullMQ reconnects forever).
 */
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import type { DomainEvent, EventBus, QueueConsumer, TaskHandler, TaskQueue } from "./types.js";

/** Options of the BullMQ queue. */
export interface BullQueueOptions {
  redisUrl: string;
  /** Key prefix; tests use a fresh one each. Default "transmute". */
  prefix?: string;
  /**
   * How long a consumer's lock on a message lasts, ms; a killed worker's message is redelivered
   * after it expires. Default 30000 (BullMQ's own).
   */
  lockDurationMs?: number;
  /** How often stalled messages are looked for, ms. Default 30000. */
  stalledIntervalMs?: number;
}

const queueName = (engineClass: string) => `tasks-${engineClass}`;

/** Creates the BullMQ task queue. */
export function createBullQueue(opts: BullQueueOptions): TaskQueue {
  const prefix = opts.prefix ?? "transmute";
  const producer = new Redis(opts.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false });
  producer.on("error", () => undefined);
  const queues = new Map<string, Queue>();
  const consumers = new Set<QueueConsumer>();
  const queueFor = (engineClass: string): Queue => {
    let q = queues.get(engineClass);
    if (!q) {
      q = new Queue(queueName(engineClass), { connection: producer, prefix, skipWaitingForReady: true });
      q.on("error", () => undefined);
      queues.set(engineClass, q);
    }
    return q;
  };

  return {
    kind: "bullmq",
    async enqueue(engineClass, message, dedupeKey) {
      await queueFor(engineClass).add("run", message, {
        jobId: dedupeKey,
        removeOnComplete: true,
        removeOnFail: true,
        // Task failures are recorded in the database by the handler; a message is never retried
        // by BullMQ itself (a lost worker is recovered by stalled-job redelivery and the reconciler).
        attempts: 1,
      });
    },
    consume(engineClasses, handler: TaskHandler, { concurrency }) {
      const workers = engineClasses.map((engineClass) => {
        const connection = new Redis(opts.redisUrl, { maxRetriesPerRequest: null });
        connection.on("error", () => undefined);
        const worker = new Worker(queueName(engineClass), async (job) => handler(job.data), {
          connection,
          prefix,
          concurrency,
          lockDuration: opts.lockDurationMs ?? 30_000,
          stalledInterval: opts.stalledIntervalMs ?? 30_000,
          maxStalledCount: 5,
        });
        worker.on("error", () => undefined);
        return { worker, connection };
      });
      const consumer: QueueConsumer = {
        async close() {
          consumers.delete(consumer);
          await Promise.all(workers.map(async ({ worker, connection }) => {
            await worker.close();
            connection.disconnect();
          }));
        },
      };
      consumers.add(consumer);
      return consumer;
    },
    async close() {
      await Promise.all([...consumers].map((c) => c.close()));
      await Promise.all([...queues.values()].map((q) => q.close()));
      producer.disconnect();
    },
  };
}

/** Creates an event bus on Redis pub/sub; `channel` namespaces it (tests use a fresh one). */
export function createRedisEventBus(opts: { redisUrl: string; channel?: string }): EventBus {
  const channel = opts.channel ?? "transmute:events";
  const pub = new Redis(opts.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  pub.on("error", () => undefined);
  let sub: Redis | null = null;
  const listeners = new Set<(event: DomainEvent) => void>();
  const ensureSubscribed = () => {
    if (sub) return;
    sub = new Redis(opts.redisUrl, { maxRetriesPerRequest: null });
    sub.on("error", () => undefined);
    void sub.subscribe(channel).catch(() => undefined);
    sub.on("message", (_channel: string, raw: string) => {
      let event: DomainEvent;
      try {
        event = JSON.parse(raw) as DomainEvent;
      } catch {
        return;
      }
      for (const listener of listeners) {
        try {
          listener(event);
        } catch {
          // One listener's failure must not stop the others.
        }
      }
    });
  };

  return {
    kind: "redis",
    async publish(event) {
      await pub.publish(channel, JSON.stringify(event));
    },
    subscribe(listener) {
      ensureSubscribed();
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      listeners.clear();
      pub.disconnect();
      sub?.disconnect();
    },
  };
}
