/** Keeping credentials out of error text: the one replacement every connector and driver uses. */
import { AppError } from "./errors.js";

/** What a credential is replaced by, as secret payload fields are shown. */
export const REDACTED = "*****";

/**
 * `text` with every occurrence of each secret replaced by "*****". Values shorter than 4
 * characters are left alone: replacing them would garble the text and hide nothing.
 */
export function redactSecrets(text: string, secrets: Iterable<string | undefined>): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 4) out = out.split(secret).join(REDACTED);
  }
  return out;
}

/** The same AppError with `redact` applied to its message and detail (code and retryable kept). */
export function redactAppError(err: AppError, redact: (text: string) => string): AppError {
  return new AppError(err.code, redact(err.message), { ...(err.detail ? { detail: redact(err.detail) } : {}), retryable: err.retryable });
}
