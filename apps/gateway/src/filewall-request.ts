/**
 * What a Filewall client sends: the key in an `apikey` header, the limits of an authorization
 * as a JSON object, the name of an upload in a `filename` header. Each is read here only.
 */
import { SECURE_OPTIONS, hashApiKey, sanitizeFilename, type SecureOptions } from "@transmute/core";
import { authenticateKey, FilewallError, type FilewallCaller } from "@transmute/jobs";
import type { FastifyRequest } from "fastify";
import type { GatewayDeps } from "./types.js";

/** The caller of a request: no key is 400 invalid_request, an unknown or revoked one 403 auth_failed. */
export async function authenticateFilewall(deps: GatewayDeps, request: FastifyRequest): Promise<FilewallCaller> {
  // Node lowercases header names: APIKEY, ApiKey and apikey all arrive here.
  const raw = request.headers.apikey;
  const key = typeof raw === "string" ? raw.trim() : "";
  if (!key) throw new FilewallError("invalid_request", "no apikey header");
  const accountId = await authenticateKey(deps.engine.prisma, key);
  if (!accountId) throw new FilewallError("auth_failed", "unknown or revoked API key");
  return { accountId, keyHash: hashApiKey(key) };
}

/**
 * The limits of an authorization. Not an object, or a field Filewall does not define, is 400
 * invalid_request; a value that is not a whole number in the option's range is 406 value_error.
 * A null value counts as absent (clients serialise unset optional fields so).
 */
export function parseFilewallLimits(body: unknown): SecureOptions {
  if (body === undefined) return {};
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new FilewallError("invalid_request", "the body is not a JSON object");
  const specs = new Map(SECURE_OPTIONS.map((spec) => [spec.name as string, spec]));
  const limits: Record<string, number> = {};
  for (const [name, value] of Object.entries(body)) {
    const spec = specs.get(name);
    if (!spec) throw new FilewallError("invalid_request", `unknown field ${JSON.stringify(name)}; valid: ${[...specs.keys()].join(", ")}`);
    if (value === null) continue;
    if (typeof value !== "number" || !Number.isInteger(value) || value < (spec.min ?? 1) || value > (spec.max ?? Number.MAX_SAFE_INTEGER)) {
      throw new FilewallError("value_error", `${name} must be a whole number from ${spec.min} to ${spec.max}; got ${JSON.stringify(value)}`);
    }
    limits[name] = value;
  }
  return limits as SecureOptions;
}

/**
 * The name of an upload from its `filename` header: percent-encoded or plain, and plain UTF-8
 * bytes too (Node reads header bytes as Latin-1), then sanitised as every stored name is.
 */
export function filenameFromHeader(value: string | string[] | undefined): string {
  let name = typeof value === "string" ? value.trim() : "";
  if (/%[0-9a-f]{2}/i.test(name)) {
    try {
      name = decodeURIComponent(name);
    } catch {
      // Not valid percent-encoding: a plain name that happens to contain "%".
    }
  } else if (/[\u0080-\u00ff]/.test(name)) {
    const utf8 = Buffer.from(name, "latin1").toString("utf8");
    if (!utf8.includes("\ufffd")) name = utf8;
  }
  return sanitizeFilename(name || "file");
}
