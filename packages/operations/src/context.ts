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

/** One output of a multi-file conversion or extraction: a file in scratch and its published name. */
export interface EngineOutputFile {
  path: string;
  name: string;
}

/** Limits a conversion runs under (each engine reads the ones that concern it). */
export interface ConversionLimits {
  maxPixels: number;
  maxPages?: number;
  maxMediaSeconds?: number;
  archive?: { maxEntries: number; maxBytes: number; maxRatio: number; maxDepth: number };
}

/** Per-call controls of an engine call. */
export interface EngineCallOptions {
  signal: AbortSignal;
  timeoutMs: number;
  onProgress?(percent: number): void;
}

/** Converts any pair some engine of this worker converts (the engines' dispatcher). */
export interface Converter {
  convert(
    request: {
      inputPath: string;
      outputPath: string;
      inputFormat: string;
      outputFormat: string;
      options: unknown;
      limits: ConversionLimits;
      workDir: string;
      baseName: string;
    },
    opts: EngineCallOptions,
  ): Promise<{ format: string; size: number; width?: number; height?: number; ignoredOptions: string[]; files?: EngineOutputFile[]; details?: Record<string, unknown> }>;
}

/** Unpacks an archive under the archive guards. */
export interface Extractor {
  extract(
    request: { inputPath: string; format: string; workDir: string; options: unknown; limits: ConversionLimits },
    opts: EngineCallOptions,
  ): Promise<{ files: EngineOutputFile[]; ignoredOptions: string[]; details?: Record<string, unknown> }>;
}

/** Disarms and rebuilds one file (the `secure` operation). */
export interface Securer {
  secure(
    request: { inputPath: string; format: string; workDir: string; baseName: string; options: unknown; limits: ConversionLimits },
    opts: EngineCallOptions,
  ): Promise<{ path: string; name: string; format: string; size: number; ignoredOptions: string[]; details?: Record<string, unknown> }>;
}

/** Captures a web page as MHTML; every request goes through `fetch`. */
export interface PageCapturer {
  capture(
    request: {
      url: string;
      outputPath: string;
      fetch(request: { url: string; method: string; headers: Record<string, string>; body?: Buffer }): Promise<{ status: number; headers: Record<string, string>; body: Buffer }>;
      viewportWidth?: number;
      viewportHeight?: number;
      waitMs?: number;
      maxBytes?: number;
    },
    opts: EngineCallOptions,
  ): Promise<{ format: "mhtml"; size: number; title?: string; finalUrl: string; requests: number; blocked: number }>;
}

/** Limits a handler works within. */
export interface OperationLimits {
  /** The image decoder's pixel cap. */
  maxPixels: number;
  /** What is left of the task's wall-clock budget, ms. */
  timeoutMs: number;
  importUrlMaxBytes: number;
  importUrlTimeoutMs: number;
  /** Most pages of a document (default: no limit of the handler's own). */
  maxPages?: number;
  /** Longest audio or video input, seconds. */
  maxMediaSeconds?: number;
  /** The archive guards. */
  archive?: { maxEntries: number; maxBytes: number; maxRatio: number; maxDepth: number };
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
  /**
   * The engines; all but `image` may be absent in a worker wired without them. `converter`
   * dispatches every convert pair (images included) to the engine that does it.
   */
  engines: { image: ImageConverter; converter?: Converter; compressor?: Compressor; merger?: Merger; extractor?: Extractor; browser?: PageCapturer; securer?: Securer };
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
