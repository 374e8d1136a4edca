/**
 * The BlobStore contract: every operation and route reads and writes file bytes through it, so
 * a driver (local disk now, S3 later) can be swapped without touching them.
 */
import type { Readable } from "node:stream";

/** Options of `BlobStore.put` and `BlobStore.putFile`. */
export interface PutOptions {
  /** Largest object accepted, in bytes; exceeding it mid-stream fails with `payload_too_large` (default: no limit). */
  maxBytes?: number;
  /** MIME type stored with the object where the driver keeps one (default: none; the local driver ignores it). */
  contentType?: string;
  /** Aborts the write; nothing is left behind (default: none). */
  signal?: AbortSignal;
}

/** What a completed write stored. Checksums are lowercase hex of exactly the bytes stored. */
export interface PutResult {
  key: string;
  size: number;
  sha256: string;
  md5: string;
}

/** A byte range of `BlobStore.get`; both ends are inclusive offsets, as in an HTTP Range header. */
export interface ByteRange {
  /** First byte to read (default 0). */
  start?: number;
  /** Last byte to read, inclusive (default: the last byte of the object). */
  end?: number;
}

/** Options of `BlobStore.materialize`. */
export interface MaterializeOptions {
  /** File name inside the scratch directory, one safe segment such as `input-0.pdf` (default: the key, as nested directories). */
  name?: string;
}

/**
 * Where file bytes live. Keys are relative POSIX paths built from ids (see `buildKey`); a key
 * that is not one is refused with an internal error. A prefix covers whole segments only.
 */
export interface BlobStore {
  /**
   * Streams `source` into the object at `key`, computing sha256 and md5 on the way. Atomic:
   * readers see the old object or the whole new one, never a part. On any failure (limit
   * exceeded, source error, abort) nothing is left behind and `source` is destroyed.
   */
  put(key: string, source: Readable, options?: PutOptions): Promise<PutResult>;
  /** Same as `put`, reading a local file (a tool's output in a scratch directory); the file is left in place. */
  putFile(key: string, localPath: string, options?: PutOptions): Promise<PutResult>;
  /** Opens the object (or a range of it) for reading; `not_found` when it does not exist. */
  get(key: string, range?: ByteRange): Promise<Readable>;
  /** The object's size, or null when it does not exist. */
  stat(key: string): Promise<{ size: number } | null>;
  /** Deletes the object; deleting a missing object is not an error. */
  delete(key: string): Promise<void>;
  /** Deletes the object at `prefix` and every object under `prefix/`. */
  deletePrefix(prefix: string): Promise<void>;
  /** Returns a local path a tool can read the object from, inside `scratchDir` (see the driver for how). */
  materialize(key: string, scratchDir: string, options?: MaterializeOptions): Promise<string>;
  /** Every key at or under `prefix` ("" for all); no order is promised across drivers. */
  list(prefix: string): AsyncIterable<string>;
}
