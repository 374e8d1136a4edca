/**
 * The closed list of error codes Transmute answers with, and the HTTP status of each.
 * Codes are FreeConvert's own where it has one; a route or operation never invents a code
 * outside this list. Match errors by `code`, never by message text.
 */
export const ERROR_CODES = {
  // Request errors (HTTP answers).
  invalid_request: 400,
  invalid_json: 400,
  invalid_task_name: 400,
  unknown_operation: 400,
  unknown_task: 400,
  dependency_cycle: 400,
  invalid_payload: 400,
  invalid_option: 400,
  upload_expired: 400,
  too_many_files: 400,
  unauthorized: 401,
  forbidden: 403,
  invalid_signature: 403,
  not_found: 404,
  method_not_allowed: 405,
  not_acceptable: 406,
  conflict: 409,
  upload_finished: 409,
  task_ended: 409,
  gone: 410,
  file_expired: 410,
  overuse: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  too_many_requests: 429,
  internal_error: 500,
  service_unavailable: 503,

  // Task failure codes (a task's `code` and `result.errorCode`; the HTTP status is what a
  // standalone request would get if the same problem were detected up front).
  upstream_failed: 422,
  processing_failed: 422,
  engine_timeout: 422,
  upload_timeout: 422,
  format_mismatch: 422,
  unsupported_format: 422,
  unsupported_conversion: 422,
  corrupt_file: 422,
  image_too_large: 422,
  password_protected: 422,
  limit_exceeded: 422,
  unsafe_archive: 422,
  file_too_large: 413,
  download_failed: 422,
  outbound_refused: 422,
  no_input: 422,
  canceled: 422,
  user_deleted_task: 422,
  worker_lost: 500,
} as const;

/** One of the closed list of error codes. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** True when `code` is one of the closed list. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && Object.prototype.hasOwnProperty.call(ERROR_CODES, code);
}

/**
 * An error whose message is safe to show to the API caller. `detail` is for the operator's
 * log only (it may name settings, paths or addresses that the caller must not see).
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: string | undefined;
  /** Whether a retry of the same work could succeed (transient), or not (bad input). */
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, opts: { detail?: string; retryable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "AppError";
    this.code = code;
    this.status = ERROR_CODES[code];
    this.detail = opts.detail;
    this.retryable = opts.retryable ?? false;
  }
}

/** True for an AppError, including one thrown across a package boundary (checked by shape). */
export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError || (err instanceof Error && err.name === "AppError" && isErrorCode((err as AppError).code));
}
