/**
 * The messages between a process pool and its children, and how errors cross that boundary.
 * JSON over the IPC channel: requests and responses are small (paths, sizes), never file bytes.
 */
import { AppError, isAppError, isErrorCode } from "@transmute/core";

/** Parent to child: run one request. */
export interface RunMessage {
  type: "run";
  id: number;
  request: unknown;
}

/** An error as it crosses the process boundary. */
export interface WireError {
  code: string;
  message: string;
  detail?: string;
  retryable?: boolean;
}

/** Child to parent: the child loaded its handler module, or finished one request. */
export type ChildMessage =
  | { type: "ready" }
  | { type: "result"; id: number; ok: true; response: unknown }
  | { type: "result"; id: number; ok: false; error: WireError };

/** Flattens an error for the wire; anything that is not an AppError becomes `processing_failed`. */
export function toWireError(err: unknown): WireError {
  if (isAppError(err)) return { code: err.code, message: err.message, detail: err.detail, retryable: err.retryable };
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  return { code: "processing_failed", message: "the conversion failed", detail };
}

/** Rebuilds the AppError a child sent. */
export function fromWireError(wire: WireError): AppError {
  const code = isErrorCode(wire.code) ? wire.code : "processing_failed";
  const opts: { detail?: string; retryable?: boolean } = { retryable: wire.retryable ?? false };
  if (wire.detail !== undefined) opts.detail = wire.detail;
  return new AppError(code, wire.message, opts);
}
