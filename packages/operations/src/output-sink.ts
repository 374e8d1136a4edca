/**
 * Where a handler puts its outputs: files go under attempt-scoped keys
 * (`tasks/<task>/<attempt>/<ordinal>`), so a second run of the same task never overwrites or
 * mixes with the first; they become visible only when the task's completion commits.
 */
import type { Readable } from "node:stream";
import { constants as zlibConstants, gunzipSync } from "node:zlib";
import { contentTypeOf, identifyFormat, identifyZipContainer, type StoredFile } from "@transmute/core";
import { buildKey, type BlobStore } from "@transmute/storage";
import type { InputFile } from "./context.js";
import { readAll } from "./context.js";

/** A file recorded by the sink. */
export interface SinkFile extends StoredFile {
  /** True when the file is another task's stored object, published again (not owned). */
  reference: boolean;
}

/** Identifies a stored object's format from its first bytes; a gzip stream holding a tar is `tgz`. */
export async function identifyStored(storage: BlobStore, key: string, size: number): Promise<string | null> {
  if (size === 0) return null;
  const head = await readAll(await storage.get(key, { start: 0, end: Math.min(size, 8192) - 1 }));
  const format = identifyFormat(head);
  if (format === "gz" && isTarball(head)) return "tgz";
  if (format === "zip") return refineZip(storage, key, size).catch(() => "zip");
  return format;
}

/** Largest central directory read to refine a zip (an Office file's is a few KiB to a few hundred). */
const MAX_CENTRAL_DIRECTORY = 4 * 1024 * 1024;

/**
 * A zip whose local headers in the head do not say what it is (writers that put sizes in data
 * descriptors, as LibreOffice does, hide every name after the first): its central directory, at
 * the end, names every entry, and the names say docx, xlsx, pptx, odt, ods, odp or epub.
 */
async function refineZip(storage: BlobStore, key: string, size: number): Promise<string> {
  const tailLength = Math.min(size, 22 + 65_535);
  const tailStart = size - tailLength;
  const tail = await readAll(await storage.get(key, { start: tailStart, end: size - 1 }));
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return "zip";
  const cdSize = tail.readUInt32LE(eocd + 12);
  const cdOffset = tail.readUInt32LE(eocd + 16);
  if (cdOffset === 0xffffffff || cdSize > MAX_CENTRAL_DIRECTORY || cdOffset + cdSize > size) return "zip";
  const cd = cdOffset >= tailStart ? tail.subarray(cdOffset - tailStart, cdOffset - tailStart + cdSize) : await readAll(await storage.get(key, { start: cdOffset, end: cdOffset + cdSize - 1 }));
  const names: string[] = [];
  for (let at = 0; at + 46 <= cd.length && cd.readUInt32LE(at) === 0x02014b50; ) {
    const nameLength = cd.readUInt16LE(at + 28);
    names.push(cd.subarray(at + 46, at + 46 + nameLength).toString("utf8"));
    at += 46 + nameLength + cd.readUInt16LE(at + 30) + cd.readUInt16LE(at + 32);
  }
  return identifyZipContainer(names);
}

/** Whether gzip bytes start a tar: the first 512 bytes inflated carry the ustar magic at 257. */
function isTarball(gzipHead: Buffer): boolean {
  try {
    // Z_SYNC_FLUSH inflates what a cut-off stream holds instead of failing on its missing end.
    const inflated = gunzipSync(gzipHead, { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: 64 * 1024 });
    return inflated.length >= 262 && inflated.subarray(257, 262).toString("latin1") === "ustar";
  } catch {
    return false;
  }
}

/** Collects a task's outputs. */
export class OutputSink {
  readonly files: SinkFile[] = [];

  constructor(
    private readonly storage: BlobStore,
    private readonly taskId: string,
    private readonly attempt: number,
  ) {}

  /** The prefix that holds this attempt's own outputs (deleted when the attempt loses). */
  get prefix(): string {
    return buildKey("tasks", this.taskId, String(this.attempt));
  }

  private nextKey(): { ordinal: number; key: string } {
    const ordinal = this.files.length;
    return { ordinal, key: buildKey("tasks", this.taskId, String(this.attempt), String(ordinal)) };
  }

  private async record(ordinal: number, key: string, name: string, put: { size: number; sha256: string; md5: string }): Promise<SinkFile> {
    const format = await identifyStored(this.storage, key, put.size);
    const file: SinkFile = { ordinal, name, size: put.size, contentType: contentTypeOf(format, name), format, sha256: put.sha256, md5: put.md5, storageKey: key, reference: false };
    this.files.push(file);
    return file;
  }

  /** Stores a file a tool wrote to scratch. */
  async addFile(localPath: string, name: string): Promise<SinkFile> {
    const { ordinal, key } = this.nextKey();
    return this.record(ordinal, key, name, await this.storage.putFile(key, localPath));
  }

  /** Stores a stream (a download), enforcing `maxBytes` while streaming. */
  async addStream(source: Readable, name: string, opts: { maxBytes?: number; signal?: AbortSignal } = {}): Promise<SinkFile> {
    const { ordinal, key } = this.nextKey();
    return this.record(ordinal, key, name, await this.storage.put(key, source, opts));
  }

  /** Publishes an input file again under another name without copying its bytes. */
  addReference(input: InputFile, name: string): SinkFile {
    const file: SinkFile = {
      ordinal: this.files.length,
      name,
      size: input.size,
      contentType: input.name === name ? input.contentType : contentTypeOf(input.format, name),
      format: input.format,
      sha256: input.sha256,
      md5: input.md5,
      storageKey: input.storageKey,
      reference: true,
    };
    this.files.push(file);
    return file;
  }
}
