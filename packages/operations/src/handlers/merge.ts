/**
 * merge: two or more files, in input order, into one PDF (images and PDFs) or one animated GIF
 * (images). An input of another kind fails the task with unsupported_format naming it.
 */
import { join } from "node:path";
import { AppError, acceptedFormats, normalizeFormat } from "@transmute/core";
import type { OperationHandler } from "../context.js";
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
    const inputs = [];
    for (const [i, input] of ctx.inputs.entries()) {
      const path = await ctx.storage.materialize(input.storageKey, ctx.scratchDir, { name: `input-${i}.${input.format}` });
      inputs.push({ path, format: input.format!, name: input.name });
    }
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
