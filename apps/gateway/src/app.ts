/**
 * The gateway: a Fastify app with the FreeConvert v1 surface under /v1. Routes are registered
 * from one explicit list below, so this file shows the whole API.
 */
import multipart from "@fastify/multipart";
import Fastify, { type FastifyInstance } from "fastify";
import { requireApiKey, requireJsonAccept } from "./auth.js";
import { installErrorHandling } from "./errors.js";
import { createMemoryRateLimitStore, createRedisRateLimitStore, limitByApiKey, limitByKeyOrAddress } from "./rate-limit.js";
import { registerOpenApi } from "./openapi.js";
import { attachRealtime } from "./realtime.js";
import { accountRoutes } from "./routes/account.js";
import { downloadRoutes } from "./routes/download.js";
import { filewallRoutes } from "./routes/filewall.js";
import { jobRoutes } from "./routes/jobs.js";
import { lifecycleRoutes } from "./routes/lifecycle.js";
import { listRoutes } from "./routes/lists.js";
import { authenticateIfKeyGiven, queryRoutes } from "./routes/options.js";
import { taskRoutes } from "./routes/tasks.js";
import { uploadRoutes } from "./routes/upload.js";
import { webhookRoutes } from "./routes/webhooks.js";
import { errorSchema, jobSchema, taskSchema, userSchema } from "./schemas.js";
import type { GatewayDeps } from "./types.js";

/** Builds the gateway app (not listening yet). */
export async function buildGateway(options: GatewayDeps): Promise<FastifyInstance> {
  const closing = new AbortController();
  const deps: GatewayDeps = { ...options, closing: closing.signal };
  const app = Fastify({
    loggerInstance: deps.logger,
    // No total request timeout: /wait and big uploads are long. Idle sockets are cut instead
    // (connectionTimeout), a little after the longest /wait.
    requestTimeout: 0,
    connectionTimeout: (deps.settings.waitTimeoutSeconds + 60) * 1000,
    keepAliveTimeout: 72_000,
    bodyLimit: 1024 * 1024,
    routerOptions: { ignoreTrailingSlash: true },
    // Only a configured proxy may tell us the client address: anyone else could forge it.
    trustProxy: deps.settings.trustProxy.length > 0 ? [...deps.settings.trustProxy] : false,
  });
  installErrorHandling(app);
  // First: the OpenAPI document sees only the routes registered after it.
  await registerOpenApi(app, deps.settings);
  // Long /wait requests would hold a graceful close for minutes: they answer now instead.
  app.addHook("preClose", async () => closing.abort());
  app.addSchema(errorSchema);
  app.addSchema(taskSchema);
  app.addSchema(jobSchema);
  app.addSchema(userSchema);

  // JSON bodies: an empty body counts as {} (the reference's curl and Python samples send that).
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    if (typeof body === "string" && body.trim() === "") return done(null, {});
    return parseJson(request, body as string, done);
  });
  await app.register(multipart, { throwFileSizeLimit: true });

  // Left out of the OpenAPI document: it is for load balancers, not API clients.
  app.get("/healthz", { schema: { hide: true } }, async () => {
    await deps.engine.prisma.$queryRaw`SELECT 1`;
    return { status: "ok" };
  });

  // Routes of the signed links: the link is the credential.
  await app.register(async (open) => {
    uploadRoutes(open, deps);
    downloadRoutes(open, deps);
  });

  // The Filewall facade: its own key header, bodies and error shape (docs/filewall.md).
  await app.register((filewall) => filewallRoutes(filewall, deps));

  // Rate limits: per API key and class on the API, per client address on keyless queries.
  // Downloads and upload forms are not limited: their signed link or slot is the credential.
  const limits = deps.settings.rateLimits;
  const rateStore = deps.settings.redis
    ? createRedisRateLimitStore({ ...deps.settings.redis, onError: (err) => app.log.warn({ err }, "rate limit store unreachable; request let through") })
    : createMemoryRateLimitStore();
  app.addHook("onClose", () => rateStore.close());

  // Public queries: JSON only, an API key optional.
  await app.register(async (query) => {
    query.addHook("onRequest", requireJsonAccept);
    query.addHook("onRequest", authenticateIfKeyGiven(deps));
    query.addHook("onRequest", limitByKeyOrAddress(rateStore, limits));
    queryRoutes(query, deps);
  });

  // The API proper: JSON only, an API key on every request.
  await app.register(async (api) => {
    api.addHook("onRequest", requireJsonAccept);
    api.addHook("onRequest", requireApiKey(deps));
    api.addHook("onRequest", limitByApiKey(rateStore, limits));
    // A POST without any body (no Content-Type either, as Java's sample sends it) counts as {},
    // like the empty JSON body above.
    api.addHook("preValidation", async (request) => {
      if (request.method === "POST" && request.body === undefined) request.body = {};
    });
    jobRoutes(api, deps);
    taskRoutes(api, deps);
    listRoutes(api, deps);
    lifecycleRoutes(api, deps);
    accountRoutes(api, deps);
    webhookRoutes(api, deps);
  });

  // Socket.io realtime updates on the same HTTP server, at /socket.io.
  attachRealtime(app, deps);
  return app;
}
