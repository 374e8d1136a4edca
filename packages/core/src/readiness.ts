/**
 * The one rule for what happens to a task when its inputs end, and the job status derived from
 * its tasks. Table-tested in test/readiness.test.ts; the job engine calls nothing else to decide.
 */
import { isTaskEnded, type JobStatus } from "./statuses.js";

/** What the rule needs to know about one input of a task. */
export interface InputState {
  id: string;
  name: string;
  status: string;
}

/** What the rule needs to know about the task itself. */
export interface DependentState {
  ignoreError: boolean;
  /** Fewest inputs its operation can run on. */
  minInputs: number;
  /** Whether its operation can run on the inputs that remain when some failed (export/url, merge). */
  runsOnSurvivors: boolean;
}

/** The decision for a task whose inputs changed. */
export type Readiness =
  | { kind: "wait" }
  | { kind: "ready"; inputIds: string[] }
  | { kind: "fail"; failedInput: InputState; message: string };

/**
 * Decides whether a task waits, runs (on all inputs, or on the survivors) or fails with
 * `upstream_failed`. Without `ignore_error` the first failed input fails the task at once;
 * with it, the task waits for every input and runs on the survivors when its operation can.
 */
export function decideReadiness(task: DependentState, inputs: readonly InputState[]): Readiness {
  const failed = inputs.filter((input) => input.status === "failed" || input.status === "canceled");
  const firstFailed = failed[0];
  if (firstFailed && !task.ignoreError) return failUpstream(firstFailed);
  if (inputs.some((input) => !isTaskEnded(input.status))) return { kind: "wait" };
  if (!firstFailed) return { kind: "ready", inputIds: inputs.map((input) => input.id) };
  const survivors = inputs.filter((input) => input.status === "completed");
  if (task.runsOnSurvivors && survivors.length >= Math.max(1, task.minInputs)) {
    return { kind: "ready", inputIds: survivors.map((input) => input.id) };
  }
  return failUpstream(firstFailed);
}

function failUpstream(input: InputState): Readiness {
  const verb = input.status === "canceled" ? "was canceled" : "failed";
  return { kind: "fail", failedInput: input, message: `Input task "${input.name}" (${input.id}) ${verb}.` };
}

/** What the job status needs to know about one task. */
export interface TaskOutcome {
  status: string;
  ignoreError: boolean;
}

/**
 * Job status from its tasks: `completed` or `failed` once every task has ended (failed when a
 * task without `ignore_error` failed or was canceled), `processing` once any task started or
 * ended, `created` before.
 */
export function deriveJobStatus(tasks: readonly TaskOutcome[]): JobStatus {
  if (tasks.length > 0 && tasks.every((task) => isTaskEnded(task.status))) {
    const fatal = tasks.some((task) => !task.ignoreError && (task.status === "failed" || task.status === "canceled"));
    return fatal ? "failed" : "completed";
  }
  return tasks.some((task) => task.status !== "created" && task.status !== "queued") ? "processing" : "created";
}
