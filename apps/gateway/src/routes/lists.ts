/**
 * The lists: `GET /v1/process/tasks` and `GET /v1/process/jobs`, paged by FreeConvert's `page` and
 * `per_page` (the reference's envelope) or walked by DocDigitizer's `cursorId` and `maxRetrieve`
 * (the page's docs, with X-More-Results-Available, X-Cursor-ID and X-Cursor-Was-Broken).
 */
import { OPERATIONS } from "@transmute/core";
import {
  JOB_INCLUDES,
  TASK_INCLUDES,
  listJobs,
  listTasks,
  parseInclude,
  parseJobListFilters,
  parsePaging,
  parseTaskListFilters,
  type ListQuery,
  type ListResult,
} from "@transmute/jobs";
import type { FastifyInstance, FastifyReply } from "fastify";
import { commonErrors, jobSchema, pageEnvelope } from "../schemas.js";
import type { GatewayDeps } from "../types.js";

// No `type`: the parameters are read and refused with their own messages (list-query.ts),
// which a schema validation would pre-empt (a repeated parameter is an array).
const param = (description: string) => ({ description }) as const;

const pagingParams = {
  per_page: param("Items per page (default 50, at most 200: a larger value is lowered to 200). Page paging; not with cursorId or maxRetrieve."),
  page: param("The page to show, from 1 (default 1)."),
  cursorId: param("Cursor paging: the X-Cursor-ID of the previous answer; absent or empty starts from the oldest item."),
  maxRetrieve: param("Cursor paging: items per answer (default 50, at most 200)."),
} as const;

const taskListQuery = {
  type: "object",
  properties: {
    status: param("Only tasks of this status: created, processing, completed, canceled, failed, deleted, insufficiant_minute."),
    operation: param("Only tasks of this operation (import/url, convert...)."),
    job: param("Only the tasks of this job id."),
    include: param("Comma-separated: payload, dependsOn (input tasks as objects), job (the job as an object)."),
    ...pagingParams,
  },
} as const;

const jobListQuery = {
  type: "object",
  properties: {
    status: param("Only jobs of this status: created, processing, completed, failed."),
    tag: param("Only jobs with exactly this tag."),
    include: param("tasks: each job's tasks as objects (otherwise their ids)."),
    ...pagingParams,
  },
} as const;

/** A job of the list: its tasks are objects with include=tasks, ids otherwise. */
const listedJob = {
  type: "object",
  properties: { ...jobSchema.properties, tasks: { type: "array", items: { anyOf: [{ type: "string" }, { $ref: "Task#" }] } } },
} as const;

/** Sends a list: the envelope, or a cursor page with its headers. */
function sendList<T>(reply: FastifyReply, result: ListResult<T>) {
  if (result.mode === "page") return result.envelope;
  reply
    .header("x-more-results-available", String(result.more))
    .header("x-cursor-id", result.cursor)
    .header("x-cursor-was-broken", String(result.broken));
  return { docs: result.docs, limit: result.limit, hasNextPage: result.more };
}

/** Registers the list routes. */
export function listRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  const { engine } = deps;

  app.get("/v1/process/tasks", {
    schema: {
      summary: "List tasks",
      description: "The account's tasks, oldest first, with their payload, result and status. Page paging (page, per_page) answers the paging envelope; cursor paging (cursorId, maxRetrieve) answers docs and the X-More-Results-Available, X-Cursor-ID and X-Cursor-Was-Broken headers, and never skips or repeats a task while new ones are created.",
      querystring: taskListQuery,
      response: { 200: pageEnvelope({ $ref: "Task#" }), ...commonErrors },
    },
    handler: async (request, reply) => {
      const query = request.query as ListQuery;
      const filters = parseTaskListFilters(query, [...OPERATIONS.keys()]);
      const include = parseInclude(query, TASK_INCLUDES);
      const result = await listTasks(engine, request.accountId, filters, parsePaging(query), include);
      return sendList(reply, result);
    },
  });

  app.get("/v1/process/jobs", {
    schema: {
      summary: "List jobs",
      description: "The account's jobs, oldest first; paged as the task list.",
      querystring: jobListQuery,
      response: { 200: pageEnvelope(listedJob), ...commonErrors },
    },
    handler: async (request, reply) => {
      const query = request.query as ListQuery;
      const filters = parseJobListFilters(query);
      const include = parseInclude(query, JOB_INCLUDES);
      const result = await listJobs(engine, request.accountId, filters, parsePaging(query), include.has("tasks"));
      return sendList(reply, result);
    },
  });
}
