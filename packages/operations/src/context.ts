/**
 * What an operation handler gets: its task, its inputs, a scratch directory, an abort signal,
 * limits, and a sink for its outputs. Handlers never see which storage driver or queue runs.
 */
import type { Readable } from "node:stream";
import type { InputFileOf } from "@transmute/core";
import type { BlobStore } from "@transmute/storage";
import type { OutboundPolicy } from "@transmute/outbound";
import type { OutputSink } from "./output-sink.js";

/** One input file of the task, in input order. */
export type InputFile = InputFileOf;

/** Runs an image conversion where it can be killed (the engines' process pool). */
export interface ImageConverter {
  convert(
    request: {
      inputPath: string;
      outputPath: string;
      inputFormat: string;
      outputFormat: string;
      /** The task's raw `options`; the engine validates them against its own table. */
      options: unknown;
      limits: { maxPixels: number };
    },
    opts: { signal: AbortSignal; timeoutMs: number },
  ): Promise<{ width: number; height: number; format: string; size: number; ignoredOptions: string[] }>;
}

/** Limits a handler works within. */
export interface OperationLimits {
  /** The image decoder's pixel cap. */
  maxPixels: number;
  /** What is left of the task's wall-clock budget, ms. */
  timeoutMs: number;
  importUrlMaxBytes: number;
  importUrlTimeoutMs: number;
}

/** A handler's context. */
export interface OperationContext {
  task: { id: string; jobId: string; accountId: string; name: string; operation: string; payload: Record<string, unknown>; attempt: number };
  inputs: InputFile[];
  storage: BlobStore;
  scratchDir: string;
  signal: AbortSignal;
  limits: OperationLimits;
  outbound: OutboundPolicy;
  engines: { image: ImageConverter };
  output: OutputSink;
  /** Reports progress (0..100); cheap to call often. */
  progress(percent: number): void;
  log: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
}

/** What a handler returns beyond its files: extra fields of the task's result. */
export interface OperationOutcome {
  result?: Record<string, unknown>;
}

/** An operation handler. */
export interface OperationHandler {
  name: string;
  run(ctx: OperationContext): Promise<OperationOutcome>;
}

/** Reads a stream to a Buffer (small files only: tests and SVG). */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
