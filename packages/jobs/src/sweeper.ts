/**
 * The sweeper: enforces retention. Files past their expiry (their task's creation plus the file
 * retention) are marked `expired` and their stored objects deleted; jobs past the task retention
 * are deleted with their tasks, edges, files and upload slots. One process at a time does the
 * database part (an advisory lock per batch transaction), in bounded batches. A stored object is
 * deleted only when no live file row still references it: export/url files are the objects of
 * their inputs, possibly in an earlier job that expires first.
 */
import type { EngineDeps } from "./types.js";
import type { Tx } from "./tx.js";
import { pruneFilewallTombstones } from "./filewall.js";
import { LIVE_FILE_STATUSES, leftoversOfDeletedTasks, removeLeftovers, unreferencedKeys, type ObjectRemover } from "./stored-objects.js";

const SWEEP_LOCK = 0x7472_6d02; // "trm" + 2: the sweeper's advisory lock key (the reconciler has 1)

/** Rows one transaction handles (default of `batchSize`). */
const DEFAULT_BATCH = 500;
/** Batches of each kind one pass handles at most, so a huge backlog cannot hold a pass for long. */
const MAX_BATCHES = 20;


/** Options of a sweep. */
export interface SweepOptions {
  /** Jobs (with their tasks) are deleted this long after creation, once they have ended. */
  taskRetentionSeconds: number;
  /** Rows per batch transaction (default 500). */
  batchSize?: number;
  /** Housekeeping of this process's own disk (scratch directories), run on every pass; returns what it removed. */
  sweepLocal?: () => Promise<number>;
  /** Housekeeping of shared storage (stale temp files), run only by the process holding the lock; returns what it removed. */
  sweepShared?: () => Promise<number>;
}

/** What one pass did. */
export interface SweepReport {
  /** False when another process held the lock: this one did only its local housekeeping. */
  ran: boolean;
  filesExpired: number;
  jobsDeleted: number;
  objectsDeleted: number;
  prefixesDeleted: number;
  localRemoved: number;
  sharedRemoved: number;
}

/** What a batch transaction leaves to do after commit. */
interface BatchOutcome {
  locked: boolean;
  rows: number;
  keys: string[];
  prefixes: string[];
}

/** One pass: expire files, delete old jobs, then the housekeeping. Never throws for housekeeping. */
export async function sweepOnce(deps: EngineDeps, store: ObjectRemover, opts: SweepOptions): Promise<SweepReport> {
  const batchSize = opts.batchSize ?? DEFAULT_BATCH;
  const report: SweepReport = { ran: false, filesExpired: 0, jobsDeleted: 0, objectsDeleted: 0, prefixesDeleted: 0, localRemoved: 0, sharedRemoved: 0 };
  const finish = async (outcome: BatchOutcome) => {
    // After commit: a crash or a failure here leaves objects behind, never a live row without its
    // bytes; deleting the job later tries the keys of its expired rows again.
    await removeLeftovers(deps, store, outcome);
    report.objectsDeleted += outcome.keys.length;
    report.prefixesDeleted += outcome.prefixes.length;
  };
  for (let i = 0; i < MAX_BATCHES; i++) {
    const outcome = await lockedBatch(deps, (tx) => expireFilesBatch(tx, batchSize));
    if (!outcome.locked) break;
    report.ran = true;
    report.filesExpired += outcome.rows;
    await finish(outcome);
    if (outcome.rows < batchSize) break;
  }
  if (report.ran) {
    const before = new Date(Date.now() - opts.taskRetentionSeconds * 1000);
    const jobBatch = Math.max(1, Math.floor(batchSize / 10));
    for (let i = 0; i < MAX_BATCHES; i++) {
      const outcome = await lockedBatch(deps, (tx) => deleteJobsBatch(tx, before, jobBatch));
      if (!outcome.locked) break;
      report.jobsDeleted += outcome.rows;
      await finish(outcome);
      if (outcome.rows < jobBatch) break;
    }
    // Filewall tombstones of deleted jobs: rows only, no objects.
    await lockedBatch(deps, async (tx) => ({ rows: await pruneFilewallTombstones(tx), keys: [], prefixes: [] }));
    report.sharedRemoved = await runHousekeeping(deps, "shared", opts.sweepShared);
  }
  report.localRemoved = await runHousekeeping(deps, "local", opts.sweepLocal);
  return report;
}

async function runHousekeeping(deps: EngineDeps, what: string, fn: (() => Promise<number>) | undefined): Promise<number> {
  if (!fn) return 0;
  try {
    return await fn();
  } catch (err) {
    deps.log.warn({ err }, `sweeper: ${what} housekeeping failed; the next pass tries again`);
    return 0;
  }
}

async function lockedBatch(deps: EngineDeps, fn: (tx: Tx) => Promise<Omit<BatchOutcome, "locked">>): Promise<BatchOutcome> {
  return deps.prisma.$transaction(
    async (tx) => {
      const [lock] = await tx.$queryRaw<Array<{ ok: boolean }>>`SELECT pg_try_advisory_xact_lock(${SWEEP_LOCK}) AS ok`;
      if (!lock?.ok) return { locked: false, rows: 0, keys: [], prefixes: [] };
      return { locked: true, ...(await fn(tx)) };
    },
    { maxWait: 15_000, timeout: 60_000 },
  );
}

/** Marks a batch of files past their expiry `expired`; returns the objects no live row needs any more. */
async function expireFilesBatch(tx: Tx, batchSize: number): Promise<Omit<BatchOutcome, "locked">> {
  const due = await tx.file.findMany({
    where: { status: { in: LIVE_FILE_STATUSES }, expiresAt: { lte: new Date() } },
    select: { id: true, storageKey: true },
    orderBy: { expiresAt: "asc" },
    take: batchSize,
  });
  if (due.length === 0) return { rows: 0, keys: [], prefixes: [] };
  await tx.file.updateMany({ where: { id: { in: due.map((f) => f.id) } }, data: { status: "expired" } });
  return { rows: due.length, keys: await unreferencedKeys(tx, due.map((f) => f.storageKey)), prefixes: [] };
}

/**
 * Deletes a batch of jobs created before `before` that have ended (a job still running is kept
 * until it ends: every job does, through its tasks' timeouts). Returns the objects of their files
 * that no remaining live row references, and the storage prefixes of their tasks (leftovers of
 * failed attempts) where no remaining row has an object.
 */
async function deleteJobsBatch(tx: Tx, before: Date, batchSize: number): Promise<Omit<BatchOutcome, "locked">> {
  const jobs = await tx.job.findMany({
    where: { createdAt: { lte: before }, status: { notIn: ["created", "processing"] } },
    select: { id: true },
    orderBy: { createdAt: "asc" },
    take: batchSize,
  });
  if (jobs.length === 0) return { rows: 0, keys: [], prefixes: [] };
  const jobIds = jobs.map((j) => j.id);
  const tasks = await tx.task.findMany({ where: { jobId: { in: jobIds } }, select: { id: true, files: { select: { storageKey: true } } } });
  // Task, edge, file and upload-slot rows go with the job (ON DELETE CASCADE).
  await tx.job.deleteMany({ where: { id: { in: jobIds } } });
  return { rows: jobs.length, ...(await leftoversOfDeletedTasks(tx, tasks)) };
}


/** A periodic sweeper. */
export interface Sweeper {
  close(): Promise<void>;
}

/** Runs a pass now and then every `intervalMs`; a failed pass is logged and retried at the next tick. */
export function startSweeper(deps: EngineDeps, store: ObjectRemover, opts: SweepOptions & { intervalMs: number }): Sweeper {
  let running: Promise<unknown> | null = null;
  const pass = () => {
    if (running) return;
    running = sweepOnce(deps, store, opts)
      .then((r) => {
        if (r.filesExpired || r.jobsDeleted || r.localRemoved || r.sharedRemoved) deps.log.info(r, "sweeper deleted expired data");
      })
      .catch((err) => deps.log.warn({ err }, "sweeper pass failed"))
      .finally(() => {
        running = null;
      });
  };
  pass();
  const timer = setInterval(pass, opts.intervalMs);
  timer.unref();
  return {
    async close() {
      clearInterval(timer);
      if (running) await running;
    },
  };
}
