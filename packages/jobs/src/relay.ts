/**
 * The outbox relay: publishes, in commit order, the work that transactions wrote (tasks to
 * enqueue, events) and deletes the rows in the same transaction. Rows are locked with
 * SKIP LOCKED, so any number of processes relay side by side without publishing a row twice
 * while it is being handled; a crash after publishing and before commit publishes it again,
 * which is harmless (enqueues are deduplicated and claims are conditional; events are re-reads).
 */
import type { DomainEvent } from "@transmute/queue";
import { startKickLoop } from "./kick-loop.js";
import { inTransaction } from "./tx.js";
import type { EngineDeps } from "./types.js";

/** A running relay. */
export interface OutboxRelay {
  /** Asks for a pass now (after a commit that wrote outbox rows). */
  kick(): void;
  /** Runs passes until the outbox is empty; for tests and shutdown. */
  drain(): Promise<void>;
  close(): Promise<void>;
}

interface Row {
  id: bigint;
  kind: string;
  payload: Record<string, unknown>;
}

const BATCH = 200;

/** Publishes one batch; returns how many rows it handled. */
export async function relayOnce(deps: EngineDeps, batch = BATCH): Promise<number> {
  return inTransaction(deps.prisma, async (tx) => {
    const rows = await tx.$queryRaw<Row[]>`SELECT id, kind, payload FROM "Outbox" ORDER BY id LIMIT ${batch} FOR UPDATE SKIP LOCKED`;
    if (rows.length === 0) return 0;
    for (const row of rows) {
      if (row.kind === "enqueue") {
        const p = row.payload as { taskId: string; engineClass: string; dedupeKey: string };
        await deps.queue.enqueue(p.engineClass, { taskId: p.taskId }, p.dedupeKey);
      } else if (row.kind === "event") {
        await deps.events.publish(row.payload as unknown as DomainEvent);
      }
    }
    await tx.outbox.deleteMany({ where: { id: { in: rows.map((r) => r.id) } } });
    return rows.length;
  });
}

/** Starts a relay that runs on kicks and every `pollMs` (default 500). */
export function startOutboxRelay(deps: EngineDeps, opts: { pollMs?: number } = {}): OutboxRelay {
  return startKickLoop(
    async () => {
      // A short batch means the outbox was drained; rows committed since come with their own kick.
      while ((await relayOnce(deps, BATCH)) >= BATCH) {
        /* keep going while batches come back full */
      }
    },
    { pollMs: opts.pollMs ?? 500, onError: (err) => deps.log.warn({ err }, "outbox relay pass failed; will retry") },
  );
}
