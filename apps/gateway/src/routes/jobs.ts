/** Jobs: create, show, wait. */
import { isJobEnded } from "@transmute/core";
import { createJob, getJobView } from "@transmute/jobs";
import { stageBase64File } from "@transmute/operations";
import type { FastifyInstance } from "fastify";
import { commonErrors, idParams, objectBody } from "../schemas.js";
import { assertIdShape } from "../ids.js";
import type { GatewayDeps } from "../types.js";
import { waitForEnd } from "../waiter.js";

/** Stages import/base64 files to storage at creation and removes them if the job is not written. */
export function base64Staging(deps: GatewayDeps) {
  return {
    stageLargeField: ({ taskId, value, payload }: { taskId: string; value: unknown; payload: Record<string, unknown> }) =>
      stageBase64File(deps.storage, taskId, value, payload.filename),
    discardStaged: async (files: Array<{ storageKey: string }>) => {
      await Promise.all(files.map((f) => deps.storage.delete(f.storageKey)));
    },
  };
}

/** Registers the job routes. */
export function jobRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  const { engine } = deps;

  app.post("/v1/process/jobs", {
    bodyLimit: deps.settings.base64BodyLimit,
    schema: { body: objectBody, response: { 201: { $ref: "Job#" }, ...commonErrors } },
    handler: async (request, reply) => {
      const jobId = await createJob(engine, request.accountId, request.body, base64Staging(deps));
      reply.code(201);
      return getJobView(engine.prisma, engine.settings, request.accountId, jobId);
    },
  });

  app.get("/v1/process/jobs/:id", {
    schema: { params: idParams, response: { 200: { $ref: "Job#" }, ...commonErrors } },
    handler: async (request) => {
      const { id } = request.params as { id: string };
      assertIdShape("job", id);
      return getJobView(engine.prisma, engine.settings, request.accountId, id);
    },
  });

  app.get("/v1/process/jobs/:id/wait", {
    schema: { params: idParams, response: { 200: { $ref: "Job#" }, ...commonErrors } },
    handler: async (request, reply) => {
      const { id } = request.params as { id: string };
      assertIdShape("job", id);
      return waitForEnd(
        deps,
        reply,
        () => getJobView(engine.prisma, engine.settings, request.accountId, id),
        (view) => isJobEnded(String(view.status)),
        (event) => event.jobId === id,
      );
    },
  });
}
