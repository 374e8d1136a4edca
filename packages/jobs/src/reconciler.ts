/**
 * The reconciler: the safety net under the outbox. At boot and periodically it re-enqueues
 * queued tasks (the embedded queue lives in memory and is empty after a restart; a Redis queue
 * may have lost a message), takes back tasks whose worker stopped heartbeating, and fails
 * upload tasks whose form expired. One process at a time does it (an advisory lock).
 */
import { expireUploads } from "./uploads.js";
import { dedupeKey } from "./transitions.js";
import type { EngineDeps } from "./types.js";

const RECONCILE_LOCK = 0x7472_6d01; // "trm" + 1: the reconciler's advisory lock key

/** What one pass did. */
export interface ReconcileReport {
  requeued: number;
  takenBack: number;
  uploadsExpired: number;
  skipped: boolean;
}

/**
 * One pass. `queuedOlderThanMs` spares tasks queued moments ago whose message is surely on its
 * way (0 at boot, when the in-process queue is known to be empty).
 */
export async function reconcileOnce(deps: EngineDeps, opts: { queuedOlderThanMs: number }): Promise<ReconcileReport> {
  const { prisma, queue, settings } = deps;
  return prisma.$transaction(
    async (tx) => {
      const [lock] = await tx.$queryRaw<Array<{ ok: boolean }>>`SELECT pg_try_advisory_xact_lock(${RECONCILE_LOCK}) AS ok`;
      if (!lock?.ok) return { requeued: 0, takenBack: 0, uploadsExpired: 0, skipped: true };
      // Enqueueing a task that is still on the queue is a no-op (same dedupe key), and one whose
      // message was lost gets it back; so every task queued for a while is simply enqueued again.
      const queuedBefore = new Date(Date.now() - opts.queuedOlderThanMs);
      const queued = await tx.task.findMany({
        where: { status: "queued", updatedAt: { lte: queuedBefore } },
        select: { id: true, engineClass: true, attempt: true },
        take: 1000,
      });
      for (const t of queued) await queue.enqueue(t.engineClass, { taskId: t.id }, dedupeKey(t.id, t.attempt));
      const requeued = queued.length;
      const staleBefore = new Date(Date.now() - settings.staleAfterSeconds * 1000);
      const stale = await tx.task.findMany({
        where: { status: "processing", attemptToken: { not: null }, heartbeatAt: { lt: staleBefore } },
        select: { id: true, engineClass: true, attempt: true },
        take: 1000,
      });
      for (const t of stale) await queue.enqueue(t.engineClass, { taskId: t.id }, dedupeKey(t.id, t.attempt, ".r"));
      return { requeued, takenBack: stale.length, uploadsExpired: 0, skipped: false };
    },
    { maxWait: 15_000, timeout: 60_000 },
  ).then(async (report) => {
    if (!report.skipped) report.uploadsExpired = await expireUploads(deps);
    return report;
  });
}

/** A periodic reconciler. */
export interface Reconciler {
  close(): Promise<void>;
}

/** Runs a pass now (as at boot) and then every `intervalMs`. */
export async function startReconciler(deps: EngineDeps, opts: { intervalMs: number; boot: boolean }): Promise<Reconciler> {
  const first = await reconcileOnce(deps, { queuedOlderThanMs: opts.boot ? 0 : opts.intervalMs });
  if (first.requeued || first.takenBack || first.uploadsExpired) deps.log.info(first, "reconciler recovered work at start");
  let running: Promise<unknown> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = reconcileOnce(deps, { queuedOlderThanMs: opts.intervalMs })
      .then((r) => {
        if (r.requeued || r.takenBack || r.uploadsExpired) deps.log.info(r, "reconciler recovered work");
      })
      .catch((err) => deps.log.warn({ err }, "reconciler pass failed"))
      .finally(() => {
        running = null;
      });
  }, opts.intervalMs);
  timer.unref();
  return {
    async close() {
      clearInterval(timer);
      if (running) await running;
    },
  };
}
