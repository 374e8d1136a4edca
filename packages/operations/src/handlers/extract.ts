/**
 * extract: unpacks an archive (zip, tar, tar.gz, 7z) into its files, each published in archive
 * order as one of the task's `result.files`. The archive engine applies the guards (entry count,
 * total size, compression ratio, nesting depth, unsafe entries) before any byte is kept.
 */
import { AppError, normalizeFormat, sameFormatFamily } from "@transmute/core";
import type { OperationHandler } from "../context.js";
import { conversionLimits } from "./limits.js";

export const extract: OperationHandler = {
  name: "extract",
  async run(ctx) {
    const input = ctx.inputs[0];
    if (!input) throw new AppError("no_input", "The input task produced no archive to extract.");
    const payload = ctx.task.payload;
    const declared = typeof payload.input_format === "string" ? normalizeFormat(payload.input_format) : null;
    if (declared && input.format && !sameFormatFamily(declared, input.format)) {
      throw new AppError("format_mismatch", `input_format is "${declared}" but the file "${input.name}" is ${input.format}.`);
    }
    const format = declared ?? input.format;
    if (!format) throw new AppError("unsupported_format", `The format of "${input.name}" could not be identified from its bytes.`);
    if (!ctx.engines.extractor) throw new AppError("unsupported_conversion", "This worker has no archive engine.");
    const inputPath = await ctx.storage.materialize(input.storageKey, ctx.scratchDir, { name: `input.${format}` });
    const out = await ctx.engines.extractor.extract(
      { inputPath, format, workDir: ctx.scratchDir, options: payload.options ?? {}, limits: conversionLimits(ctx) },
      { signal: ctx.signal, timeoutMs: ctx.limits.timeoutMs, onProgress: (percent) => ctx.progress(percent) },
    );
    for (const file of out.files) await ctx.output.addFile(file.path, file.name);
    const result: Record<string, unknown> = { ...(out.details ?? {}), files_extracted: out.files.length };
    if (out.ignoredOptions.length > 0) result.ignored_options = out.ignoredOptions;
    return { result };
  },
};
