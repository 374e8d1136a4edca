/**
 * Transactions of the job engine. Every state change of a job's tasks runs inside
 * `withJobLock`, which locks the job row first: two tasks of one job ending at the same moment
 * are serialised, so a fan-in task sees both and becomes ready exactly once.
 */
import type { Prisma, PrismaClient } from "@transmute/db";
import type { EngineDeps } from "./types.js";
import { queueWebhookDeliveries } from "./webhooks.js";

/** The transaction client. */
export type Tx = Prisma.TransactionClient;

/** Work collected during a transaction, done after commit (kick the outbox relay). */
export interface TxEffects {
  outboxWritten: boolean;
}

const RETRYABLE = /deadlock detected|could not serialize|40P01|40001|P2034/i;

/** Runs `fn` in a transaction, retrying a few times on deadlocks and serialization failures. */
export async function inTransaction<T>(prisma: PrismaClient, fn: (tx: Tx) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await prisma.$transaction(fn, { maxWait: 15_000, timeout: 60_000 });
    } catch (err) {
      if (attempt >= 5 || !RETRYABLE.test(String((err as Error)?.message ?? err))) throw err;
      await new Promise((resolve) => setTimeout(resolve, 20 * attempt + Math.random() * 50));
    }
  }
}

/** Locks a job row for the rest of the transaction. */
export async function lockJob(tx: Tx, jobId: string): Promise<boolean> {
  const rows = await tx.$queryRaw<Array<{ id: string }>>`SELECT id FROM "Job" WHERE id = ${jobId}::uuid FOR UPDATE`;
  return rows.length > 0;
}

/** Writes an outbox row: work published by the relay after commit. */
export async function writeOutbox(tx: Tx, kind: "enqueue" | "event", payload: Record<string, unknown>): Promise<void> {
  await tx.outbox.create({ data: { kind, payload: payload as Prisma.InputJsonValue } });
}

/** Writes an event to the outbox. */
export async function emitEvent(
  tx: Tx,
  type: string,
  ids: { accountId: string; jobId: string; taskId?: string },
  extra: Record<string, unknown> = {},
): Promise<void> {
  await writeOutbox(tx, "event", { type, ...ids, at: Date.now(), ...extra });
  // In the same transaction: a webhook delivery exists exactly when the event does.
  await queueWebhookDeliveries(tx, type, ids);
}

/** A transaction of the job engine: after commit, the relay is kicked. */
export async function engineTransaction<T>(deps: EngineDeps, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const out = await inTransaction(deps.prisma, fn);
  deps.onCommit?.();
  return out;
}
