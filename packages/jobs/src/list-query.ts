/**
 * The query string of the list endpoints, read once: filters, `include`, and either FreeConvert's
 * page paging (`page`, `per_page`) or DocDigitizer's cursor paging (`cursorId`, `maxRetrieve`).
 * Pure: every message names the parameter and what would be valid (test/list-query.test.ts).
 */
import { AppError } from "@transmute/core";

/** Items a page holds when the client does not say (the reference: "defaults to 50"). */
export const DEFAULT_PAGE_SIZE = 50;
/** Largest page; a larger `per_page` or `maxRetrieve` is lowered to it (the reference: "Limited at 200"). */
export const MAX_PAGE_SIZE = 200;

/** Task statuses the reference lists for `GET /process/tasks?status=` (typos and all). */
export const TASK_LIST_STATUSES = ["created", "processing", "completed", "canceled", "failed", "deleted", "insufficiant_minute"] as const;
/** Job statuses the reference lists for `GET /process/jobs?status=`. */
export const JOB_LIST_STATUSES = ["created", "processing", "completed", "failed"] as const;
/** What `include` may name on a task (show and list). */
export const TASK_INCLUDES = ["payload", "dependsOn", "job"] as const;
/** What `include` may name on the job list. */
export const JOB_INCLUDES = ["tasks"] as const;

/** One of TASK_INCLUDES. */
export type TaskInclude = (typeof TASK_INCLUDES)[number];

/** How a list is paged. */
export type Paging =
  | { mode: "page"; page: number; perPage: number }
  /** `cursor` is the client's `cursorId` (null: from the beginning); `limit` its `maxRetrieve`. */
  | { mode: "cursor"; cursor: string | null; limit: number };

/** Filters of the task list. */
export interface TaskListFilters {
  status?: string;
  operation?: string;
  job?: string;
}

/** Filters of the job list. */
export interface JobListFilters {
  status?: string;
  tag?: string;
}

/** A parsed query string (Fastify's: a repeated parameter is an array). */
export type ListQuery = Record<string, unknown>;

const PAGE_PARAMS = ["page", "per_page"] as const;
const CURSOR_PARAMS = ["cursorId", "maxRetrieve"] as const;

/** The one value of a parameter, or undefined; a repeated parameter is refused. */
export function readParam(query: ListQuery, name: string): string | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (Array.isArray(value)) throw new AppError("invalid_request", `Query parameter "${name}" must be given once; it was given ${value.length} times.`);
  return String(value);
}

/** A positive whole number parameter, or undefined when absent. */
function readPositiveInteger(query: ListQuery, name: string): number | undefined {
  const raw = readParam(query, name);
  if (raw === undefined) return undefined;
  const value = /^[0-9]{1,15}$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new AppError("invalid_request", `Query parameter "${name}" must be a positive integer (1 or more); got "${raw}".`);
  }
  return value;
}

/** Reads `page`/`per_page` or `cursorId`/`maxRetrieve`; mixing the two kinds is refused. */
export function parsePaging(query: ListQuery): Paging {
  const pageGiven = PAGE_PARAMS.filter((name) => query[name] !== undefined);
  const cursorGiven = CURSOR_PARAMS.filter((name) => query[name] !== undefined);
  if (pageGiven.length > 0 && cursorGiven.length > 0) {
    throw new AppError(
      "invalid_request",
      `Page parameters (page, per_page) and cursor parameters (cursorId, maxRetrieve) cannot be mixed; got ${[...pageGiven, ...cursorGiven].join(", ")}.`,
    );
  }
  if (cursorGiven.length > 0) {
    const cursor = readParam(query, "cursorId");
    const limit = readPositiveInteger(query, "maxRetrieve") ?? DEFAULT_PAGE_SIZE;
    // An empty cursorId is a walk from the beginning, as no cursorId is.
    return { mode: "cursor", cursor: cursor === undefined || cursor.trim() === "" ? null : cursor.trim(), limit: Math.min(limit, MAX_PAGE_SIZE) };
  }
  const page = readPositiveInteger(query, "page") ?? 1;
  const perPage = readPositiveInteger(query, "per_page") ?? DEFAULT_PAGE_SIZE;
  return { mode: "page", page, perPage: Math.min(perPage, MAX_PAGE_SIZE) };
}

/** A parameter that must be one of `valid`, or undefined when absent. */
export function readChoice(query: ListQuery, name: string, valid: readonly string[]): string | undefined {
  const raw = readParam(query, name);
  if (raw === undefined) return undefined;
  const value = raw.trim();
  if (!valid.includes(value)) {
    throw new AppError(name === "operation" ? "unknown_operation" : "invalid_request", `Query parameter "${name}" is "${raw}"; valid values: ${valid.join(", ")}.`);
  }
  return value;
}

/** `include`: comma-separated names of `valid` (matched without regard to case); empty parts are skipped. */
export function parseInclude<T extends string>(query: ListQuery, valid: readonly T[]): Set<T> {
  const raw = readParam(query, "include");
  const found = new Set<T>();
  if (raw === undefined) return found;
  for (const part of raw.split(",").map((p) => p.trim()).filter((p) => p.length > 0)) {
    const name = valid.find((v) => v.toLowerCase() === part.toLowerCase());
    if (!name) throw new AppError("invalid_request", `Query parameter "include" names "${part}"; valid values: ${valid.join(", ")} (comma-separated).`);
    found.add(name);
  }
  return found;
}

/** The filters of `GET /process/tasks`; `operations` are the operation names this build knows. */
export function parseTaskListFilters(query: ListQuery, operations: readonly string[]): TaskListFilters {
  const filters: TaskListFilters = {};
  const status = readChoice(query, "status", TASK_LIST_STATUSES);
  const operation = readChoice(query, "operation", operations);
  const job = readParam(query, "job")?.trim();
  if (status !== undefined) filters.status = status;
  if (operation !== undefined) filters.operation = operation;
  if (job !== undefined && job !== "") filters.job = job.toLowerCase();
  return filters;
}

/** The filters of `GET /process/jobs`. */
export function parseJobListFilters(query: ListQuery): JobListFilters {
  const filters: JobListFilters = {};
  const status = readChoice(query, "status", JOB_LIST_STATUSES);
  const tag = readParam(query, "tag");
  if (status !== undefined) filters.status = status;
  if (tag !== undefined && tag !== "") filters.tag = tag;
  return filters;
}

/** The stored task statuses a wire status filter selects (`created` covers `queued`; `deleted` and `insufficiant_minute` none). */
export function storedTaskStatuses(wire: string): string[] {
  if (wire === "created") return ["created", "queued"];
  if (wire === "deleted" || wire === "insufficiant_minute") return [];
  return [wire];
}
