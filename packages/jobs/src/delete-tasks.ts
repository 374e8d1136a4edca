/**
 * `DELETE /process/tasks/{id}` and `DELETE /process/jobs/{id}`: the rows go in one transaction
 * (task, edges, files and upload slots by cascade), then the stored objects no remaining file row
 * needs (export/url files are their inputs' objects, so an object stays while any row still
 * references it). A task that took a deleted task as input and has not ended fails with
 * `user_deleted_task`, except a waiting one whose ignore_error lets it run on its other inputs;
 * a run in progress of a deleted or failed task is stopped by its worker on the event.
 */
import { AppError, getOperation, isJobEnded, isTaskEnded } from "@transmute/core";
import type { Prisma } from "@transmute/db";
import { leftoversOfDeletedTasks, removeLeftovers, type Leftovers, type ObjectRemover } from "./stored-objects.js";
import { emitEvent, engineTransaction, lockJob, type Tx } from "./tx.js";
import { endTaskWithFailure, evaluateTask, refreshJobStatus } from "./transitions.js";
import type { EngineDeps } from "./types.js";

/** Deletes a task of an account and its files; 404 when unknown or another account's. */
export async function deleteTask(deps: EngineDeps, store: ObjectRemover, accountId: string, taskId: string): Promise<void> {
  const head = await deps.prisma.task.findFirst({ where: { id: taskId, accountId }, select: { jobId: true } });
  if (!head) throw new AppError("not_found", `No task with id "${taskId}".`);
  const leftovers = await engineTransaction(deps, async (tx) => {
    await lockJob(tx, head.jobId);
    const task = await tx.task.findUnique({ where: { id: taskId }, select: { id: true } });
    if (!task) throw new AppError("not_found", `No task with id "${taskId}".`);
    return deleteRows(tx, deps, head.jobId, [taskId]);
  });
  await removeLeftovers(deps, store, leftovers);
}

/** Deletes a job of an account with its tasks and files; 404 when unknown or another account's. */
export async function deleteJob(deps: EngineDeps, store: ObjectRemover, accountId: string, jobId: string): Promise<void> {
  const notFound = () => new AppError("not_found", `No job with id "${jobId}".`);
  const job = await deps.prisma.job.findFirst({ where: { id: jobId, accountId }, select: { id: true } });
  if (!job) throw notFound();
  const leftovers = await engineTransaction(deps, async (tx) => {
    if (!(await lockJob(tx, jobId))) throw notFound();
    const tasks = await tx.task.findMany({ where: { jobId }, select: { id: true } });
    return deleteRows(tx, deps, jobId, tasks.map((t) => t.id));
  });
  await removeLeftovers(deps, store, leftovers);
}

/** Deletes `taskIds` of `jobId` (the job too when no task is left), and settles their dependents. */
async function deleteRows(tx: Tx, deps: EngineDeps, jobId: string, taskIds: string[]): Promise<Leftovers> {
  const doomed = new Set(taskIds);
  const tasks = await tx.task.findMany({
    where: { id: { in: taskIds } },
    select: { id: true, name: true, accountId: true, files: { select: { storageKey: true } } },
  });
  const dependentIds = [
    ...new Set((await tx.taskEdge.findMany({ where: { dependsOnId: { in: taskIds } }, select: { taskId: true } })).map((e) => e.taskId)),
  ].filter((id) => !doomed.has(id));
  // Lock the dependents' jobs before reading them, so no claim or transition slips in between.
  const dependentJobs = await tx.task.findMany({ where: { id: { in: dependentIds } }, select: { jobId: true } });
  for (const otherJob of [...new Set(dependentJobs.map((t) => t.jobId))].filter((id) => id !== jobId).sort()) await lockJob(tx, otherJob);
  const verdicts = await judgeDependents(tx, dependentIds, doomed);

  await tx.task.deleteMany({ where: { id: { in: taskIds } } });
  const accountId = tasks[0]?.accountId;
  for (const task of tasks) await emitEvent(tx, "task.deleted", { accountId: task.accountId, jobId, taskId: task.id });
  const jobLeft = (await tx.task.count({ where: { jobId } })) > 0;
  if (!jobLeft) {
    await tx.job.delete({ where: { id: jobId } });
    if (accountId) await emitEvent(tx, "job.deleted", { accountId, jobId });
  }

  const names = new Map(tasks.map((t) => [t.id, t.name]));
  for (const { id, deletedInput, fail } of verdicts) {
    const row = await tx.task.findUnique({ where: { id } });
    // A dependent may have ended meanwhile, through another dependent's failure.
    if (!row || isTaskEnded(row.status)) continue;
    if (fail) {
      await endTaskWithFailure(tx, row, "failed", "user_deleted_task", `Input task "${names.get(deletedInput)}" (${deletedInput}) was deleted.`, deps.settings);
    } else if (row.status === "created") {
      await evaluateTask(tx, row, deps.settings);
      await refreshJobStatus(tx, row.jobId);
    }
  }
  // An ended job keeps its outcome: deleting one of its tasks does not rewrite its history.
  if (jobLeft && !isJobEnded((await tx.job.findUniqueOrThrow({ where: { id: jobId }, select: { status: true } })).status)) {
    await refreshJobStatus(tx, jobId);
  }
  return leftoversOfDeletedTasks(tx, tasks);
}

/** Whether each not-ended dependent fails now, naming the first of its inputs being deleted. */
async function judgeDependents(tx: Tx, ids: string[], doomed: ReadonlySet<string>): Promise<Array<{ id: string; deletedInput: string; fail: boolean }>> {
  const rows = await tx.task.findMany({
    where: { id: { in: ids } },
    include: { dependsOn: { orderBy: { ordinal: "asc" }, include: { dependsOn: { select: { id: true, name: true, status: true } } } } },
  });
  return rows
    .filter((row) => !isTaskEnded(row.status))
    .map((row) => {
      const inputs = row.dependsOn.map((e) => e.dependsOn);
      const deletedInput = inputs.find((i) => doomed.has(i.id))!.id;
      // A queued or running task has its inputs fixed already: it cannot do without one.
      if (row.status !== "created") return { id: row.id, deletedInput, fail: true };
      // A deleted input counts as a failed one under the ignore_error rule: only a task that may
      // run on the survivors, and still can, waits for the inputs that remain.
      const op = getOperation(row.operation);
      const remaining = inputs.filter((i) => !doomed.has(i.id) && i.status !== "failed" && i.status !== "canceled").length;
      const fail = !(row.ignoreError && op.runsOnSurvivors) || remaining < Math.max(1, op.minInputs);
      return { id: row.id, deletedInput, fail };
    });
}

