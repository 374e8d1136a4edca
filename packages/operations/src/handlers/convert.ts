/**
 * convert: one input file to `output_format`. The input's format is what its bytes say; a
 * declared `input_format` of another family fails the task (`format_mismatch`). The engine that
 * converts the pair is picked by the worker's dispatcher; a conversion that makes several files
 * (PDF pages, split ranges) publishes each, in order, as the task's `result.files`.
 */
import { join } from "node:path";
import { AppError, normalizeFormat, sameFormatFamily } from "@transmute/core";
import type { OperationHandler } from "../context.js";
import { nameForFormat, stemOf, withExtension } from "../names.js";
import { conversionLimits } from "./limits.js";

export const convert: OperationHandler = {
  name: "convert",
  async run(ctx) {
    const input = ctx.inputs[0];
    if (!input) throw new AppError("no_input", "The input task produced no file to convert.");
    const payload = ctx.task.payload;
    const declared = typeof payload.input_format === "string" ? normalizeFormat(payload.input_format) : null;
    if (declared && input.format && !sameFormatFamily(declared, input.format)) {
      throw new AppError("format_mismatch", `input_format is "${declared}" but the file "${input.name}" is ${input.format}.`);
    }
    const from = input.format ?? declared;
    if (!from) throw new AppError("unsupported_format", `The format of "${input.name}" could not be identified from its bytes.`);
    const to = normalizeFormat(String(payload.output_format));
    // A format the bytes cannot tell apart from another (txt for csv, md) is the declared one.
    const inputFormat = declared && sameFormatFamily(declared, from) ? declared : from;
    const inputPath = await ctx.storage.materialize(input.storageKey, ctx.scratchDir, { name: `input.${inputFormat}` });
    const outputPath = join(ctx.scratchDir, `output.${to}`);
    const name = typeof payload.filename === "string" ? nameForFormat(payload.filename, to) : withExtension(input.name, to);
    const request = {
      inputPath,
      outputPath,
      inputFormat,
      outputFormat: to,
      options: payload.options ?? {},
      limits: conversionLimits(ctx),
      workDir: ctx.scratchDir,
      baseName: stemOf(name),
    };
    const opts = { signal: ctx.signal, timeoutMs: ctx.limits.timeoutMs, onProgress: (percent: number) => ctx.progress(percent) };
    const out = ctx.engines.converter ? await ctx.engines.converter.convert(request, opts) : await ctx.engines.image.convert(request, opts);
    const files = "files" in out && out.files ? out.files : null;
    if (files) {
      for (const file of files) await ctx.output.addFile(file.path, nameForFormat(file.name, to));
    } else {
      await ctx.output.addFile(outputPath, name);
    }
    return { result: resultOf(out, files?.length ?? 1) };
  },
};

/** The task result's own fields: size of an image, the engine's details, options that did nothing. */
function resultOf(out: { width?: number; height?: number; ignoredOptions: string[]; details?: Record<string, unknown> }, fileCount: number): Record<string, unknown> {
  const result: Record<string, unknown> = { ...(out.details ?? {}) };
  if (fileCount === 1 && out.width !== undefined) result.width = out.width;
  if (fileCount === 1 && out.height !== undefined) result.height = out.height;
  if (out.ignoredOptions.length > 0) result.ignored_options = out.ignoredOptions;
  return result;
}

