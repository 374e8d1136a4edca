/**
 * The S3 client of import/s3 and export/s3: AWS or any S3-compatible store, every connection
 * through agents of the outbound policy, and one mapping of the SDK's errors to our codes with
 * messages that never carry a credential.
 */
import type { Agent as HttpAgent } from "node:http";
import type { Agent as HttpsAgent } from "node:https";
import type { S3Client } from "@aws-sdk/client-s3";
import { AppError, isAppError, redactAppError, redactSecrets, type ErrorCode } from "@transmute/core";
import { createGuardedAgent, isUnreachableCode, retireAgent, type OutboundPolicy } from "@transmute/outbound";
import { createS3Client, S3_IDLE_TIMEOUT_MS } from "@transmute/storage";

/** Region signed for when only an endpoint is given (what S3-compatible stores expect). */
const DEFAULT_REGION = "us-east-1";

/** Where and as whom to connect, from the task's payload. */
export interface S3Connection {
  bucket: string;
  region: string | undefined;
  endpoint: string | undefined;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string | undefined;
}

/** The connection fields of an import/s3 or export/s3 payload (validated at job creation). */
export function s3ConnectionOf(payload: Record<string, unknown>): S3Connection {
  const text = (name: string) => (typeof payload[name] === "string" ? (payload[name] as string) : undefined);
  return {
    bucket: String(payload.bucket),
    region: text("region"),
    endpoint: text("endpoint"),
    accessKeyId: String(payload.access_key_id),
    secretAccessKey: String(payload.secret_access_key),
    sessionToken: text("session_token"),
  };
}

/** A client and what to release once the operation ends. */
export interface S3Session {
  client: S3Client;
  /** Closes every connection (idempotent). */
  close(): void;
}

/**
 * A client for `conn` whose every connection is checked against `outbound` (a custom endpoint
 * on a refused address fails with outbound_refused, before any byte is sent). A custom endpoint
 * is addressed path-style: most S3-compatible stores, and any endpoint given as an IP address,
 * have no per-bucket host names.
 */
export function createS3Session(conn: S3Connection, outbound: OutboundPolicy): S3Session {
  const agentOptions = { keepAlive: true, maxSockets: 8 };
  const httpAgent: HttpAgent = createGuardedAgent(outbound, { agentOptions });
  const httpsAgent: HttpsAgent = createGuardedAgent(outbound, { https: true, agentOptions });
  const client = createS3Client({
    region: conn.region ?? DEFAULT_REGION,
    ...(conn.endpoint ? { endpoint: conn.endpoint, forcePathStyle: true } : {}),
    accessKeyId: conn.accessKeyId,
    secretAccessKey: conn.secretAccessKey,
    sessionToken: conn.sessionToken,
    httpAgent,
    httpsAgent,
  });
  let closed = false;
  return {
    client,
    close() {
      if (closed) return;
      closed = true;
      // Retired, not just destroyed: the SDK retries a part whose socket was closed under it,
      // and a destroyed agent would open a new connection for the retry.
      retireAgent(httpAgent, "The S3 session");
      retireAgent(httpsAgent, "The S3 session");
      client.destroy();
    },
  };
}

/** What the failing call was doing, to name it in the message. */
export interface S3Failure {
  direction: "import" | "export";
  conn: S3Connection;
  key?: string;
  /** The task's signal: aborted means canceled (or the task's own time limit). */
  signal: AbortSignal;
}

const CREDENTIAL_ERRORS = new Set(["InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "TokenRefreshRequired", "AccessDenied", "InvalidClientTokenId", "AuthorizationHeaderMalformed"]);

/**
 * Maps an error of the SDK (or of the guarded agents) to an AppError whose message names the
 * bucket and key but no credential; the store's own message goes to `detail`, with any
 * credential scrubbed from it. The SDK error is never attached as `cause`: it may hold the
 * signed request.
 */
export function toS3AppError(err: unknown, failure: S3Failure): AppError {
  const { conn, key, direction } = failure;
  const scrub = (text: string) => scrubSecrets(text, conn);
  if (isAppError(err)) return redactAppError(err, scrub);
  if (failure.signal.aborted) return new AppError("canceled", "The task was stopped before the S3 transfer finished.");
  const e = (err ?? {}) as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number }; $fault?: string };
  const name = e.name ?? "Error";
  const status = e.$metadata?.httpStatusCode;
  const detail = scrub(`${name}${status ? ` (HTTP ${status})` : ""}: ${e.message ?? ""}`);
  const failCode: ErrorCode = direction === "import" ? "download_failed" : "processing_failed";
  const bucket = `"${conn.bucket}"`;
  if (name === "TimeoutError" || e.code === "ETIMEDOUT" || e.code === "ESOCKETTIMEDOUT") {
    return new AppError("engine_timeout", `The S3 store did not answer within ${S3_IDLE_TIMEOUT_MS / 1000} s.`, { detail, retryable: true });
  }
  if (name === "AbortError") return new AppError("canceled", "The S3 transfer was stopped.", { detail });
  if (CREDENTIAL_ERRORS.has(name) || status === 403) {
    return new AppError(failCode, `The S3 store refused the credentials for bucket ${bucket} (${name}).`, { detail });
  }
  if (name === "NoSuchBucket") return new AppError(failCode, `The bucket ${bucket} does not exist.`, { detail });
  if (name === "NoSuchKey" || (status === 404 && key !== undefined)) {
    return new AppError(failCode, `There is no object "${key ?? ""}" in bucket ${bucket}.`, { detail });
  }
  if (name === "PermanentRedirect" || status === 301) {
    return new AppError(failCode, `The bucket ${bucket} is in another region than "${conn.region ?? DEFAULT_REGION}".`, { detail });
  }
  if (isUnreachableCode(e.code)) {
    return new AppError(failCode, `The S3 store could not be reached (${e.code}).`, { detail, retryable: true });
  }
  const answered = status ? `answered ${name} (HTTP ${status})` : "failed";
  return new AppError(failCode, `The S3 transfer of bucket ${bucket} ${answered}.`, { detail, retryable: e.$fault === "server" });
}

/** `text` with every credential of `conn` replaced by "*****". */
export function scrubSecrets(text: string, conn: S3Connection): string {
  return redactSecrets(text, [conn.secretAccessKey, conn.accessKeyId, conn.sessionToken]);
}
