/** Tasks: show, wait, and the standalone task endpoints (each makes a job of its own). */
import { OPERATIONS, isTaskEnded } from "@transmute/core";
import { TASK_INCLUDES, createJob, expandTaskViews, getJobView, getTaskView, parseInclude, type ListQuery } from "@transmute/jobs";
import type { FastifyInstance } from "fastify";
import { commonErrors, idParams, objectBody } from "../schemas.js";
import { assertIdShape } from "../ids.js";
import type { GatewayDeps } from "../types.js";
import { waitForEnd } from "../waiter.js";
import { base64Staging } from "./jobs.js";

/** Registers the task routes. */
export function taskRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  const { engine } = deps;

  app.get("/v1/process/tasks/:id", {
    schema: {
      summary: "Show a task",
      description: "The task. `include` (comma-separated) expands dependsOn into task objects and job into the job object (ids otherwise); payload is always shown.",
      params: idParams,
      querystring: { type: "object", properties: { include: { description: "Comma-separated: payload, dependsOn, job." } } },
      response: { 200: { $ref: "Task#" }, ...commonErrors },
    },
    handler: async (request) => {
      const { id } = request.params as { id: string };
      const include = parseInclude(request.query as ListQuery, TASK_INCLUDES);
      assertIdShape("task", id);
      const view = await getTaskView(engine.prisma, engine.settings, request.accountId, id);
      return (await expandTaskViews(engine.prisma, engine.settings, request.accountId, [view], include))[0];
    },
  });

  app.get("/v1/process/tasks/:id/wait", {
    schema: {
      summary: "Wait for a task to end",
      description: "Holds the request until the task has ended, at most TRANSMUTE_WAIT_TIMEOUT_SECONDS, then answers with the task as it is.",
      params: idParams,
      response: { 200: { $ref: "Task#" }, ...commonErrors },
    },
    handler: async (request, reply) => {
      const { id } = request.params as { id: string };
      assertIdShape("task", id);
      return waitForEnd(
        deps,
        reply,
        () => getTaskView(engine.prisma, engine.settings, request.accountId, id),
        (view) => isTaskEnded(String(view.status)),
        (event) => event.taskId === id || (event.type.startsWith("job.") && event.accountId === request.accountId),
      );
    },
  });

  // One endpoint per operation: POST /v1/process/import/url, /v1/process/convert, ...
  for (const op of OPERATIONS.values()) {
    app.post(`/v1/process/${op.name}`, {
      bodyLimit: op.largeFields.length > 0 ? deps.settings.base64BodyLimit : undefined,
      schema: { body: objectBody, response: { 201: { $ref: "Task#" }, ...commonErrors } },
      handler: async (request, reply) => {
        const name = op.name.replace("/", "-");
        const body = (request.body ?? {}) as Record<string, unknown>;
        const jobId = await createJob(engine, request.accountId, { tasks: { [name]: { ...body, operation: op.name } } }, base64Staging(deps));
        const job = await getJobView(engine.prisma, engine.settings, request.accountId, jobId);
        reply.code(201);
        return (job.tasks as Array<Record<string, unknown>>)[0];
      },
    });
  }
}
