/**
 * The Filewall facade's state: an authorization makes a job `import/upload -> secure ->
 * export/url` (tag `filewall`) through createJob, and a FilewallFile row that names it. The row
 * outlives the job as a tombstone: the status reads `archived` for `tombstoneSeconds` after
 * retention deleted the job, then 404.
 */
import { AppError, isAppError, type SecureOptions } from "@transmute/core";
import { createJob, signUploadSlot } from "./create-job.js";
import { FilewallError } from "./filewall-errors.js";
import { FILEWALL_TASKS, filewallUploadUrl, toFilewallView, type FilewallView } from "./filewall-view.js";
import { inTransaction, type Tx } from "./tx.js";
import { finishUpload, openUploadSlot, type OpenSlot } from "./uploads.js";
import type { EngineDeps, NewFile } from "./types.js";

/** The job tag of every Filewall file (GET /v1/process/jobs shows it). */
export const FILEWALL_TAG = "filewall";

/** The quota's rolling window. */
const QUOTA_WINDOW_MS = 30 * 24 * 3600 * 1000;

/** Advisory lock class of authorizations (the second key is the account's hash). */
const AUTHORIZE_LOCK = 0x6677_6c01; // "fwl" + 1

/** Limits of the facade (config.filewall). */
export interface FilewallSettings {
  /** Files an account may authorize per rolling 30 days (0: unlimited). */
  quota: number;
  /** Files of one key not yet finished or failed (0: unlimited). */
  maxInProgress: number;
  /** How long an upload link is valid, seconds. */
  uploadSeconds: number;
  /** How long a file reads `archived` after its job was deleted, seconds. */
  tombstoneSeconds: number;
}

/** Who authorizes: the account and the SHA-256 of the key used. */
export interface FilewallCaller {
  accountId: string;
  keyHash: string;
}

/**
 * Authorizes one file: checks the quota (402) and the key's files in progress (429) under a
 * per-account lock, so concurrent requests cannot both take the last place, then creates the job.
 */
export async function authorizeFilewallFile(deps: EngineDeps, caller: FilewallCaller, limits: SecureOptions, settings: FilewallSettings): Promise<FilewallView> {
  const uid = crypto.randomUUID();
  await inTransaction(deps.prisma, async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${AUTHORIZE_LOCK}::int, hashtext(${caller.accountId}))`;
    if (settings.quota > 0) {
      const used = await tx.filewallFile.count({ where: { accountId: caller.accountId, createdAt: { gt: new Date(Date.now() - QUOTA_WINDOW_MS) } } });
      if (used >= settings.quota) throw new FilewallError("payment_required", `account ${caller.accountId} authorized ${used} files in 30 days; TRANSMUTE_FILEWALL_QUOTA is ${settings.quota}`);
    }
    if (settings.maxInProgress > 0) {
      const busy = await countInProgress(tx, caller.keyHash);
      if (busy >= settings.maxInProgress) throw new FilewallError("too_many_requests", `key has ${busy} files in progress; TRANSMUTE_FILEWALL_MAX_IN_PROGRESS is ${settings.maxInProgress}`);
    }
    // Reserved before the job exists: a row without a job counts as in progress.
    await tx.filewallFile.create({ data: { uid, accountId: caller.accountId, keyHash: caller.keyHash, tombstoneSeconds: settings.tombstoneSeconds } });
  });
  try {
    const jobId = await createJob(deps, caller.accountId, {
      tag: FILEWALL_TAG,
      tasks: {
        [FILEWALL_TASKS.upload]: { operation: "import/upload" },
        [FILEWALL_TASKS.secure]: { operation: "secure", input: FILEWALL_TASKS.upload, options: { ...limits } },
        [FILEWALL_TASKS.export]: { operation: "export/url", input: FILEWALL_TASKS.secure },
      },
    });
    const row = await inTransaction(deps.prisma, async (tx) => {
      const slot = await tx.uploadSlot.findFirstOrThrow({ where: { task: { jobId, name: FILEWALL_TASKS.upload } } });
      // The link lives as long as Filewall's (uploadSeconds), not the import/upload default.
      const expires = Date.now() + settings.uploadSeconds * 1000;
      await tx.uploadSlot.update({ where: { id: slot.id }, data: { expiresAt: new Date(expires), signature: signUploadSlot(deps.settings.secret, slot.id, expires) } });
      return tx.filewallFile.update({ where: { uid }, data: { jobId, slotId: slot.id } });
    });
    // Answered from the row alone: the upload cannot have arrived before its link was sent.
    const view = toFilewallView(deps.settings, { ...row, jobId: null }, null);
    return { ...view, links: { ...view.links, upload: filewallUploadUrl(deps.settings, slotIdOf(row)) } };
  } catch (err) {
    await deps.prisma.filewallFile.delete({ where: { uid } }).catch(() => undefined);
    throw err;
  }
}

function slotIdOf(row: { slotId: string | null }): string {
  if (!row.slotId) throw new AppError("internal_error", "Internal error", { detail: "Filewall row without its upload slot" });
  return row.slotId;
}

/** Files of a key that have not finished or failed (reservations included). */
async function countInProgress(tx: Tx, keyHash: string): Promise<number> {
  const [row] = await tx.$queryRaw<Array<{ n: bigint }>>`
    SELECT count(*) AS n FROM "FilewallFile" f LEFT JOIN "Job" j ON j.id = f."jobId"
    WHERE f."keyHash" = ${keyHash} AND (f."jobId" IS NULL OR j.status IN ('created', 'processing'))`;
  return Number(row?.n ?? 0);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The status of a file of an account; an unknown uid, another account's, or an expired tombstone is 404. */
export async function getFilewallFile(deps: EngineDeps, accountId: string, uid: string): Promise<FilewallView> {
  const notFound = () => new FilewallError("not_found", `no Filewall file ${uid} for account ${accountId}`);
  if (!UUID.test(uid)) throw notFound();
  let row = await deps.prisma.filewallFile.findFirst({ where: { uid, accountId } });
  if (!row || (row.purgeAt && row.purgeAt.getTime() <= Date.now())) throw notFound();
  const job = row.jobId ? await deps.prisma.job.findUnique({ where: { id: row.jobId }, include: { tasks: { include: { files: true, uploadSlots: true } } } }) : null;
  if (row.jobId && !job && !row.purgeAt) row = await startTombstone(deps, row.uid, row.tombstoneSeconds);
  return toFilewallView(deps.settings, row, job);
}

/** Starts the tombstone's clock of a file whose job is gone (first to notice wins). */
async function startTombstone(deps: EngineDeps, uid: string, seconds: number) {
  await deps.prisma.filewallFile.updateMany({ where: { uid, purgeAt: null }, data: { purgeAt: new Date(Date.now() + seconds * 1000) } });
  return deps.prisma.filewallFile.findUniqueOrThrow({ where: { uid } });
}

/** The upload slot behind an upload token, if it can take the file; any other case is invalid_request. */
export async function openFilewallUpload(deps: EngineDeps, token: string): Promise<OpenSlot> {
  const row = await deps.prisma.filewallFile.findUnique({ where: { slotId: token } });
  if (!row) throw new FilewallError("invalid_request", "no Filewall file has this upload token");
  try {
    return await openUploadSlot(deps, token);
  } catch (err) {
    if (isAppError(err) && err.status < 500) throw new FilewallError("invalid_request", `upload link refused: ${err.message}`);
    throw err;
  }
}

/** Completes the upload with the stored file and records its name and size on the file's row. */
export async function finishFilewallUpload(deps: EngineDeps, token: string, file: NewFile): Promise<void> {
  try {
    await finishUpload(deps, token, file);
  } catch (err) {
    if (isAppError(err) && err.status < 500) throw new FilewallError("invalid_request", `upload link refused: ${err.message}`);
    throw err;
  }
  await deps.prisma.filewallFile.update({ where: { slotId: token }, data: { sourceName: file.name, sourceSize: BigInt(file.size) } });
}

/**
 * The sweeper's part: starts the tombstone of files whose job is gone, and deletes rows whose
 * tombstone ended once they are also out of the quota window (so deleting them changes no count).
 * Reservations older than an hour belong to authorizations that crashed half-way. Returns rows deleted.
 */
export async function pruneFilewallTombstones(tx: Tx): Promise<number> {
  await tx.$executeRaw`
    UPDATE "FilewallFile" f SET "purgeAt" = now() + make_interval(secs => f."tombstoneSeconds")
    WHERE f."purgeAt" IS NULL AND f."jobId" IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "Job" j WHERE j.id = f."jobId")`;
  const windowStart = new Date(Date.now() - QUOTA_WINDOW_MS);
  return tx.$executeRaw`
    DELETE FROM "FilewallFile"
    WHERE ("purgeAt" <= now() AND "createdAt" < ${windowStart})
       OR ("jobId" IS NULL AND "createdAt" < now() - interval '1 hour')`;
}
