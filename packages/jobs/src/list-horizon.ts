/**
 * What makes a cursor walk skip nothing while jobs are being created. A walk pages by
 * (createdAt, id); a row that commits after the walk has passed its createdAt would be skipped.
 * So job creation holds a shared advisory lock for its whole transaction and stamps createdAt
 * from the database's clock read after taking it, and a cursor page first takes the same lock
 * exclusively (waiting for the creations in flight to commit) and reads the clock: the
 * horizon. Every row older than the horizon is committed and visible, and every later creation
 * stamps its rows at or after it, so a page that hands out only rows older than the horizon can
 * never have a late row appear behind it. The database's clock, not the gateways', so gateways
 * on machines whose clocks disagree still agree on it.
 */
import type { PrismaClient } from "@transmute/db";
import type { Tx } from "./tx.js";

const CREATION_LOCK = 0x7472_6d03; // "trm" + 3: reconciler 1, sweeper 2

/**
 * Takes the creation lock (shared: creations do not wait for each other) for the rest of the
 * transaction; returns a clock of the database's time, moving on with this process's monotonic
 * clock, for the createdAt of the rows it writes. Each reading is at least a millisecond after
 * the previous one (timestamps keep milliseconds), so the tasks of a job never tie and are listed
 * in the order they were written.
 */
export async function enterJobCreation(tx: Tx): Promise<() => Date> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock_shared(${CREATION_LOCK})`;
  const [row] = await tx.$queryRaw<Array<{ now: Date }>>`SELECT clock_timestamp() AS now`;
  const base = new Date(row!.now).getTime();
  const started = performance.now();
  let last = -Infinity;
  return () => {
    last = Math.max(last + 1, base + Math.floor(performance.now() - started));
    return new Date(last);
  };
}

/**
 * Waits for the job creations in flight, then returns the horizon: every row created before it
 * is committed, none will be created before it later. One millisecond is taken off, so that a
 * driver rounding the clock's microseconds either way cannot move a later row below it.
 */
export async function readListHorizon(prisma: PrismaClient): Promise<Date> {
  return prisma.$transaction(
    async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${CREATION_LOCK})`;
      const [row] = await tx.$queryRaw<Array<{ now: Date }>>`SELECT clock_timestamp() AS now`;
      return new Date(new Date(row!.now).getTime() - 1);
    },
    { maxWait: 15_000, timeout: 60_000 },
  );
}
