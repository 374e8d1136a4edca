/**
 * The one place that turns errors on the Filewall routes into Filewall's answers: the body is
 * `{"error": "<code>"}` with Filewall's own codes (not FreeConvert's `{code, message}`). The
 * message and detail go to the log only; a Filewall client reads nothing but the code.
 */
import { isAppError } from "@transmute/core";
import { isFilewallError, type FilewallErrorCode } from "@transmute/jobs";
import type { FastifyInstance } from "fastify";
import { toHttpError } from "./errors.js";

/** Maps any error to the status and Filewall code the client gets. */
export function toFilewallHttpError(err: unknown): { status: number; error: FilewallErrorCode } {
  if (isFilewallError(err)) return { status: err.status, error: err.code };
  // Everything else goes through the gateway's own mapping first (Fastify's errors included),
  // then its status picks the Filewall code: Filewall has one code per class of problem.
  const { status } = toHttpError(err);
  if (status === 413) return { status: 413, error: "invalid_request" };
  if (status === 404) return { status: 404, error: "not_found" };
  if (status === 429) return { status: 429, error: "too_many_requests" };
  if (status >= 500) return { status: 500, error: "internal_error" };
  return { status: 400, error: "invalid_request" };
}

/** Installs the Filewall error handler on the plugin that holds the Filewall routes. */
export function installFilewallErrors(app: FastifyInstance): void {
  app.setErrorHandler((err, request, reply) => {
    const { status, error } = toFilewallHttpError(err);
    if (status >= 500) request.log.error({ err }, "filewall request failed");
    else request.log.info({ error, reason: (err as Error)?.message, detail: isAppError(err) ? err.detail : undefined }, "filewall request refused");
    // A refused body still on the wire (an upload over the limit) is not read: the connection goes.
    const bodyPending = !request.raw.readableEnded && (request.headers["transfer-encoding"] !== undefined || Number(request.headers["content-length"] ?? 0) > 0);
    if (bodyPending) reply.header("connection", "close");
    if (error === "too_many_requests") reply.header("retry-after", "1");
    return reply.code(status).type("application/json; charset=utf-8").send({ error });
  });
}
