/**
 * Realtime channel names and the mapping of the event bus's internal events to the socket
 * events FreeConvert clients listen for. Pure: unit-tested without a server.
 */
import { looksLikeTaskId } from "@transmute/core";

/** A parsed channel name. */
export type Channel =
  | { kind: "job"; id: string }
  | { kind: "task"; id: string }
  | { kind: "user-jobs"; id: string }
  | { kind: "user-tasks"; id: string };

/** The channel forms, as named in errors. */
export const CHANNEL_FORMS = ["job.{jobId}", "task.{taskId}", "user.{userId}.jobs", "user.{userId}.tasks"] as const;

/**
 * Parses a channel name, or null when it has none of the four forms. The id is not checked
 * here: an id of another shape names nothing and is refused like an unknown one.
 */
export function parseChannel(name: unknown): Channel | null {
  if (typeof name !== "string" || name.length > 200) return null;
  let m = /^job\.([^.]+)$/.exec(name);
  if (m) return { kind: "job", id: m[1]! };
  m = /^task\.([^.]+)$/.exec(name);
  if (m) return { kind: "task", id: m[1]! };
  m = /^user\.([^.]+)\.(jobs|tasks)$/.exec(name);
  if (m) return { kind: m[2] === "jobs" ? "user-jobs" : "user-tasks", id: m[1]! };
  return null;
}

/** True when `id` has the shape of a job, task or account id (a UUID). */
export function looksLikeId(id: string): boolean {
  return looksLikeTaskId(id);
}

/** What a bus event becomes on the sockets: the socket event, the object it carries, its rooms. */
export interface SocketRelay {
  event: string;
  object: "job" | "task";
  id: string;
  rooms: string[];
}

const JOB_EVENTS: Record<string, string> = {
  "job.started": "job_started",
  "job.completed": "job_completed",
  "job.failed": "job_failed",
};

// FreeConvert has no task_canceled: a canceled task ended without a result, which its clients
// handle as a failure; the payload's status says "canceled".
const TASK_EVENTS: Record<string, string> = {
  "task.started": "task_started",
  "task.completed": "task_completed",
  "task.failed": "task_failed",
  "task.canceled": "task_failed",
  "task.progress": "task_min_update",
};

/** Maps a bus event to its socket event and rooms, or null when sockets have no such event. */
export function toSocketRelay(event: { type: string; accountId: string; jobId: string; taskId?: string }): SocketRelay | null {
  const jobEvent = JOB_EVENTS[event.type];
  if (jobEvent) return { event: jobEvent, object: "job", id: event.jobId, rooms: [`job.${event.jobId}`, `user.${event.accountId}.jobs`] };
  const taskEvent = TASK_EVENTS[event.type];
  if (taskEvent && event.taskId) {
    return { event: taskEvent, object: "task", id: event.taskId, rooms: [`task.${event.taskId}`, `user.${event.accountId}.tasks`] };
  }
  return null;
}

/** The final socket event of a job or task in `status` (wire status), or null while it runs. */
export function finalEventOf(object: "job" | "task", status: string): string | null {
  if (status === "completed") return `${object}_completed`;
  if (status === "failed" || status === "canceled") return `${object}_failed`;
  return null;
}

/** True for the events that end a job or task (sent once per socket, even when subscribed late). */
export function isFinalEvent(event: string): boolean {
  return event.endsWith("_completed") || event.endsWith("_failed");
}
