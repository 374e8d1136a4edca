/**
 * Ending work early: cancel a task, delete a task or a job (with its files). Deletes answer
 * `200` with an empty body, as the reference says; an unknown or another account's id is `404`.
 */
import { cancelTask, deleteJob, deleteTask, getTaskView } from "@transmute/jobs";
import type { FastifyInstance } from "fastify";
import { assertIdShape } from "../ids.js";
import { commonErrors, idParams } from "../schemas.js";
import type { GatewayDeps } from "../types.js";

const emptyAnswer = { description: "Deleted (empty body).", type: "null" } as const;

/** Registers cancel and delete. */
export function lifecycleRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  const { engine, storage } = deps;

  app.post("/v1/process/tasks/:id/cancel", {
    schema: {
      summary: "Cancel a task",
      description: "Cancels a created or processing task: a running operation is stopped at once, an upload form closes, and dependents without ignore_error fail with upstream_failed. A task that has ended answers 409 task_ended.",
      params: idParams,
      response: { 200: { $ref: "Task#" }, ...commonErrors, 409: { $ref: "Error#" } },
    },
    handler: async (request) => {
      const { id } = request.params as { id: string };
      assertIdShape("task", id);
      await cancelTask(engine, request.accountId, id);
      return getTaskView(engine.prisma, engine.settings, request.accountId, id);
    },
  });

  app.delete("/v1/process/tasks/:id", {
    schema: {
      summary: "Delete a task",
      description: "Deletes the task and its files (an exported file another task still publishes stays). A task of any job that still needed it as input fails with user_deleted_task; a running one is stopped.",
      params: idParams,
      response: { 200: emptyAnswer, ...commonErrors },
    },
    handler: async (request, reply) => {
      const { id } = request.params as { id: string };
      assertIdShape("task", id);
      await deleteTask(engine, storage, request.accountId, id);
      return reply.code(200).send();
    },
  });

  app.delete("/v1/process/jobs/:id", {
    schema: {
      summary: "Delete a job",
      description: "Deletes the job, its tasks and their files; tasks of other jobs that still needed one of them fail with user_deleted_task.",
      params: idParams,
      response: { 200: emptyAnswer, ...commonErrors },
    },
    handler: async (request, reply) => {
      const { id } = request.params as { id: string };
      assertIdShape("job", id);
      await deleteJob(engine, storage, request.accountId, id);
      return reply.code(200).send();
    },
  });
}
