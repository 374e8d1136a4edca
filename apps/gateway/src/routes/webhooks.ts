/**
 * Webhook management, at `/v1/webhooks` and at `/webhooks` (the reference serves it from a
 * separate host's `/webhooks`: a client that swaps only the host must work). Webhooks belong to
 * the key's account; another account's id is 404.
 */
import { AppError } from "@transmute/core";
import {
  createWebhook,
  deleteWebhook,
  getWebhook,
  listWebhookAttempts,
  listWebhooks,
  parsePaging,
  parseWebhookEvents,
  updateWebhook,
  type ListQuery,
} from "@transmute/jobs";
import type { FastifyInstance } from "fastify";
import { commonErrors, idParams, pageEnvelope } from "../schemas.js";
import type { GatewayDeps, UrlChecker } from "../types.js";

const OUTBOUND_SETTING = "TRANSMUTE_OUTBOUND_ALLOW";

const webhookSchema = {
  type: "object",
  properties: {
    id: { type: "string" },
    name: { type: "string" },
    status: { type: "string", enum: ["active", "inactive"] },
    events: { type: "array", items: { type: "string" } },
    url: { type: "string" },
    signingSecret: { type: "string", description: "The key of the FreeConvert-Signature HMAC-SHA256." },
    createdAt: { type: "string" },
    updatedAt: { type: "string" },
    lastErrorAt: { type: ["string", "null"] },
    lastResponseCode: { type: ["string", "null"], description: "The HTTP status of the last failed attempt, or NETWORK_ERROR / TIMEOUT." },
    links: { type: "object", properties: { self: { type: "string" } } },
  },
} as const;

const attemptSchema = {
  type: "object",
  properties: {
    id: { type: "string" },
    deliveryId: { type: "string", description: "The X-Transmute-Delivery header of the request." },
    event: { type: "string" },
    at: { type: "string" },
    responseCode: { type: "string" },
    durationMs: { type: "integer" },
  },
} as const;

const pagingQuery = {
  per_page: { description: "Webhooks per page (default 50, at most 200)." },
  page: { description: "The page to show, from 1." },
} as const;

const bodySchema = {
  type: "object",
  properties: {
    url: { type: "string", description: "An http or https URL the outbound policy (TRANSMUTE_OUTBOUND_ALLOW) allows." },
    events: { type: "array", items: { type: "string" }, description: "job.created, job.success (or its alias job.finished), job.failed, task.completed, task.failed." },
    name: { type: "string" },
    status: { type: "string", description: "PATCH only: active re-enables a disabled webhook." },
  },
} as const;

/** Checks a webhook URL field: http(s) and not refused by the outbound policy (hosts are resolved at delivery). */
export function checkWebhookUrl(value: unknown, field: string, outbound: UrlChecker | undefined): string {
  if (typeof value !== "string" || value.trim() === "") throw new AppError("invalid_request", `"${field}" is required: an http or https URL.`);
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new AppError("invalid_request", `"${field}" is not a valid URL; give an absolute http or https URL.`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new AppError("invalid_request", `"${field}" must be an http or https URL, not ${url.protocol}.`);
  }
  const check = outbound?.checkUrl(url);
  if (check && !check.allowed) {
    throw new AppError("invalid_request", `"${field}" points at a refused address (${check.rule}); the operator may allow it with ${OUTBOUND_SETTING}.`);
  }
  return url.toString();
}

function readPage(query: ListQuery): { page: number; perPage: number } {
  const paging = parsePaging(query);
  if (paging.mode !== "page") throw new AppError("invalid_request", "Webhook lists are paged with page and per_page; cursorId and maxRetrieve are not supported here.");
  return { page: paging.page, perPage: paging.perPage };
}

/** Registers the webhook routes under both prefixes. */
export function webhookRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  const { prisma } = deps.engine;
  const publicUrl = deps.settings.publicUrl;
  const tags = ["Webhooks"];
  for (const prefix of ["/v1/webhooks", "/webhooks"]) {
    app.get(prefix, {
      schema: {
        tags,
        summary: "List webhooks",
        querystring: { type: "object", properties: { url: { description: "Only webhooks with exactly this URL." }, ...pagingQuery } },
        response: { 200: pageEnvelope(webhookSchema), ...commonErrors },
      },
      handler: async (request) => {
        const query = request.query as ListQuery;
        const url = typeof query.url === "string" ? query.url : undefined;
        return listWebhooks(prisma, publicUrl, request.accountId, { url, ...readPage(query) });
      },
    });

    app.post(prefix, {
      schema: { tags, summary: "Create a webhook", body: bodySchema, response: { 201: webhookSchema, ...commonErrors } },
      handler: async (request, reply) => {
        const body = (request.body ?? {}) as Record<string, unknown>;
        const url = checkWebhookUrl(body.url, "url", deps.outbound);
        const events = parseWebhookEvents(body.events);
        if (body.name !== undefined && typeof body.name !== "string") throw new AppError("invalid_request", `"name" must be a string.`);
        const view = await createWebhook(prisma, publicUrl, request.accountId, { url, events, name: body.name as string | undefined });
        return reply.code(201).send(view);
      },
    });

    app.get(`${prefix}/:id`, {
      schema: { tags, summary: "Show a webhook", params: idParams, response: { 200: webhookSchema, ...commonErrors } },
      handler: async (request) => getWebhook(prisma, publicUrl, request.accountId, (request.params as { id: string }).id),
    });

    app.patch(`${prefix}/:id`, {
      schema: { tags, summary: "Change or re-enable a webhook", params: idParams, body: bodySchema, response: { 200: webhookSchema, ...commonErrors } },
      handler: async (request) => {
        const body = (request.body ?? {}) as Record<string, unknown>;
        const input: { url?: string; events?: string[]; name?: string; status?: "active" | "inactive" } = {};
        if (body.url !== undefined) input.url = checkWebhookUrl(body.url, "url", deps.outbound);
        if (body.events !== undefined) input.events = parseWebhookEvents(body.events);
        if (body.name !== undefined) {
          if (typeof body.name !== "string") throw new AppError("invalid_request", `"name" must be a string.`);
          input.name = body.name;
        }
        if (body.status !== undefined) {
          if (body.status !== "active" && body.status !== "inactive") throw new AppError("invalid_request", `"status" is "${String(body.status)}"; valid values: active, inactive.`);
          input.status = body.status;
        }
        return updateWebhook(prisma, publicUrl, request.accountId, (request.params as { id: string }).id, input);
      },
    });

    app.delete(`${prefix}/:id`, {
      schema: { tags, summary: "Delete a webhook", params: idParams, response: { 204: { description: "Deleted (empty body).", type: "null" }, ...commonErrors } },
      handler: async (request, reply) => {
        await deleteWebhook(prisma, request.accountId, (request.params as { id: string }).id);
        return reply.code(204).send();
      },
    });

    app.get(`${prefix}/:id/attempts`, {
      schema: {
        tags,
        summary: "List a webhook's delivery attempts",
        description: "Newest first: when, the response code (HTTP status, NETWORK_ERROR or TIMEOUT) and how long it took.",
        params: idParams,
        querystring: { type: "object", properties: pagingQuery },
        response: { 200: pageEnvelope(attemptSchema), ...commonErrors },
      },
      handler: async (request) => listWebhookAttempts(prisma, request.accountId, (request.params as { id: string }).id, readPage(request.query as ListQuery)),
    });
  }
}
