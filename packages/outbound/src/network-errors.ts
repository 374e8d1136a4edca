import { AppError, isAppError } from "@transmute/core";

const TLS_CODE = /CERT|SSL|TLS|EPROTO|HOSTNAME_MISMATCH|ALTNAME/;

/** Error codes of a connection that did not get through: name resolution, refusal, reset, route. */
const UNREACHABLE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "ENODATA", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ENETDOWN", "EPIPE", "UNABLE_TO_VERIFY_LEAF_SIGNATURE"]);

/**
 * True when `code` (a node:net, dns or tls error code) says the peer could not be reached or
 * its TLS certificate was not accepted: what the connectors report as "could not be reached".
 * Timeouts (ETIMEDOUT) are not in it: each caller reports its own time limit.
 */
export function isUnreachableCode(code: string | undefined): boolean {
  return code !== undefined && (UNREACHABLE_CODES.has(code) || (code !== "ETIMEDOUT" && TLS_CODE.test(code)));
}

/**
 * Turns a node:net/http/tls error into a `download_failed` AppError whose message a caller
 * can act on. `host` is "hostname:port" (never credentials). Transient failures (refused,
 * reset, unreachable, temporary DNS) are retryable; bad names, TLS and protocol errors are not,
 * because retrying the same URL gives the same answer.
 */
export function toDownloadError(err: unknown, host: string): AppError {
  if (isAppError(err)) return err;
  const e = err as NodeJS.ErrnoException | undefined;
  const code = typeof e?.code === "string" ? e.code : "";
  const message = e instanceof Error ? e.message : String(err);
  const make = (text: string, retryable: boolean): AppError =>
    new AppError("download_failed", text, { retryable, cause: err, detail: code ? `${code}: ${message}` : message });

  switch (code) {
    case "ENOTFOUND":
      return make(`Could not resolve host ${host}: no such name`, false);
    case "EAI_AGAIN":
      return make(`Could not resolve host ${host}: temporary DNS failure`, true);
    case "ENODATA":
      return make(`Could not resolve host ${host}: no address records`, false);
    case "ECONNREFUSED":
      return make(`Connection to ${host} was refused`, true);
    case "ECONNRESET":
    case "EPIPE":
      return make(`Connection to ${host} was reset`, true);
    case "ETIMEDOUT":
    case "ENETUNREACH":
    case "EHOSTUNREACH":
    case "EHOSTDOWN":
    case "ENETDOWN":
    case "EADDRNOTAVAIL":
      return make(`Could not reach ${host} (${code})`, true);
  }
  if (code.startsWith("HPE_")) return make(`${host} sent an invalid HTTP response`, false);
  if (TLS_CODE.test(code)) return make(`TLS connection to ${host} failed: ${message}`, false);
  return make(`Download from ${host} failed: ${message}`, true);
}
