/** Jobs: create, show, wait. */
import { isJobEnded } from "@transmute/core";
import { createJob, getJobView } from "@transmute/jobs";
import { stageBase64File } from "@transmute/operations";
import { checkWebhookUrl } from "./webhooks.js";
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
    schema: {
      summary: "Create a job",
      description: "Creates a job of named tasks, each run once the tasks named in its `input` have completed; import/upload tasks answer with their upload form at once. The body may be as large as TRANSMUTE_BASE64_BODY_LIMIT (import/base64 files).",
      body: objectBody,
      response: { 201: { $ref: "Job#" }, ...commonErrors, 413: { $ref: "Error#" } },
    },
    handler: async (request, reply) => {
      // CloudConvert's per-job webhook: checked like a webhook's URL, before anything is written.
      const hookField = (request.body as Record<string, unknown> | null)?.webhook_url;
      const webhookUrl = hookField === undefined || hookField === null ? undefined : checkWebhookUrl(hookField, "webhook_url", deps.outbound);
      const jobId = await createJob(engine, request.accountId, request.body, { ...base64Staging(deps), webhookUrl });
      reply.code(201);
      return getJobView(engine.prisma, engine.settings, request.accountId, jobId);
    },
  });

  app.get("/v1/process/jobs/:id", {
    schema: { summary: "Show a job", params: idParams, response: { 200: { $ref: "Job#" }, ...commonErrors } },
    handler: async (request) => {
      const { id } = request.params as { id: string };
      assertIdShape("job", id);
      return getJobView(engine.prisma, engine.settings, request.accountId, id);
    },
  });

  app.get("/v1/process/jobs/:id/wait", {
    schema: {
      summary: "Wait for a job to end",
      description: "Holds the request until the job has ended, at most TRANSMUTE_WAIT_TIMEOUT_SECONDS, then answers with the job as it is.",
      params: idParams,
      response: { 200: { $ref: "Job#" }, ...commonErrors },
    },
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
