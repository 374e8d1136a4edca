/**
 * The one place that turns errors into HTTP answers. The body is FreeConvert's `{code, message}`;
 * the message is the caller's (it names the offending field), the log gets the detail; a stack
 * trace never reaches a client. Fastify's own errors are mapped to the closed list of codes.
 */
import { AppError, isAppError, type ErrorCode } from "@transmute/core";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "unsupported_media_type",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "invalid_request",
  FST_ERR_CTP_BODY_TOO_LARGE: "payload_too_large",
  FST_ERR_CTP_EMPTY_JSON_BODY: "invalid_json",
  FST_ERR_CTP_INVALID_JSON_BODY: "invalid_json",
  FST_REQ_FILE_TOO_LARGE: "payload_too_large",
  FST_PARTS_LIMIT: "too_many_files",
  FST_FILES_LIMIT: "too_many_files",
  FST_FIELDS_LIMIT: "invalid_request",
  FST_INVALID_MULTIPART_CONTENT_TYPE: "unsupported_media_type",
  FST_ERR_VALIDATION: "invalid_request",
};

/** Maps any error to the code, status and message the client gets. */
export function toHttpError(err: unknown): { status: number; code: ErrorCode; message: string } {
  if (isAppError(err)) return { status: err.status, code: err.code, message: err.message };
  const fe = err as FastifyError;
  if (fe && typeof fe.code === "string" && FASTIFY_CODES[fe.code]) {
    const code = FASTIFY_CODES[fe.code]!;
    const status = fe.code === "FST_ERR_VALIDATION" ? 400 : (fe.statusCode ?? new AppError(code, "").status);
    return { status, code, message: fe.message };
  }
  if (fe instanceof SyntaxError) return { status: 400, code: "invalid_json", message: "The request body is not valid JSON." };
  if (fe && typeof fe.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, code: fe.statusCode === 413 ? "payload_too_large" : "invalid_request", message: fe.message };
  }
  return { status: 500, code: "internal_error", message: "Something went wrong on our side; the operator's log has the details." };
}

/** Sends an error answer. */
export function sendError(reply: FastifyReply, status: number, code: ErrorCode, message: string): FastifyReply {
  return reply.code(status).type("application/json; charset=utf-8").send({ code, message });
}

/** Installs the error handler, the 404 handler (405 for a known path with another method). */
export function installErrorHandling(app: FastifyInstance): void {
  const patterns: Array<{ regex: RegExp; methods: Set<string> }> = [];
  app.addHook("onRoute", (route) => {
    const source = route.url
      .replace(/[.+?^${}()|[\]\\]/g, "\\$&")
      .replace(/\/:[^/]+/g, "/[^/]+")
      .replace(/\*/g, ".*");
    const regex = new RegExp(`^${source}/?$`);
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const found = patterns.find((p) => p.regex.source === regex.source);
    if (found) methods.forEach((m) => found.methods.add(m));
    else patterns.push({ regex, methods: new Set(methods) });
  });

  app.setErrorHandler((err, request: FastifyRequest, reply) => {
    const { status, code, message } = toHttpError(err);
    if (status >= 500) request.log.error({ err }, "request failed");
    else request.log.info({ code, detail: isAppError(err) ? err.detail : undefined }, message);
    if (code === "too_many_requests") reply.header("retry-after", "1");
    return sendError(reply, status, code, message);
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?")[0] ?? "";
    const match = patterns.find((p) => p.regex.test(path));
    if (match && !match.methods.has(request.method)) {
      const allow = [...match.methods].filter((m) => m !== "HEAD").join(", ");
      reply.header("allow", allow);
      return sendError(reply, 405, "method_not_allowed", `${request.method} is not allowed on ${path}; use ${allow}.`);
    }
    return sendError(reply, 404, "not_found", `No route ${request.method} ${path}.`);
  });
}
