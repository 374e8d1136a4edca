/**
 * API key authentication, as FreeConvert clients send it: `Authorization: Bearer <key>` in any
 * case, with or without the space (official samples concatenate `'Bearer' + key`), or the bare key.
 */
import { AppError } from "@transmute/core";
import { authenticateKey } from "@transmute/jobs";
import type { FastifyRequest } from "fastify";
import type { GatewayDeps } from "./types.js";

/** The key in an Authorization header value, or null. */
export function parseAuthorization(header: string | undefined): string | null {
  if (!header) return null;
  const value = header.trim().replace(/^bearer\s*/i, "").trim();
  return value.length > 0 ? value : null;
}

/** A preHandler that sets `request.accountId` or answers 401. */
export function requireApiKey(deps: GatewayDeps) {
  return async (request: FastifyRequest): Promise<void> => {
    const key = parseAuthorization(request.headers.authorization);
    if (!key) throw new AppError("unauthorized", "Missing API key: send Authorization: Bearer <key>.");
    const accountId = await authenticateKey(deps.engine.prisma, key);
    if (!accountId) throw new AppError("unauthorized", "Invalid API key.");
    request.accountId = accountId;
  };
}

/** A preHandler answering 406 when the Accept header excludes JSON. */
export async function requireJsonAccept(request: FastifyRequest): Promise<void> {
  const accept = request.headers.accept;
  if (!accept) return;
  const ok = accept.split(",").some((part) => {
    const type = part.split(";")[0]!.trim().toLowerCase();
    const q = /;\s*q=([0-9.]+)/.exec(part)?.[1];
    return (type === "*/*" || type === "application/*" || type === "application/json" || type.endsWith("+json")) && q !== "0";
  });
  if (!ok) throw new AppError("not_acceptable", "This endpoint answers application/json only.");
}
