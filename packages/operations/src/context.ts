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

/** Compresses one file in its own format where it can be killed (sharp's pool for images, Ghostscript for PDF). */
export interface Compressor {
  compress(
    request: { inputPath: string; outputPath: string; format: string; options: unknown; limits: { maxPixels: number } },
    opts: { signal: AbortSignal; timeoutMs: number },
  ): Promise<{ format: string; size: number; ignoredOptions: string[] }>;
}

/** Merges files, in order, into one PDF (pdf-lib's pool) or animated GIF (sharp's pool). */
export interface Merger {
  merge(
    request: {
      inputs: Array<{ path: string; format: string; name: string }>;
      outputPath: string;
      outputFormat: string;
      options: unknown;
      limits: { maxPixels: number };
    },
    opts: { signal: AbortSignal; timeoutMs: number },
  ): Promise<{ format: string; size: number; pages: number; width?: number; height?: number; ignoredOptions: string[] }>;
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
  /** The engines; `compressor` and `merger` are absent in a worker wired without them. */
  engines: { image: ImageConverter; compressor?: Compressor; merger?: Merger };
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
