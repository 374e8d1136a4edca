/**
 * Parsing and validation of a job request (`POST /process/jobs`): task names, the `input`
 * references between tasks, and cycles. Pure: resolving references to tasks of earlier jobs
 * (official clients reuse an upload's id as `input`) is the caller's, since it needs the database.
 */
import { AppError } from "./errors.js";

/** Task names are FreeConvert's: alphanumerals, dash and underscore. */
export const TASK_NAME_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

/** A task's input, as the request names it: another task of the same job, or an existing task id. */
export type InputRef = { kind: "name"; name: string } | { kind: "id"; id: string };

/** One task of a job request, with its inputs separated from its payload. */
export interface TaskSpec {
  name: string;
  operation: string;
  ignoreError: boolean;
  inputs: InputRef[];
  /** Every other field of the task as sent (operation, input and ignore_error removed). */
  payload: Record<string, unknown>;
}

/** A job request after parsing, tasks in an order where every task comes after its inputs. */
export interface JobSpec {
  tag: string | null;
  tasks: TaskSpec[];
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True when `value` has the shape of a task id (ids are UUIDs). */
export function looksLikeTaskId(value: string): boolean {
  return UUID_PATTERN.test(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Reads `input` (a string or an array of strings) into a list of names or ids. */
export function parseInputField(taskName: string, input: unknown): string[] {
  if (input === undefined || input === null) return [];
  const list = typeof input === "string" ? [input] : input;
  if (!Array.isArray(list) || list.some((item) => typeof item !== "string" || item.length === 0)) {
    throw new AppError("invalid_payload", `Task "${taskName}": "input" must be a task name, a task id, or an array of them.`);
  }
  const seen = new Set<string>();
  for (const item of list as string[]) {
    if (seen.has(item)) throw new AppError("invalid_payload", `Task "${taskName}": input "${item}" is listed twice.`);
    seen.add(item);
  }
  return list as string[];
}

/**
 * Parses a job body into a JobSpec. Checks names, that every named input exists in the job
 * (a string that is no task name but has the shape of a task id is kept as an id reference),
 * and that the tasks form no cycle. `isKnownOperation` keeps this module free of the registry.
 */
export function parseJobSpec(body: unknown, isKnownOperation: (name: string) => boolean): JobSpec {
  if (!isPlainObject(body)) throw new AppError("invalid_request", "The request body must be a JSON object with a \"tasks\" object.");
  const { tag, tasks } = body;
  if (tag !== undefined && tag !== null && typeof tag !== "string") {
    throw new AppError("invalid_payload", "\"tag\" must be a string.");
  }
  if (!isPlainObject(tasks)) throw new AppError("invalid_request", "\"tasks\" must be an object mapping task names to tasks.");
  const names = Object.keys(tasks);
  if (names.length === 0) throw new AppError("invalid_request", "A job must have at least one task.");
  if (names.length > 500) throw new AppError("invalid_request", "A job may have at most 500 tasks.");

  const specs = new Map<string, TaskSpec>();
  for (const name of names) {
    if (!TASK_NAME_PATTERN.test(name)) {
      throw new AppError("invalid_task_name", `Task name "${name}" is invalid: use 1 to 128 letters, digits, "-" or "_".`);
    }
    const raw = tasks[name];
    if (!isPlainObject(raw)) throw new AppError("invalid_payload", `Task "${name}" must be an object.`);
    const { operation, input, ignore_error: ignoreError, ...payload } = raw;
    if (typeof operation !== "string" || operation.length === 0) {
      throw new AppError("invalid_payload", `Task "${name}" has no "operation".`);
    }
    if (!isKnownOperation(operation)) {
      throw new AppError("unknown_operation", `Task "${name}": unknown operation "${operation}".`);
    }
    if (ignoreError !== undefined && typeof ignoreError !== "boolean") {
      throw new AppError("invalid_payload", `Task "${name}": "ignore_error" must be a boolean.`);
    }
    const inputs: InputRef[] = parseInputField(name, input).map((ref) => {
      if (Object.prototype.hasOwnProperty.call(tasks, ref)) return { kind: "name", name: ref };
      if (looksLikeTaskId(ref)) return { kind: "id", id: ref.toLowerCase() };
      throw new AppError("unknown_task", `Task "${name}": input "${ref}" names no task of this job and is not a task id.`);
    });
    if (inputs.some((ref) => ref.kind === "name" && ref.name === name)) {
      throw new AppError("dependency_cycle", `Task "${name}" names itself as its input.`);
    }
    specs.set(name, { name, operation, ignoreError: ignoreError === true, inputs, payload });
  }
  return { tag: typeof tag === "string" ? tag : null, tasks: sortTopologically(specs) };
}

/** Orders tasks so inputs come first; a cycle is a 400 naming a task on it. */
function sortTopologically(specs: Map<string, TaskSpec>): TaskSpec[] {
  const order: TaskSpec[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (spec: TaskSpec, path: string[]): void => {
    const seen = state.get(spec.name);
    if (seen === "done") return;
    if (seen === "visiting") {
      const cycle = [...path.slice(path.indexOf(spec.name)), spec.name].join(" -> ");
      throw new AppError("dependency_cycle", `Task "${spec.name}" depends on itself through ${cycle}.`);
    }
    state.set(spec.name, "visiting");
    for (const ref of spec.inputs) {
      if (ref.kind === "name") visit(specs.get(ref.name)!, [...path, spec.name]);
    }
    state.set(spec.name, "done");
    order.push(spec);
  };
  for (const spec of specs.values()) visit(spec, []);
  return order;
}
