/**
 * `GET /v1/query/view/options?operation=&input_format=`: the output formats an operation can make
 * from an input format, by family, computed from the live worker registrations (never from this
 * machine). A public query: it answers without an API key (rate-limited per client address); a
 * key that is sent must be valid.
 */
import { AppError } from "@transmute/core";
import { authenticateKey, listOperationOptions } from "@transmute/jobs";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { parseAuthorization } from "../auth.js";
import { commonErrors } from "../schemas.js";
import type { GatewayDeps } from "../types.js";

const target = {
  type: "object",
  properties: { name: { type: "string" }, slug: { type: "string" }, ext: { type: "string" }, type: { type: "string" }, device: { type: "boolean" } },
} as const;

const optionsQuery = {
  type: "object",
  properties: { operation: { type: "string", minLength: 1, maxLength: 64 }, input_format: { type: "string", minLength: 1, maxLength: 32 } },
  required: ["operation", "input_format"],
} as const;

const optionsAnswer = {
  type: "object",
  properties: { type: { type: ["string", "null"] }, targets: { type: "object", additionalProperties: { type: "array", items: target } } },
} as const;

/** An onRequest hook: a request that carries a key must carry a valid one; none is fine. */
export function authenticateIfKeyGiven(deps: GatewayDeps) {
  return async (request: FastifyRequest): Promise<void> => {
    if (request.headers.authorization === undefined) return;
    const key = parseAuthorization(request.headers.authorization);
    const accountId = key ? await authenticateKey(deps.engine.prisma, key) : null;
    if (!accountId) throw new AppError("unauthorized", "Invalid API key (this endpoint also answers without one).");
    request.accountId = accountId;
  };
}

/** Registers the public query routes. */
export function queryRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  app.get("/v1/query/view/options", {
    schema: {
      summary: "List the output formats of an operation for an input format",
      description:
        "The formats `operation` can make from `input_format` right now, by family, computed from the live workers' engines. An API key is optional: without one the request is limited per client address.",
      // Either no key or the API key (OpenAPI's way to say "optional").
      security: [{}, { apiKey: [] }],
      querystring: optionsQuery,
      response: { 200: optionsAnswer, ...commonErrors },
    },
    handler: async (request) => {
      const { operation, input_format } = request.query as { operation: string; input_format: string };
      return listOperationOptions(deps.engine.prisma, operation.trim(), input_format, deps.engine.settings.staleAfterSeconds);
    },
  });
}
