/**
 * Every change of a task's status after creation. Each runs in a transaction that locks the
 * job, writes the change, the work it causes (ready tasks to enqueue, events) as outbox rows,
 * and the job's derived status; the relay publishes the outbox after commit.
 */
import {
  decideReadiness,
  deriveJobStatus,
  failureResult,
  filesResult,
  getOperation,
  isTaskEnded,
  type ErrorCode,
  type FileResult,
} from "@transmute/core";
import { Prisma } from "@transmute/db";
import { emitEvent, lockJob, writeOutbox, type Tx } from "./tx.js";
import { routeTask } from "./routing.js";
import type { NewFile } from "./types.js";

/** What the transition helpers need from the settings. */
export interface TransitionSettings {
  staleAfterSeconds: number;
  fileRetentionSeconds: number;
}

type TaskRow = Prisma.TaskGetPayload<object>;

/** The key under which a task's message is deduplicated on the queue. */
export function dedupeKey(taskId: string, attempt: number, suffix = ""): string {
  return `${taskId}.${attempt}${suffix}`;
}

/** Marks a task queued on its engine class and writes the enqueue to the outbox. */
export async function enqueueTask(tx: Tx, task: TaskRow, engineClass: string): Promise<void> {
  await tx.task.update({ where: { id: task.id }, data: { status: "queued", engineClass } });
  await writeOutbox(tx, "enqueue", { taskId: task.id, engineClass, dedupeKey: dedupeKey(task.id, task.attempt) });
}

/** Ends a task as failed (or canceled) with a code and message, then propagates. */
export async function endTaskWithFailure(
  tx: Tx,
  task: TaskRow,
  status: "failed" | "canceled",
  code: ErrorCode,
  message: string,
  settings: TransitionSettings,
): Promise<void> {
  const result = failureResult(code, message);
  await tx.task.update({
    where: { id: task.id },
    // An ended task never runs again: its secrets (passwords) are dropped with its claim.
    data: { status, code, message: result.msg, result: result as unknown as Prisma.InputJsonValue, endedAt: new Date(), attemptToken: null, secrets: Prisma.DbNull },
  });
  await emitEvent(tx, status === "canceled" ? "task.canceled" : "task.failed", { accountId: task.accountId, jobId: task.jobId, taskId: task.id });
  await propagateFrom(tx, task.id, settings);
  await refreshJobStatus(tx, task.jobId);
}

/** Ends a task as completed with its files, then propagates. */
export async function endTaskWithFiles(
  tx: Tx,
  task: TaskRow,
  files: NewFile[],
  extraResult: Record<string, unknown>,
  settings: TransitionSettings,
): Promise<void> {
  const expiresAt = new Date(task.createdAt.getTime() + settings.fileRetentionSeconds * 1000);
  if (files.length > 0) {
    await tx.file.createMany({
      data: files.map((f) => ({
        id: crypto.randomUUID(),
        taskId: task.id,
        ordinal: f.ordinal,
        name: f.name,
        size: BigInt(f.size),
        contentType: f.contentType,
        format: f.format,
        sha256: f.sha256,
        md5: f.md5,
        storageKey: f.storageKey,
        expiresAt,
      })),
    });
  }
  // The stored result lists the files without links; links are signed when the task is read.
  const listed: FileResult[] = files.map((f) => ({ filename: f.name, size: f.size, content_type: f.contentType }));
  const result = { ...filesResult(listed, false), ...extraResult };
  await tx.task.update({
    where: { id: task.id },
    data: { status: "completed", percent: 100, result: result as Prisma.InputJsonValue, endedAt: new Date(), attemptToken: null, code: null, message: null, secrets: Prisma.DbNull },
  });
  await emitEvent(tx, "task.completed", { accountId: task.accountId, jobId: task.jobId, taskId: task.id });
  await propagateFrom(tx, task.id, settings);
  await refreshJobStatus(tx, task.jobId);
}

/**
 * Applies the readiness rule to every waiting dependent of `taskId` (in any job: a task may take
 * an earlier job's task as input), recursively through failures.
 */
export async function propagateFrom(tx: Tx, taskId: string, settings: TransitionSettings): Promise<void> {
  const edges = await tx.taskEdge.findMany({ where: { dependsOnId: taskId }, select: { taskId: true } });
  for (const { taskId: dependentId } of edges) {
    const dependent = await tx.task.findUnique({ where: { id: dependentId } });
    if (!dependent || dependent.status !== "created") continue;
    const otherJob = dependent.jobId;
    await lockJob(tx, otherJob);
    await evaluateTask(tx, dependent, settings);
    await refreshJobStatus(tx, otherJob);
  }
}

/** Decides a waiting task's fate from its inputs: wait, enqueue, or fail upstream. */
export async function evaluateTask(tx: Tx, task: TaskRow, settings: TransitionSettings): Promise<void> {
  const edges = await tx.taskEdge.findMany({
    where: { taskId: task.id },
    orderBy: { ordinal: "asc" },
    include: { dependsOn: { select: { id: true, name: true, status: true } } },
  });
  const op = getOperation(task.operation);
  if (op.trigger === "external") return;
  const decision = decideReadiness(
    { ignoreError: task.ignoreError, minInputs: op.minInputs, runsOnSurvivors: op.runsOnSurvivors },
    edges.map((e) => e.dependsOn),
  );
  if (decision.kind === "wait") return;
  if (decision.kind === "fail") {
    await endTaskWithFailure(tx, task, "failed", "upstream_failed", decision.message, settings);
    return;
  }
  const formats = decision.inputIds.length
    ? (
        await tx.file.findMany({
          where: { taskId: { in: decision.inputIds } },
          select: { taskId: true, ordinal: true, format: true },
        })
      )
        .sort((a, b) => decision.inputIds.indexOf(a.taskId) - decision.inputIds.indexOf(b.taskId) || a.ordinal - b.ordinal)
        .map((f) => f.format)
    : [];
  const route = await routeTask(tx, { operation: task.operation, payload: task.payload as Record<string, unknown> }, formats, settings.staleAfterSeconds);
  if (!route.ok) {
    await endTaskWithFailure(tx, task, "failed", route.code, route.message, settings);
    return;
  }
  await enqueueTask(tx, task, route.engineClass);
}

/** Recomputes a job's status from its tasks and records the change with its event. */
export async function refreshJobStatus(tx: Tx, jobId: string): Promise<void> {
  const job = await tx.job.findUnique({
    where: { id: jobId },
    include: { tasks: { select: { status: true, ignoreError: true, code: true, message: true, name: true, createdAt: true }, orderBy: { createdAt: "asc" } } },
  });
  if (!job) return;
  const status = deriveJobStatus(job.tasks);
  if (status === job.status) return;
  const now = new Date();
  const data: Prisma.JobUpdateInput = { status };
  if (status !== "created" && !job.startedAt) data.startedAt = now;
  if (status === "completed" || status === "failed") data.endedAt = now;
  if (status === "failed") {
    const fatal = job.tasks.find((t) => !t.ignoreError && (t.status === "failed" || t.status === "canceled"));
    const code = (fatal?.code ?? "processing_failed") as ErrorCode;
    data.result = failureResult(code, `Task "${fatal?.name}" failed: ${fatal?.message ?? code}`) as unknown as Prisma.InputJsonValue;
  }
  await tx.job.update({ where: { id: jobId }, data });
  const type = status === "processing" ? "job.started" : `job.${status}`;
  if (status !== "created") await emitEvent(tx, type, { accountId: job.accountId, jobId });
}

/** True when the task can no longer change. */
export function hasEnded(task: { status: string }): boolean {
  return isTaskEnded(task.status);
}
