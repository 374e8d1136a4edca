/**
 * `POST /process/tasks/{id}/cancel`: a task that has not ended becomes `canceled`. Its dependents
 * follow the ignore_error rule (the transition propagates `canceled` as it does `failed`); an
 * import/upload's form closes; a run in progress loses its claim, and the `task.canceled` event
 * makes its worker stop it at once (the heartbeat would, later).
 */
import { AppError, isTaskEnded, toWireTaskStatus } from "@transmute/core";
import { engineTransaction, lockJob } from "./tx.js";
import { endTaskWithFailure } from "./transitions.js";
import type { EngineDeps } from "./types.js";

/** Cancels a task of an account: 404 when unknown (or another account's), 409 `task_ended` when it has ended. */
export async function cancelTask(deps: EngineDeps, accountId: string, taskId: string): Promise<void> {
  const notFound = () => new AppError("not_found", `No task with id "${taskId}".`);
  const head = await deps.prisma.task.findFirst({ where: { id: taskId, accountId }, select: { jobId: true } });
  if (!head) throw notFound();
  await engineTransaction(deps, async (tx) => {
    await lockJob(tx, head.jobId);
    const task = await tx.task.findUnique({ where: { id: taskId } });
    if (!task) throw notFound();
    if (isTaskEnded(task.status)) {
      throw new AppError(
        "task_ended",
        `Task "${task.name}" (${task.id}) has already ended with status ${toWireTaskStatus(task.status)}; only created and processing tasks can be canceled.`,
      );
    }
    await tx.uploadSlot.updateMany({ where: { taskId, status: "open" }, data: { status: "done" } });
    await endTaskWithFailure(tx, task, "canceled", "canceled", "The task was canceled by the user.", deps.settings);
  });
}
