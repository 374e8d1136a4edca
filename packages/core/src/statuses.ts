/**
 * Task and job statuses. Internally a task is `queued` between becoming ready and being
 * claimed by a worker; the FreeConvert wire format has no such status, so it reads `created`.
 */
export const TASK_STATUSES = ["created", "queued", "processing", "completed", "failed", "canceled"] as const;

/** A task's status as stored. */
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** A task's status on the FreeConvert wire. */
export type WireTaskStatus = "created" | "processing" | "completed" | "failed" | "canceled" | "deleted";

/** A job's status, derived from its tasks. */
export type JobStatus = "created" | "processing" | "completed" | "failed";

/** Statuses from which a task never moves again. */
export const ENDED_TASK_STATUSES: ReadonlySet<TaskStatus> = new Set(["completed", "failed", "canceled"]);

/** True when the task will never change status again. */
export function isTaskEnded(status: string): boolean {
  return ENDED_TASK_STATUSES.has(status as TaskStatus);
}

/** True when the job will never change status again. */
export function isJobEnded(status: string): boolean {
  return status === "completed" || status === "failed";
}

/** Maps a stored task status to the one FreeConvert clients know. */
export function toWireTaskStatus(status: string): WireTaskStatus {
  return status === "queued" ? "created" : (status as WireTaskStatus);
}
