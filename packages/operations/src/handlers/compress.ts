/**
 * compress: one image or PDF made smaller in its own format. The output is never larger than the
 * input: when re-encoding does not help, the input itself is published again (no copy) and the
 * result says `compressed: false`.
 */
import { join } from "node:path";
import { AppError, isCompressible, normalizeFormat, notCompressible, sameFormatFamily } from "@transmute/core";
import type { OperationHandler } from "../context.js";
import { nameForFormat } from "../names.js";

export const compress: OperationHandler = {
  name: "compress",
  async run(ctx) {
    const input = ctx.inputs[0];
    if (!input) throw new AppError("no_input", "The input task produced no file to compress.");
    const payload = ctx.task.payload;
    const declared = typeof payload.input_format === "string" ? normalizeFormat(payload.input_format) : null;
    if (declared && input.format && !sameFormatFamily(declared, input.format)) {
      throw new AppError("format_mismatch", `input_format is "${declared}" but the file "${input.name}" is ${input.format}.`);
    }
    const format = input.format ?? declared;
    if (!format || !isCompressible(format)) throw notCompressible(format, input.name);
    const compressor = ctx.engines.compressor;
    if (!compressor) throw new AppError("unsupported_conversion", "This worker has no compression engine.");
    const inputPath = await ctx.storage.materialize(input.storageKey, ctx.scratchDir, { name: `input.${format}` });
    const outputPath = join(ctx.scratchDir, `output.${format}`);
    const out = await compressor.compress(
      { inputPath, outputPath, format, options: payload.options ?? {}, limits: { maxPixels: ctx.limits.maxPixels } },
      { signal: ctx.signal, timeoutMs: ctx.limits.timeoutMs },
    );
    const name = typeof payload.filename === "string" ? nameForFormat(payload.filename, format) : input.name;
    const compressed = out.size < input.size;
    if (compressed) await ctx.output.addFile(outputPath, name);
    else ctx.output.addReference(input, name);
    const outputSize = compressed ? out.size : input.size;
    const ignored = [...out.ignoredOptions];
    // compress keeps the format; the reference's sample sends output_format all the same.
    if (typeof payload.output_format === "string" && normalizeFormat(payload.output_format) !== format) ignored.push("output_format");
    const result: Record<string, unknown> = {
      compressed,
      input_size: input.size,
      output_size: outputSize,
      compression_ratio: input.size > 0 ? Math.round((outputSize / input.size) * 10_000) / 10_000 : 1,
    };
    if (ignored.length > 0) result.ignored_options = ignored;
    return { result };
  },
};
