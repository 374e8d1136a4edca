/**
 * zip through yauzl. The central directory is read first (bounded by maxEntries) so that an
 * archive yauzl cannot decode (encrypted, bzip2/LZMA/zstd) is handed to 7-Zip before a byte is
 * written. yauzl checks each entry's inflated size against its header, and our meter counts the
 * bytes anyway.
 */
import type { Readable } from "node:stream";
import yauzl, { type Entry, type ZipFile } from "yauzl";
import { AppError, isAppError } from "@transmute/core";
import type { ArchiveLevel, EntryKind } from "./archive-guard.js";
import { takeFile, type EntryHandler, type ReadContext } from "./archive-read.js";

/** Why a zip must go to 7-Zip instead. */
export type ZipNeeds = "encrypted" | "method";

/** Stored and deflate: what yauzl inflates. */
const NODE_METHODS = new Set([0, 8]);

/** Reads a zip into `handler`; returns what it lacks (nothing read) when yauzl cannot decode it, else null. */
export async function readZip(path: string, level: ArchiveLevel, ctx: ReadContext, handler: EntryHandler): Promise<ZipNeeds | null> {
  let zip: ZipFile;
  try {
    // decodeStrings off: yauzl would reject `..` and absolute names itself, with an error we could
    // only tell apart by its text; our guard names the entry instead.
    zip = await yauzl.openPromise(path, { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true });
  } catch (err) {
    throw new AppError("corrupt_file", "the zip archive is damaged or truncated", { detail: String(err) });
  }
  try {
    const entries = await listEntries(zip, ctx.guard.limits.maxEntries - ctx.guard.entries);
    if (entries.some((e) => e.isEncrypted())) return "encrypted";
    if (entries.some((e) => !NODE_METHODS.has(e.compressionMethod))) return "method";
    const named = entries.map((entry) => {
      const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileName as unknown as Buffer, entry.extraFields, false);
      return { entry, name, kind: entryKind(entry, name), size: entry.uncompressedSize, packed: entry.compressedSize };
    });
    ctx.guard.precheck(level, named);
    for (const { entry, name, kind } of named) {
      ctx.guard.entry(name, kind);
      const date = entry.getLastModDate();
      if (kind === "directory") {
        handler.directory(name, date);
        continue;
      }
      const stream = await new Promise<Readable>((resolve, reject) => zip.openReadStream(entry, (err, s) => (err ? reject(err) : resolve(s))));
      await takeFile(stream, name, level, ctx, handler, entry.compressedSize, date);
    }
    return null;
  } catch (err) {
    if (isAppError(err)) throw err;
    throw new AppError("corrupt_file", "the zip archive is damaged or truncated", { detail: String(err) });
  } finally {
    zip.close();
  }
}

/** Every central-directory entry; limit_exceeded as soon as there are more than `room`. */
export function listEntries(zip: ZipFile, room: number): Promise<Entry[]> {
  return new Promise((resolve, reject) => {
    const entries: Entry[] = [];
    const onEntry = (entry: Entry) => {
      entries.push(entry);
      if (entries.length > room) {
        done();
        reject(new AppError("limit_exceeded", `the archive has more entries than allowed (limit maxEntries)`));
        return;
      }
      zip.readEntry();
    };
    const onEnd = () => {
      done();
      resolve(entries);
    };
    const onError = (err: Error) => {
      done();
      reject(err);
    };
    const done = () => {
      zip.off("entry", onEntry).off("end", onEnd).off("error", onError);
    };
    zip.on("entry", onEntry).on("end", onEnd).on("error", onError);
    zip.readEntry();
  });
}

/** The entry's kind from its Unix mode (when made on Unix) or its trailing slash. */
export function entryKind(entry: Entry, name: string): EntryKind {
  const madeOnUnix = entry.versionMadeBy >> 8 === 3;
  const type = madeOnUnix ? (entry.externalFileAttributes >>> 16) & 0o170000 : 0;
  switch (type) {
    case 0o120000:
      return "symlink";
    case 0o020000:
    case 0o060000:
      return "device";
    case 0o010000:
      return "fifo";
    case 0o140000:
      return "other";
    case 0o040000:
      return "directory";
    default:
      return name.endsWith("/") || name.endsWith("\\") ? "directory" : "file";
  }
}
