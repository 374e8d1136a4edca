/** How the S3 driver turns the SDK's errors into AppErrors, without ever leaking a credential. */
import { AppError, isAppError, redactSecrets } from "@transmute/core";

/** What identifies the store in an operator-facing `detail`. */
export interface S3ErrorContext {
  bucket: string;
  /** Strings that must never appear in a message or detail (access key id, secret, session token). */
  secrets: Array<string | undefined>;
}

// Failures a retry can outlast: the store or the network, not our configuration.
const TRANSIENT_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ESOCKETTIMEDOUT", "EPIPE", "EAI_AGAIN", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH"]);
const TRANSIENT_NAMES = new Set(["TimeoutError", "RequestTimeout", "SlowDown", "ServiceUnavailable", "InternalError", "ThrottlingException"]);

/** True when the SDK says the object (or, for HeadObject, anything at that key) does not exist. */
export function isNoSuchKey(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | null;
  return e?.name === "NoSuchKey" || e?.name === "NotFound" || (e?.$metadata?.httpStatusCode === 404 && e?.name !== "NoSuchBucket");
}

/** True when a ranged GET started past the end of the object (S3 answers 416). */
export function isInvalidRange(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | null;
  return e?.name === "InvalidRange" || e?.$metadata?.httpStatusCode === 416;
}

/**
 * Maps a failure of an S3 call to an AppError. AppErrors and AbortErrors (a put's own limit,
 * its caller's signal) pass through unchanged, as the local driver lets them. The SDK error is
 * never attached as `cause`: it may hold the signed request.
 */
export function toStorageError(err: unknown, action: string, ctx: S3ErrorContext): unknown {
  if (isAppError(err)) return err;
  if (err instanceof Error && err.name === "AbortError") return err;
  const e = (err ?? {}) as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number }; $fault?: string };
  const name = e.name ?? "Error";
  const status = e.$metadata?.httpStatusCode;
  const detail = redactSecrets(`S3 ${action} in bucket "${ctx.bucket}" failed: ${name}${status ? ` (HTTP ${status})` : ""}: ${e.message ?? ""}`, ctx.secrets);
  const transient = (e.code !== undefined && TRANSIENT_CODES.has(e.code)) || TRANSIENT_NAMES.has(name) || e.$fault === "server" || (status !== undefined && status >= 500);
  if (transient) return new AppError("service_unavailable", "File storage is unavailable, try again later.", { detail, retryable: true });
  // Credentials, a missing bucket, a wrong region: the operator's setting, not the caller's doing.
  return new AppError("internal_error", "Internal error", { detail });
}
