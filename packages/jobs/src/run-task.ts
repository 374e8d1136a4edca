/**
 * The worker's side of a task: claim it with an attempt token, keep the claim alive, and end it.
 * Completion and failure are conditional on the token, so a redelivered or duplicated message,
 * or a worker that lost its claim, can never end a task twice.
 */
import { createToken, type ErrorCode, type InputFileOf } from "@transmute/core";
import type { Prisma } from "@transmute/db";
import { emitEvent, engineTransaction, lockJob } from "./tx.js";
import { endTaskWithFailure, endTaskWithFiles, refreshJobStatus } from "./transitions.js";
import type { EngineDeps, NewFile } from "./types.js";

/** One input file of a claimed task. */
export type ClaimedInput = InputFileOf;

/** A task claimed by this worker. */
export interface Claim {
  task: Prisma.TaskGetPayload<object>;
  token: string;
  attempt: number;
  inputs: ClaimedInput[];
}

/**
 * Claims a task for `server` if it is queued, or processing under a claim whose heartbeat is
 * stale (its worker died). Returns null when someone else has it or it ended.
 */
export async function claimTask(deps: EngineDeps, taskId: string, server: string): Promise<Claim | null> {
  const head = await deps.prisma.task.findUnique({ where: { id: taskId }, select: { jobId: true } });
  if (!head) return null;
  return engineTransaction(deps, async (tx) => {
    if (!(await lockJob(tx, head.jobId))) return null;
    const task = await tx.task.findUnique({ where: { id: taskId } });
    if (!task) return null;
    const staleBefore = Date.now() - deps.settings.staleAfterSeconds * 1000;
    const takeBack = task.status === "processing" && task.attemptToken !== null && (task.heartbeatAt?.getTime() ?? 0) < staleBefore;
    if (task.status !== "queued" && !takeBack) return null;
    if (takeBack && task.attempt >= deps.settings.maxAttempts) {
      await endTaskWithFailure(tx, task, "failed", "worker_lost", `The worker running this task stopped answering ${task.attempt} times.`, deps.settings);
      return null;
    }
    const token = createToken(18);
    const now = new Date();
    const updated = await tx.task.update({
      where: { id: taskId },
      data: { status: "processing", attempt: task.attempt + 1, attemptToken: token, claimedAt: now, heartbeatAt: now, server, startedAt: task.startedAt ?? now },
    });
    if (!takeBack) await emitEvent(tx, "task.started", { accountId: task.accountId, jobId: task.jobId, taskId });
    await refreshJobStatus(tx, task.jobId);
    const edges = await tx.taskEdge.findMany({ where: { taskId }, orderBy: { ordinal: "asc" }, select: { dependsOnId: true } });
    const ids = edges.map((e) => e.dependsOnId);
    const files = ids.length
      ? await tx.file.findMany({ where: { taskId: { in: ids }, status: "enabled" }, orderBy: [{ ordinal: "asc" }] })
      : [];
    const inputs = ids.flatMap((id) =>
      files
        .filter((f) => f.taskId === id)
        .map((f) => ({
          taskId: f.taskId,
          ordinal: f.ordinal,
          name: f.name,
          size: Number(f.size),
          contentType: f.contentType,
          format: f.format,
          storageKey: f.storageKey,
          sha256: f.sha256,
          md5: f.md5,
        })),
    );
    return { task: updated, token, attempt: updated.attempt, inputs };
  });
}

/** Refreshes a claim; false when it was lost (canceled, taken back, ended): the run must stop. */
export async function heartbeatTask(deps: EngineDeps, taskId: string, token: string, percent?: number): Promise<boolean> {
  const data: Prisma.TaskUpdateManyMutationInput = { heartbeatAt: new Date() };
  if (percent !== undefined) data.percent = Math.max(0, Math.min(100, Math.round(percent)));
  const { count } = await deps.prisma.task.updateMany({ where: { id: taskId, attemptToken: token, status: "processing" }, data });
  return count === 1;
}

/** Completes a claimed task with its files; false when the claim was lost (nothing is written). */
export async function completeTask(deps: EngineDeps, claim: Claim, files: NewFile[], extraResult: Record<string, unknown> = {}): Promise<boolean> {
  return engineTransaction(deps, async (tx) => {
    await lockJob(tx, claim.task.jobId);
    const task = await tx.task.findUnique({ where: { id: claim.task.id } });
    if (!task || task.status !== "processing" || task.attemptToken !== claim.token) return false;
    await endTaskWithFiles(tx, task, files, extraResult, deps.settings);
    return true;
  });
}

/** Fails a claimed task; false when the claim was lost. */
export async function failTask(deps: EngineDeps, claim: Claim, code: ErrorCode, message: string): Promise<boolean> {
  return engineTransaction(deps, async (tx) => {
    await lockJob(tx, claim.task.jobId);
    const task = await tx.task.findUnique({ where: { id: claim.task.id } });
    if (!task || task.status !== "processing" || task.attemptToken !== claim.token) return false;
    await endTaskWithFailure(tx, task, "failed", code, message, deps.settings);
    return true;
  });
}
