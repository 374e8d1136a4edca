/**
 * convert: one input file to `output_format`. The input's format is what its bytes say; a
 * declared `input_format` of another family fails the task (`format_mismatch`).
 */
import { join } from "node:path";
import { AppError, normalizeFormat, sameFormatFamily } from "@transmute/core";
import type { OperationHandler } from "../context.js";
import { nameForFormat, withExtension } from "../names.js";

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
    const inputPath = await ctx.storage.materialize(input.storageKey, ctx.scratchDir, { name: `input.${from}` });
    const outputPath = join(ctx.scratchDir, `output.${to}`);
    const out = await ctx.engines.image.convert(
      { inputPath, outputPath, inputFormat: from, outputFormat: to, options: payload.options ?? {}, limits: { maxPixels: ctx.limits.maxPixels } },
      { signal: ctx.signal, timeoutMs: ctx.limits.timeoutMs },
    );
    const name = typeof payload.filename === "string" ? nameForFormat(payload.filename, to) : withExtension(input.name, to);
    await ctx.output.addFile(outputPath, name);
    const result: Record<string, unknown> = { width: out.width, height: out.height };
    if (out.ignoredOptions.length > 0) result.ignored_options = out.ignoredOptions;
    return { result };
  },
};
