/**
 * Reading an archive for `secure`: like the archive engine's readers (same guards, same nested
 * checks through takeFile), except that an unsafe entry (a climbing or absolute name, a link, a
 * device) is dropped and listed instead of refusing the archive, and only the first `maxFiles`
 * regular files are kept. Entry names stay data: kept files go to numbered paths.
 */
import { createReadStream } from "node:fs";
import { rm } from "node:fs/promises";
import { pipeline as pipelineCallback, Writable, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import tarStream from "tar-stream";
import yauzl, { type Entry, type ZipFile } from "yauzl";
import { AppError, isAppError } from "@transmute/core";
import { unsafeNameReason, type ArchiveLevel, type EntryKind } from "./archive-guard.js";
import { takeFile, type EntryHandler, type ReadContext } from "./archive-read.js";
import { KINDS } from "./archive-tar.js";
import { entryKind, listEntries } from "./archive-zip.js";

/** A regular file kept from the archive: its checked entry name and where its bytes are. */
export interface KeptMember {
  /** Position among the archive's entries, to list drops in archive order. */
  at: number;
  name: string;
  path: string;
  date?: Date;
}

/** What was kept and what was dropped, in archive order. */
export interface MemberList {
  kept: KeptMember[];
  dropped: Array<{ at: number; name: string; reason: string }>;
}

/** The drop reason of max_files_per_archive (a caller-visible string). */
export const OVER_MAX_FILES = "over max_files_per_archive";

const KIND_REASONS: Partial<Record<EntryKind, string>> = {
  symlink: "is a symbolic link", hardlink: "is a hard link", device: "is a device file", fifo: "is a named pipe", other: "is not a regular file or folder",
};

/** Stored and deflate: what yauzl inflates. */
const NODE_METHODS = new Set([0, 8]);

/** Reads the top-level archive at `path` into kept files (at `target()` paths) and dropped entries. */
export async function readMembers(path: string, format: "zip" | "tar" | "tgz", level: ArchiveLevel, ctx: ReadContext, maxFiles: number, target: () => string): Promise<MemberList> {
  const list: MemberList = { kept: [], dropped: [] };
  let at = 0;
  const handler: EntryHandler = {
    directory: () => undefined,
    target,
    wrote: (name, file, date) => void list.kept.push({ at, name, path: file, ...(date ? { date } : {}) }),
  };
  /** Counts the entry through the guard; returns why it is dropped, or null to keep it. */
  const judge = (name: string, kind: EntryKind): string | null => {
    at += 1;
    try {
      ctx.guard.entry(name, kind);
    } catch (err) {
      // The guard refuses unsafe entries outright; here they are dropped (its limits still throw).
      if (isAppError(err) && err.code === "unsafe_archive") return unsafeNameReason(name) ?? KIND_REASONS[kind] ?? "is not a regular file or folder";
      throw err;
    }
    if (kind === "directory") return null;
    return list.kept.length >= maxFiles ? OVER_MAX_FILES : null;
  };
  const drop = (name: string, reason: string) => void list.dropped.push({ at, name, reason });
  const take: Take = async (source, name, compressed, date) => {
    const before = list.kept.length;
    try {
      await takeFile(source, name, level, ctx, handler, compressed, date);
    } catch (err) {
      // An archive member holding a link or a climbing name is dropped like such an entry would be;
      // the nested checks only throw that after the member's bytes were all read.
      if (!(isAppError(err) && err.code === "unsafe_archive")) throw err;
      await Promise.all(list.kept.splice(before).map((member) => rm(member.path, { force: true })));
      drop(name, `is an archive that holds an unsafe entry (${err.message})`);
    }
  };
  if (format === "zip") await readZipMembers(path, level, ctx, judge, drop, take);
  else await readTarMembers(path, format === "tgz", level, ctx, judge, drop, take);
  return list;
}

type Judge = (name: string, kind: EntryKind) => string | null;
type Drop = (name: string, reason: string) => void;
type Take = (source: Readable, name: string, compressed: number | undefined, date: Date | undefined) => Promise<void>;

async function readZipMembers(path: string, level: ArchiveLevel, ctx: ReadContext, judge: Judge, drop: Drop, take: Take): Promise<void> {
  let zip: ZipFile;
  try {
    // decodeStrings off: yauzl would refuse the whole zip for one `..` name; we drop that entry instead.
    zip = await yauzl.openPromise(path, { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true });
  } catch (err) {
    throw new AppError("corrupt_file", "the zip archive is damaged or truncated", { detail: String(err) });
  }
  try {
    const entries = await listEntries(zip, ctx.guard.limits.maxEntries);
    if (entries.some((e) => e.isEncrypted())) throw new AppError("password_protected", "the zip archive is password-protected; secure cannot open encrypted archives");
    if (entries.some((e) => !NODE_METHODS.has(e.compressionMethod))) {
      throw new AppError("unsupported_format", "the zip archive uses a compression method other than deflate; secure cannot read it");
    }
    const named = entries.map((entry) => {
      const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileName as unknown as Buffer, entry.extraFields, false);
      return { entry, name, kind: entryKind(entry, name) };
    });
    // Declared sizes of every entry, dropped ones included: a zip that says it is a bomb is refused
    // whole. Unsafe names are replaced for the check, which would refuse them, and for its messages.
    ctx.guard.precheck(level, named.map(({ entry, name, kind }) => {
      const safe = unsafeNameReason(name) === null && (kind === "file" || kind === "directory");
      return { name: safe ? name : "(an unsafe entry)", kind: safe ? kind : "file", size: entry.uncompressedSize, packed: entry.compressedSize };
    }));
    for (const { entry, name, kind } of named) {
      const reason = judge(name, kind);
      if (reason !== null) drop(name, reason);
      if (reason !== null || kind === "directory") continue;
      const stream = await new Promise<Readable>((resolve, reject) => zip.openReadStream(entry, (err, s) => (err ? reject(err) : resolve(s))));
      await take(stream, name, entry.compressedSize, entry.getLastModDate());
    }
  } catch (err) {
    if (isAppError(err)) throw err;
    throw new AppError("corrupt_file", "the zip archive is damaged or truncated", { detail: String(err) });
  } finally {
    zip.close();
  }
}

async function readTarMembers(path: string, gzip: boolean, level: ArchiveLevel, ctx: ReadContext, judge: Judge, drop: Drop, take: Take): Promise<void> {
  const extract = tarStream.extract();
  const source = createReadStream(path);
  let streamError: Error | undefined;
  const onDone = (err: NodeJS.ErrnoException | null) => {
    if (err) streamError ??= err;
  };
  if (gzip) pipelineCallback(source, createGunzip(), extract, onDone);
  else pipelineCallback(source, extract, onDone);
  try {
    for await (const entry of extract) {
      const { name, type, mtime } = entry.header;
      const kind = KINDS[type ?? "file"] ?? "other";
      const reason = judge(name, kind);
      const body = entry as unknown as Readable;
      if (reason === null && kind !== "directory") {
        await take(body, name, undefined, mtime);
        continue;
      }
      if (reason !== null) drop(name, reason);
      // A dropped entry's bytes still inflate on the way past: they count, so a bomb is still one.
      await pipeline(body, ctx.guard.meter(level, name), new Writable({ write: (_chunk, _enc, done) => done() }));
    }
    if (streamError) throw streamError;
  } catch (err) {
    source.destroy();
    extract.destroy();
    if (isAppError(err)) throw err;
    throw new AppError("corrupt_file", `the ${gzip ? "tgz" : "tar"} archive is damaged or truncated`, { detail: String(streamError ?? err) });
  }
}
