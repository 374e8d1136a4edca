/**
 * merge: two or more files, in input order, into one PDF (images and PDFs) or one animated GIF
 * (images). An input of another kind fails the task with unsupported_format naming it.
 */
import { join } from "node:path";
import { AppError, acceptedFormats, normalizeFormat } from "@transmute/core";
import type { OperationContext, OperationHandler } from "../context.js";
import { nameForFormat, withExtension } from "../names.js";

export const merge: OperationHandler = {
  name: "merge",
  async run(ctx) {
    if (ctx.inputs.length === 0) throw new AppError("no_input", "The input tasks produced no file to merge.");
    const payload = ctx.task.payload;
    const to = normalizeFormat(String(payload.output_format));
    const accepted = acceptedFormats("merge", to);
    for (const [i, input] of ctx.inputs.entries()) {
      if (input.format && accepted.includes(input.format)) continue;
      const what = input.format ? `is ${input.format}` : "has a format that could not be identified from its bytes";
      throw new AppError("unsupported_format", `Input ${i + 1} of the merge ("${input.name}") ${what}; merge into ${to} takes ${accepted.join(", ")}.`);
    }
    const merger = ctx.engines.merger;
    if (!merger) throw new AppError("unsupported_conversion", "This worker has no merge engine.");
    const inputs = await materializeAll(ctx);
    const outputPath = join(ctx.scratchDir, `output.${to}`);
    const out = await merger.merge(
      { inputs, outputPath, outputFormat: to, options: payload.options ?? {}, limits: { maxPixels: ctx.limits.maxPixels } },
      { signal: ctx.signal, timeoutMs: ctx.limits.timeoutMs },
    );
    const name = typeof payload.filename === "string" ? nameForFormat(payload.filename, to) : withExtension(ctx.inputs[0]!.name, to);
    await ctx.output.addFile(outputPath, name);
    const result: Record<string, unknown> = to === "gif" ? { frames: out.pages, width: out.width, height: out.height } : { pages: out.pages };
    if (out.ignoredOptions.length > 0) result.ignored_options = out.ignoredOptions;
    return { result };
  },
};

/**
 * Inputs fetched into the scratch directory at once. From an object store each one is a
 * request whose latency would otherwise add up input after input (50 inputs from S3 took
 * twice as long as from a local disk one at a time, see docs/benchmarks.md).
 */
const MATERIALIZE_CONCURRENCY = 4;

/** Every input materialized as `input-<i>.<format>`, in input order; settles every fetch before failing. */
async function materializeAll(ctx: OperationContext): Promise<Array<{ path: string; format: string; name: string }>> {
  const results = new Array<{ path: string; format: string; name: string }>(ctx.inputs.length);
  let next = 0;
  const fetchNext = async (): Promise<void> => {
    while (next < ctx.inputs.length && !ctx.signal.aborted) {
      const i = next++;
      const input = ctx.inputs[i]!;
      try {
        const path = await ctx.storage.materialize(input.storageKey, ctx.scratchDir, { name: `input-${i}.${input.format}` });
        results[i] = { path, format: input.format!, name: input.name };
      } catch (err) {
        next = ctx.inputs.length; // the other fetchers take no new input
        throw err;
      }
    }
  };
  // allSettled, not all: no fetch may still be writing into the scratch directory once the
  // task has failed and the worker removes that directory.
  const settled = await Promise.allSettled(Array.from({ length: Math.min(MATERIALIZE_CONCURRENCY, ctx.inputs.length) }, fetchNext));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
  if (ctx.signal.aborted) throw new AppError("canceled", "The task was stopped while its inputs were fetched.");
  return results;
}

