/**
 * The refusals of the Filewall facade that Transmute's own error list has no code for (an
 * account's file quota). The gateway's Filewall error mapping turns these and AppErrors into
 * Filewall's `{"error": code}` answers; nothing else sends them.
 */

/** Filewall's error codes, with their HTTP status (from the Authorize reference, plus not_found). */
export const FILEWALL_ERROR_CODES = {
  invalid_request: 400,
  payment_required: 402,
  auth_failed: 403,
  not_found: 404,
  value_error: 406,
  too_many_requests: 429,
  internal_error: 500,
} as const;

/** One of Filewall's error codes. */
export type FilewallErrorCode = keyof typeof FILEWALL_ERROR_CODES;

/** A refusal in Filewall's terms; `message` goes to the operator's log only (Filewall bodies carry just the code). */
export class FilewallError extends Error {
  readonly code: FilewallErrorCode;
  readonly status: number;

  constructor(code: FilewallErrorCode, message: string) {
    super(message);
    this.name = "FilewallError";
    this.code = code;
    this.status = FILEWALL_ERROR_CODES[code];
  }
}

/** True for a FilewallError, including one thrown across a package boundary (checked by shape). */
export function isFilewallError(err: unknown): err is FilewallError {
  return err instanceof FilewallError || (err instanceof Error && err.name === "FilewallError" && Object.hasOwn(FILEWALL_ERROR_CODES, (err as FilewallError).code));
}
