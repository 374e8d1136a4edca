/**
 * The archive guards: entry count, total uncompressed bytes, compression ratio, nesting depth,
 * and the entry names and types that are refused. Bytes are counted as they stream (a header's
 * sizes can lie), so a bomb is stopped after the first megabytes, not after it filled the disk.
 */
import { Transform, type TransformCallback } from "node:stream";
import { AppError } from "@transmute/core";
import type { ArchiveLimits } from "./engine.js";

/** The guards when neither the engine nor the call sets them (the server's defaults). */
export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = { maxEntries: 10_000, maxBytes: 2 * 1024 ** 3, maxRatio: 200, maxDepth: 3 };

/**
 * Below this many bytes the ratio is not checked: a 3 KB text file deflates 50x, and a few
 * kilobytes are no bomb whatever their ratio.
 */
export const MIN_RATIO_BYTES = 1024 * 1024;

/** What an entry is, as far as the guards care. */
export type EntryKind = "file" | "directory" | "symlink" | "hardlink" | "device" | "fifo" | "other";

/** One archive being read (the top one, or one nested in it): its own bytes and ratio. */
export interface ArchiveLevel {
  /** 0 for the archive given, 1 for an archive inside it... */
  depth: number;
  /** The archive's size on disk (compressed bytes). */
  size: number;
  /** Uncompressed bytes of its entries seen so far. */
  bytes: number;
}

/** The stricter of two sets of limits, field by field (a call can tighten, never loosen). */
export function tightenLimits(base: ArchiveLimits, call?: Partial<ArchiveLimits>): ArchiveLimits {
  const pick = (a: number, b: number | undefined) => (b !== undefined && Number.isFinite(b) && b >= 0 ? Math.min(a, b) : a);
  return {
    maxEntries: pick(base.maxEntries, call?.maxEntries),
    maxBytes: pick(base.maxBytes, call?.maxBytes),
    maxRatio: pick(base.maxRatio, call?.maxRatio),
    maxDepth: pick(base.maxDepth, call?.maxDepth),
  };
}

/** Why an entry name is refused, or null when it is a safe relative path. */
export function unsafeNameReason(name: string): string | null {
  if (name === "") return "has an empty name";
  if (name.includes("\0")) return "has a NUL character in its name";
  // Windows tools write `\` as the separator, and extractors there honour it: check both.
  if (/^[/\\]/.test(name) || /^[A-Za-z]:/.test(name)) return "has an absolute path";
  if (name.split(/[/\\]/).includes("..")) return "has a path that climbs out of the archive (..)";
  return null;
}

/** Shortens a name for a message, which the caller sees. */
export function showName(name: string): string {
  const printable = name.replace(/[\u0000-\u001f\u007f]/g, "?");
  return JSON.stringify(printable.length > 120 ? `${printable.slice(0, 117)}...` : printable);
}

/** Throws unsafe_archive for a name that is not a plain relative path, or an entry that is not a file or folder. */
export function refuseUnsafeEntry(name: string, kind: EntryKind): void {
  const unsafe = unsafeNameReason(name);
  if (unsafe) throw new AppError("unsafe_archive", `the archive entry ${showName(name)} ${unsafe}; it was not extracted`);
  const refusedKinds: Partial<Record<EntryKind, string>> = {
    symlink: "is a symbolic link", hardlink: "is a hard link", device: "is a device file", fifo: "is a named pipe", other: "is not a regular file or folder",
  };
  const why = refusedKinds[kind];
  if (why) throw new AppError("unsafe_archive", `the archive entry ${showName(name)} ${why}; archives with links or special files are refused`);
}

/** Counts entries and bytes of one extraction or repack (across nesting levels) and refuses past the limits. */
export class ArchiveGuard {
  entries = 0;
  bytes = 0;
  private top: ArchiveLevel | undefined;

  constructor(
    readonly limits: ArchiveLimits,
    /** Aborted on cancel or timeout; its reason is the AppError to throw. */
    private readonly stop: AbortSignal,
  ) {}

  /** Aborted on cancel or timeout. */
  get stopSignal(): AbortSignal {
    return this.stop;
  }

  /** Throws the cancel or timeout when the work was stopped. */
  checkStopped(): void {
    if (this.stop.aborted) throw this.stop.reason instanceof Error ? this.stop.reason : new AppError("canceled", "the archive work was canceled");
  }

  /** Starts reading an archive `depth` levels down; limit_exceeded past maxDepth. */
  openLevel(depth: number, size: number): ArchiveLevel {
    if (depth > this.limits.maxDepth) {
      throw new AppError("limit_exceeded", `the archive nests archives more than ${this.limits.maxDepth} levels deep (limit maxDepth)`);
    }
    const level = { depth, size: Math.max(size, 1), bytes: 0 };
    this.top ??= level;
    return level;
  }

  /** Counts one entry and refuses unsafe names and kinds; only files and directories pass. */
  entry(name: string, kind: EntryKind): void {
    this.checkStopped();
    this.entries += 1;
    if (this.entries > this.limits.maxEntries) {
      throw new AppError("limit_exceeded", `the archive has more than ${this.limits.maxEntries} entries (limit maxEntries)`);
    }
    refuseUnsafeEntry(name, kind);
  }

  /**
   * Checks a listing before anything is unpacked: names, kinds, and the declared sizes (7-Zip's
   * decoders and yauzl both stop at them, so a lying header cannot get past). A bomb that says
   * what it is fails here at once; the meter still counts the real bytes. Counts nothing.
   */
  precheck(level: ArchiveLevel, list: ReadonlyArray<{ name: string; kind: EntryKind; size: number; packed?: number }>): void {
    if (this.entries + list.length > this.limits.maxEntries) {
      throw new AppError("limit_exceeded", `the archive has more than ${this.limits.maxEntries} entries (limit maxEntries)`);
    }
    const over = (bytes: number, packed: number) => bytes > MIN_RATIO_BYTES && bytes / Math.max(packed, 1) > this.limits.maxRatio;
    for (const item of list) {
      refuseUnsafeEntry(item.name, item.kind);
      if (item.packed !== undefined && over(item.size, item.packed)) {
        throw new AppError("limit_exceeded", `the archive entry ${showName(item.name)} expands more than ${this.limits.maxRatio} times its compressed size (limit maxRatio)`);
      }
    }
    const declared = list.reduce((sum, item) => sum + item.size, 0);
    if (this.bytes + declared > this.limits.maxBytes) {
      throw new AppError("limit_exceeded", `the archive unpacks to more than ${this.limits.maxBytes} bytes (limit maxBytes)`);
    }
    if (over(level.bytes + declared, level.size) || (this.top && over(this.bytes + declared, this.top.size))) {
      throw new AppError("limit_exceeded", `the archive expands more than ${this.limits.maxRatio} times its size (limit maxRatio)`);
    }
  }

  /** Counts `n` uncompressed bytes of an entry of `level`; limit_exceeded past maxBytes or maxRatio. */
  count(level: ArchiveLevel, name: string, n: number, entryBytes: number, entryCompressed?: number): void {
    this.bytes += n;
    level.bytes += n;
    const { maxBytes, maxRatio } = this.limits;
    if (this.bytes > maxBytes) {
      throw new AppError("limit_exceeded", `the archive unpacks to more than ${maxBytes} bytes (limit maxBytes)`);
    }
    const ratioOver = (bytes: number, packed: number) => bytes > MIN_RATIO_BYTES && bytes / Math.max(packed, 1) > maxRatio;
    if (entryCompressed !== undefined && ratioOver(entryBytes, entryCompressed)) {
      throw new AppError("limit_exceeded", `the archive entry ${showName(name)} expands more than ${maxRatio} times its compressed size (limit maxRatio)`);
    }
    // Nested levels count against the top archive too: 200x inside 200x is 40000x of what was sent.
    if (ratioOver(level.bytes, level.size) || (this.top && ratioOver(this.bytes, this.top.size))) {
      throw new AppError("limit_exceeded", `the archive expands more than ${maxRatio} times its size (limit maxRatio)`);
    }
  }

  /** A pass-through stream that counts an entry's bytes as they flow and keeps its first 512 (to spot nested archives). */
  meter(level: ArchiveLevel, name: string, compressed?: number): MeterStream {
    return new MeterStream(this, level, name, compressed);
  }
}

/** Counts the bytes of one entry through the guard; errors the pipeline the moment a limit is passed. */
export class MeterStream extends Transform {
  /** The entry's first bytes (up to 512), for sniffing a nested archive. */
  head = Buffer.alloc(0);
  /** Bytes seen. */
  bytes = 0;

  constructor(
    private readonly guard: ArchiveGuard,
    private readonly level: ArchiveLevel,
    private readonly name: string,
    private readonly compressed?: number,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.guard.checkStopped();
      this.bytes += chunk.length;
      if (this.head.length < 512) this.head = Buffer.concat([this.head, chunk.subarray(0, 512 - this.head.length)]);
      this.guard.count(this.level, this.name, chunk.length, this.bytes, this.compressed);
      callback(null, chunk);
    } catch (err) {
      callback(err as Error);
    }
  }
}
