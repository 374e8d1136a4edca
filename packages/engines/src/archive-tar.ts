/**
 * tar and tgz through tar-stream (and zlib): one pass, entry by entry, so a tgz bomb is stopped
 * by the meter while it inflates. tar-stream resolves pax and GNU long names itself.
 */
import { createReadStream } from "node:fs";
import { pipeline, type Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import tarStream from "tar-stream";
import { AppError, isAppError } from "@transmute/core";
import type { ArchiveLevel, EntryKind } from "./archive-guard.js";
import { takeFile, type EntryHandler, type ReadContext } from "./archive-read.js";

/** tar-stream's entry types as guard kinds. */
export const KINDS: Readonly<Record<string, EntryKind>> = {
  file: "file",
  "contiguous-file": "file",
  directory: "directory",
  symlink: "symlink",
  link: "hardlink",
  "character-device": "device",
  "block-device": "device",
  fifo: "fifo",
};

/** Reads a tar (gzipped when `gzip`) into `handler`. */
export async function readTar(path: string, gzip: boolean, level: ArchiveLevel, ctx: ReadContext, handler: EntryHandler): Promise<void> {
  const extract = tarStream.extract();
  const source = createReadStream(path);
  let streamError: Error | undefined;
  const onDone = (err: NodeJS.ErrnoException | null) => {
    if (err) streamError ??= err;
  };
  if (gzip) pipeline(source, createGunzip(), extract, onDone);
  else pipeline(source, extract, onDone);
  try {
    for await (const entry of extract) {
      const { name, type, mtime } = entry.header;
      const kind = KINDS[type ?? "file"] ?? "other";
      ctx.guard.entry(name, kind);
      if (kind === "directory") {
        handler.directory(name, mtime);
        entry.resume();
        continue;
      }
      await takeFile(entry as unknown as Readable, name, level, ctx, handler, undefined, mtime);
    }
    if (streamError) throw streamError;
  } catch (err) {
    source.destroy();
    extract.destroy();
    if (isAppError(err)) throw err;
    const what = gzip ? "tgz" : "tar";
    throw new AppError("corrupt_file", `the ${what} archive is damaged or truncated`, { detail: String(streamError ?? err) });
  }
}
