/**
 * Reads an archive entry by entry under the guards, and opens entries that are archives
 * themselves (by their first bytes) to check them too. zip goes through yauzl and tar/tgz through
 * tar-stream, in this process; 7z (and zips yauzl cannot decode: encrypted, bzip2, LZMA) through
 * 7zz. Entry names are data: a handler picks where each file's bytes go.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { open, rm } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { Writable, type Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { AppError, isAppError } from "@transmute/core";
import type { ArchiveGuard, ArchiveLevel } from "./archive-guard.js";
import { readSevenZip, type SevenZipTool } from "./archive-7z.js";
import { readTar } from "./archive-tar.js";
import { readZip } from "./archive-zip.js";

/** The archive formats read here; `gzip` is a bare .gz met nested (tgz when it holds a tar). */
export type ArchiveKind = "zip" | "tar" | "tgz" | "7z";

/** Where an archive's entries go. */
export interface EntryHandler {
  /** A folder entry (nothing is created for it). */
  directory(name: string, date?: Date): void;
  /** The path a file entry's bytes are written to (never derived from the name). */
  target(name: string): string;
  /** The file was written to `path` and passed every check. */
  wrote(name: string, path: string, date?: Date): void;
  /** Called once a nested level is done with the file (the checking levels delete it). */
  release?(path: string): Promise<void>;
}

/** What one read needs besides the archive. */
export interface ReadContext {
  guard: ArchiveGuard;
  /** A private folder for nested checks and 7-Zip's unpacking, removed by the caller. */
  scratch: string;
  password?: string;
  /** 7zz, or null when it is not installed (7z and encrypted zips are then refused). */
  sevenZip: SevenZipTool | null;
  /** A fresh numbered path under scratch. */
  scratchPath(): string;
}

/** The archive kind the first bytes say, if any ("gzip" for any gzip stream). */
export function sniffArchive(head: Buffer): ArchiveKind | "gzip" | null {
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && (head[2] === 3 || head[2] === 5) && (head[3] === 4 || head[3] === 6)) return "zip";
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]))) return "7z";
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head.length >= 262 && head.toString("latin1", 257, 262) === "ustar") return "tar";
  return null;
}

/** The first `n` bytes of a file. */
export async function readHead(path: string, n = 512): Promise<Buffer> {
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.alloc(n);
    const { bytesRead } = await handle.read(buffer, 0, n, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** Checks that the bytes are the declared format before any parser sees them. */
export async function checkDeclaredFormat(path: string, kind: ArchiveKind): Promise<void> {
  const head = await readHead(path);
  if (head.length === 0) throw new AppError("corrupt_file", `the ${kind} archive is empty (0 bytes)`);
  const seen = sniffArchive(head);
  const expected = kind === "tgz" ? "gzip" : kind;
  if (seen === expected || (kind === "tar" && seen === null)) return; // old (v7) tars carry no magic
  if (seen === null) throw new AppError("corrupt_file", `the file is not a valid ${kind} archive`);
  throw new AppError("unsupported_format", `the file is not a ${kind} archive: its bytes are ${seen === "gzip" ? "gzip (tgz)" : seen}`);
}

/** Reads every entry of the archive at `path` (a nested one when depth > 0) into `handler`. */
export async function readArchive(path: string, kind: ArchiveKind, level: ArchiveLevel, ctx: ReadContext, handler: EntryHandler): Promise<void> {
  if (kind === "7z") {
    if (!ctx.sevenZip) throw new AppError("unsupported_format", "7z archives cannot be read here (7-Zip is not installed)");
    return readSevenZip(path, "7z", level, ctx, handler);
  }
  if (kind === "zip") {
    const needs = await readZip(path, level, ctx, handler);
    if (needs === null) return;
    // yauzl stopped before writing anything: the zip needs 7-Zip (encryption, other methods).
    if (needs === "encrypted" && ctx.password === undefined) {
      throw new AppError("password_protected", "the zip archive is password-protected; give its password in options.password");
    }
    if (!ctx.sevenZip) throw new AppError("unsupported_format", `the zip archive is ${needs === "encrypted" ? "encrypted" : "compressed with a method"} this server cannot read without 7-Zip`);
    return readSevenZip(path, "zip", level, ctx, handler);
  }
  return readTar(path, kind === "tgz", level, ctx, handler);
}

/**
 * Streams one file entry through the guard to its target, then, if its first bytes are an
 * archive, checks that archive one level deeper (counting into the same totals).
 */
export async function takeFile(source: Readable, name: string, level: ArchiveLevel, ctx: ReadContext, handler: EntryHandler, compressed?: number, date?: Date): Promise<void> {
  const target = handler.target(name);
  const meter = ctx.guard.meter(level, name, compressed);
  await pipeline(source, meter, createWriteStream(target, { flags: "wx" }));
  handler.wrote(name, target, date);
  await checkNested(target, meter.head, name, level, ctx);
  await handler.release?.(target);
}

/** The handler of nested levels: files go to scratch and are deleted once checked. */
function checkingHandler(ctx: ReadContext): EntryHandler {
  return {
    directory: () => undefined,
    target: () => ctx.scratchPath(),
    wrote: () => undefined,
    release: (path) => rm(path, { force: true }),
  };
}

async function checkNested(path: string, head: Buffer, name: string, parent: ArchiveLevel, ctx: ReadContext): Promise<void> {
  let kind = sniffArchive(head);
  if (kind === null) return;
  const size = (await open(path, "r").then(async (h) => { try { return (await h.stat()).size; } finally { await h.close(); } }));
  const level = ctx.guard.openLevel(parent.depth + 1, size);
  try {
    if (kind === "gzip") {
      if (!(await gzipHoldsTar(path))) return await countGzip(path, name, level, ctx);
      kind = "tgz";
    }
    // A nested zip that needs a password cannot expand here: it stays an opaque file.
    if (kind === "zip" && (await readZip(path, level, ctx, checkingHandler(ctx))) !== null) return;
    if (kind !== "zip") await readArchive(path, kind, level, { ...ctx, password: undefined }, checkingHandler(ctx));
  } catch (err) {
    // A damaged nested archive is just a file that looks like one; only the guards' refusals count.
    if (isAppError(err) && ["limit_exceeded", "unsafe_archive", "canceled", "engine_timeout"].includes(err.code)) throw err;
  }
}

async function gzipHoldsTar(path: string): Promise<boolean> {
  const gunzip = createReadStream(path).pipe(createGunzip());
  let head = Buffer.alloc(0);
  try {
    for await (const chunk of gunzip) {
      head = Buffer.concat([head, chunk as Buffer]);
      if (head.length >= 512) break;
    }
  } catch {
    return false;
  } finally {
    gunzip.destroy();
  }
  return sniffArchive(head) === "tar";
}

/** A bare .gz inside an archive: its bytes count like an entry's (a gzip bomb is a bomb too). */
async function countGzip(path: string, name: string, level: ArchiveLevel, ctx: ReadContext): Promise<void> {
  const sink = new Writable({ write: (_chunk, _enc, done) => done() });
  await pipeline(createReadStream(path), createGunzip(), ctx.guard.meter(level, name, level.size), sink);
}
