/**
 * export/url: publishes the input files at signed links (signed when the task is read). The
 * files are the inputs' own stored objects, not copies; `archive_multiple_files` zips them.
 */
import { PassThrough, type Readable } from "node:stream";
import archiver, { type Archiver } from "archiver";
import { AppError } from "@transmute/core";
import type { OperationContext, OperationHandler } from "../context.js";
import { nameForFormat, withExtension } from "../names.js";

export const exportUrl: OperationHandler = {
  name: "export/url",
  async run(ctx) {
    if (ctx.inputs.length === 0) throw new AppError("no_input", "The input tasks produced no file to export.");
    const given = typeof ctx.task.payload.filename === "string" ? ctx.task.payload.filename : null;
    if (ctx.task.payload.archive_multiple_files === true && ctx.inputs.length > 1) {
      const name = given ? (given.toLowerCase().endsWith(".zip") ? given : withExtension(given, "zip")) : "files.zip";
      await zipInputs(ctx, name);
      return {};
    }
    ctx.inputs.forEach((input, i) => {
      ctx.output.addReference(input, i === 0 && given && ctx.inputs.length === 1 ? nameForFormat(given, input.format) : input.name);
    });
    return {};
  },
};

/**
 * Streams every input into one zip stored as `name`. Entries are appended one at a time, each
 * once the previous one has been written: memory and open files stay bounded whatever the
 * number of inputs (archiver would otherwise hold every source stream, and its file, open).
 */
async function zipInputs(ctx: OperationContext, name: string): Promise<void> {
  const zip = archiver("zip", { zlib: { level: 6 } });
  const out = new PassThrough();
  zip.pipe(out);
  const stored = ctx.output.addStream(out, name, { signal: ctx.signal });
  // Rejects when storing fails (or is aborted): an entry waiting for room would wait forever.
  const storeFailed = stored.then(() => new Promise<never>(() => undefined));
  const used = new Set<string>();
  try {
    for (const input of ctx.inputs) {
      let entry = input.name;
      for (let n = 2; used.has(entry); n++) entry = `${n}-${input.name}`;
      used.add(entry);
      const source = await ctx.storage.get(input.storageKey);
      await Promise.race([appendEntry(zip, source, entry), storeFailed]);
    }
    await Promise.all([zip.finalize(), stored]);
  } catch (err) {
    zip.abort();
    // With the error, so the store's write fails (and cleans up) instead of waiting for more.
    out.destroy(err instanceof Error ? err : new Error(String(err)));
    await stored.catch(() => undefined);
    throw err;
  }
}

/** Appends one entry and resolves once archiver has written it (its `entry` event). */
function appendEntry(zip: Archiver, source: Readable, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: unknown) => {
      zip.off("entry", onEntry);
      zip.off("error", done);
      source.off("error", done);
      if (err === undefined) return resolve();
      source.destroy();
      reject(err);
    };
    const onEntry = () => done();
    zip.once("entry", onEntry);
    zip.once("error", done);
    source.once("error", done);
    zip.append(source, { name });
  });
}
