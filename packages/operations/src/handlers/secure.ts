/**
 * secure: content disarm and reconstruction. The input's type is what its bytes say (never its
 * name or a declared type); the engine rebuilds it from what it shows and nothing else. Fails
 * closed: when the rebuild fails, the task fails and nothing of the input is published.
 */
import { AppError } from "@transmute/core";
import type { OperationHandler } from "../context.js";
import { stemOf } from "../names.js";
import { conversionLimits } from "./limits.js";

export const secure: OperationHandler = {
  name: "secure",
  async run(ctx) {
    const input = ctx.inputs[0];
    if (!input) throw new AppError("no_input", "The input task produced no file to secure.");
    if (!input.format) throw new AppError("unsupported_format", `The type of "${input.name}" could not be told from its bytes; secure takes images, PDFs, office documents, text and archives.`);
    if (!ctx.engines.securer) throw new AppError("unsupported_conversion", "This worker has no engine to secure files.");
    const inputPath = await ctx.storage.materialize(input.storageKey, ctx.scratchDir, { name: `input.${input.format}` });
    const given = typeof ctx.task.payload.filename === "string" ? ctx.task.payload.filename : input.name;
    const out = await ctx.engines.securer.secure(
      { inputPath, format: input.format, workDir: ctx.scratchDir, baseName: stemOf(given), options: ctx.task.payload.options ?? {}, limits: conversionLimits(ctx) },
      { signal: ctx.signal, timeoutMs: ctx.limits.timeoutMs, onProgress: (percent) => ctx.progress(percent) },
    );
    // Only the rebuilt file is published: never the input, whatever happened.
    await ctx.output.addFile(out.path, out.name);
    const result: Record<string, unknown> = { ...(out.details ?? {}), source_format: input.format, output_format: out.format };
    if (out.ignoredOptions.length > 0) result.ignored_options = out.ignoredOptions;
    return { result };
  },
};
