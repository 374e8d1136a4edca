/**
 * The local-disk BlobStore: one file per object under `root`. Writes go to a random temp file in
 * `<root>/.tmp` (same file system, so the final rename is atomic) and are fsynced before the
 * rename, so a crash leaves either the old object or the whole new one.
 */
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { copyFile, mkdir, open, readdir, rename, rm, rmdir, stat, unlink, type FileHandle } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { AppError } from "@transmute/core";
import type { BlobStore, ByteRange, MaterializeOptions, PutOptions, PutResult } from "./blob-store.js";
import { ChecksumMeter } from "./checksum-meter.js";
import { putLocalFile } from "./put-file.js";
import { hasErrorCode, isMissing } from "./fs-errors.js";
import { assertValidKey, explainInvalidKey, materializePath, normalizePrefix } from "./keys.js";
import { walkKeys } from "./walk-keys.js";

/** Options of `createLocalDiskStore`. */
export interface LocalDiskStoreOptions {
  /** Directory that holds the objects, created on first write (required; resolved to an absolute path). */
  root: string;
}

/** The local-disk driver: a BlobStore plus the housekeeping only a disk needs. */
export interface LocalDiskStore extends BlobStore {
  /** Absolute path of the store's root directory. */
  readonly root: string;
  /** Removes temp files older than `olderThanMs` that a killed process left in `<root>/.tmp`; returns how many. */
  sweepTempFiles(olderThanMs: number): Promise<number>;
}

/** Name of the temp directory under the root; key segments cannot start with a dot, so no key can reach it. */
const TMP_DIR = ".tmp";

// A concurrent delete may prune the directory between our mkdir and rename; a few retries cover it.
const RENAME_ATTEMPTS = 5;

/**
 * Creates the local-disk BlobStore. `materialize` copies the object into the scratch directory
 * (a reflink where the file system supports it, so usually free): never the store's own path
 * nor a hard link, because a tool that wrote to its input in place would then corrupt the stored
 * object for every later reader.
 */
export function createLocalDiskStore(options: LocalDiskStoreOptions): LocalDiskStore {
  if (typeof options.root !== "string" || options.root === "") throw internal("local disk store needs a root directory");
  const root = path.resolve(options.root);
  const tmpDir = path.join(root, TMP_DIR);
  const pathOf = (key: string): string => path.join(root, ...key.split("/"));

  async function put(key: string, source: Readable, opts: PutOptions = {}): Promise<PutResult> {
    let tmpPath: string | undefined;
    try {
      assertValidKey(key);
      const meter = new ChecksumMeter(opts.maxBytes);
      await mkdir(tmpDir, { recursive: true });
      tmpPath = path.join(tmpDir, `${randomBytes(12).toString("hex")}.part`);
      // Opened here rather than by createWriteStream so the file exists before anything can fail,
      // and the cleanup below can never race a late open that would recreate it.
      const handle = await open(tmpPath, "wx", 0o644);
      const sink = handle.createWriteStream({ flush: true });
      await pipeline(source, meter, sink, opts.signal ? { signal: opts.signal } : {});
      await moveIntoPlace(tmpPath, pathOf(key));
      return { key, size: meter.size, ...meter.digests() };
    } catch (err) {
      source.destroy();
      if (tmpPath !== undefined) await rm(tmpPath, { force: true });
      throw err;
    }
  }

  function putFile(key: string, localPath: string, opts: PutOptions = {}): Promise<PutResult> {
    return putLocalFile(put, key, localPath, opts);
  }

  async function get(key: string, range: ByteRange = {}): Promise<Readable> {
    assertValidKey(key);
    const start = range.start ?? 0;
    const end = range.end ?? Number.POSITIVE_INFINITY;
    if (!Number.isSafeInteger(start) || start < 0 || !(end >= start) || (end !== Number.POSITIVE_INFINITY && !Number.isSafeInteger(end))) {
      throw internal(`invalid byte range ${start}-${end} for ${key}`);
    }
    let handle: FileHandle;
    try {
      handle = await open(pathOf(key), "r");
    } catch (err) {
      if (isMissing(err)) throw notFound(key);
      throw err;
    }
    // open() succeeds on a directory (a prefix, not an object): treat it as missing.
    if (!(await handle.stat()).isFile()) {
      await handle.close();
      throw notFound(key);
    }
    return handle.createReadStream({ start, end });
  }

  async function statObject(key: string): Promise<{ size: number } | null> {
    assertValidKey(key);
    try {
      const info = await stat(pathOf(key));
      return info.isFile() ? { size: info.size } : null;
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async function deleteObject(key: string): Promise<void> {
    assertValidKey(key);
    try {
      await unlink(pathOf(key));
    } catch (err) {
      // EISDIR/EPERM: the key names a prefix, not an object; there is no object to delete.
      if (isMissing(err) || hasErrorCode(err, "EISDIR") || hasErrorCode(err, "EPERM")) return;
      throw err;
    }
    await pruneEmptyParents(path.dirname(pathOf(key)));
  }

  async function deletePrefix(prefix: string): Promise<void> {
    const normalized = normalizePrefix(prefix, { allowEmpty: false });
    await rm(pathOf(normalized), { recursive: true, force: true, maxRetries: 3 });
    await pruneEmptyParents(path.dirname(pathOf(normalized)));
  }

  async function materialize(key: string, scratchDir: string, opts: MaterializeOptions = {}): Promise<string> {
    const target = materializePath(key, scratchDir, opts.name);
    await mkdir(path.dirname(target), { recursive: true });
    try {
      await copyFile(pathOf(key), target, constants.COPYFILE_FICLONE);
    } catch (err) {
      if (isMissing(err) || hasErrorCode(err, "EISDIR")) throw notFound(key);
      throw err;
    }
    return target;
  }

  async function* list(prefix: string): AsyncGenerator<string> {
    const normalized = normalizePrefix(prefix, { allowEmpty: true });
    const start = normalized === "" ? root : pathOf(normalized);
    let info;
    try {
      info = await stat(start);
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    if (info.isFile()) yield normalized;
    else if (info.isDirectory()) yield* walkKeys(start, normalized);
  }

  async function sweepTempFiles(olderThanMs: number): Promise<number> {
    const cutoff = Date.now() - olderThanMs;
    let names: string[];
    try {
      names = await readdir(tmpDir);
    } catch (err) {
      if (isMissing(err)) return 0;
      throw err;
    }
    let removed = 0;
    for (const name of names) {
      const file = path.join(tmpDir, name);
      try {
        if ((await stat(file)).mtimeMs < cutoff) {
          await rm(file, { force: true, recursive: true });
          removed++;
        }
      } catch {
        // Finished or removed by its writer meanwhile.
      }
    }
    return removed;
  }

  async function moveIntoPlace(from: string, to: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      await mkdir(path.dirname(to), { recursive: true });
      try {
        await rename(from, to);
        return;
      } catch (err) {
        if (!isMissing(err) || attempt >= RENAME_ATTEMPTS) throw err;
      }
    }
  }

  // Empty directories would pile up under tasks/<id>/...; a put racing this recreates what it needs.
  async function pruneEmptyParents(dir: string): Promise<void> {
    while (dir.startsWith(root + path.sep) && dir !== tmpDir) {
      try {
        await rmdir(dir);
      } catch {
        return; // not empty (or already gone): stop climbing
      }
      dir = path.dirname(dir);
    }
  }

  return { root, put, putFile, get, stat: statObject, delete: deleteObject, deletePrefix, materialize, list, sweepTempFiles };
}

function notFound(key: string): AppError {
  return new AppError("not_found", "File not found.", { detail: `no object at storage key ${key}` });
}

function internal(detail: string, cause?: unknown): AppError {
  return new AppError("internal_error", "Internal error", { detail, cause });
}
