/**
 * export/url: publishes the input files at signed links (signed when the task is read). The
 * files are the inputs' own stored objects, not copies; `archive_multiple_files` zips them.
 */
import { PassThrough } from "node:stream";
import archiver from "archiver";
import { AppError } from "@transmute/core";
import type { OperationHandler } from "../context.js";
import { nameForFormat, withExtension } from "../names.js";

export const exportUrl: OperationHandler = {
  name: "export/url",
  async run(ctx) {
    if (ctx.inputs.length === 0) throw new AppError("no_input", "The input tasks produced no file to export.");
    const given = typeof ctx.task.payload.filename === "string" ? ctx.task.payload.filename : null;
    if (ctx.task.payload.archive_multiple_files === true && ctx.inputs.length > 1) {
      const name = given ? (given.toLowerCase().endsWith(".zip") ? given : withExtension(given, "zip")) : "files.zip";
      const zip = archiver("zip", { zlib: { level: 6 } });
      const out = new PassThrough();
      zip.pipe(out);
      const used = new Set<string>();
      const stored = ctx.output.addStream(out, name, { signal: ctx.signal });
      for (const input of ctx.inputs) {
        let entry = input.name;
        for (let n = 2; used.has(entry); n++) entry = `${n}-${input.name}`;
        used.add(entry);
        zip.append(await ctx.storage.get(input.storageKey), { name: entry });
      }
      await Promise.all([zip.finalize(), stored]);
      return {};
    }
    ctx.inputs.forEach((input, i) => {
      ctx.output.addReference(input, i === 0 && given && ctx.inputs.length === 1 ? nameForFormat(given, input.format) : input.name);
    });
    return {};
  },
};
