/**
 * The `result` object of tasks and jobs, decided here once for every operation: a task that
 * produced files lists them; a failed, canceled or never-run task carries `{errorCode, msg}`
 * (official example clients read `result.errorCode` and `result.msg.trim()` on every task that
 * did not complete).
 */
import type { ErrorCode } from "./errors.js";

/** One produced file as a task result lists it. */
export interface FileResult {
  filename: string;
  size: number;
  content_type: string;
  /** Present on files published by export/url. */
  url?: string;
  [extra: string]: unknown;
}

/** The result of a task that did not complete, and of a failed job. */
export interface FailureResult {
  errorCode: ErrorCode;
  msg: string;
}

/** Builds a failure result; an empty message is replaced, since clients call `msg.trim()`. */
export function failureResult(code: ErrorCode, msg: string): FailureResult {
  const text = msg.trim();
  return { errorCode: code, msg: text.length > 0 ? text : code.replaceAll("_", " ") };
}

/** The result of a task that completed with files; export/url also has `url`, its first link. */
export function filesResult(files: FileResult[], withUrl: boolean): Record<string, unknown> {
  const result: Record<string, unknown> = { files };
  if (withUrl && files[0]?.url) result.url = files[0].url;
  return result;
}
