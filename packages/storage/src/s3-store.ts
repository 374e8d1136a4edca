/**
 * The S3 BlobStore: one object per key in a bucket (AWS or any S3-compatible store). A put is a
 * single PutObject or a multipart upload, both atomic on the S3 side, so readers see the old
 * object or the whole new one, as with the local driver.
 */
import { mkdir, open, rm } from "node:fs/promises";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { AppError } from "@transmute/core";
import type { BlobStore, ByteRange, MaterializeOptions, PutOptions, PutResult } from "./blob-store.js";
import { ChecksumMeter } from "./checksum-meter.js";
import { putLocalFile } from "./put-file.js";
import { assertValidKey, explainInvalidKey, materializePath, normalizePrefix } from "./keys.js";
import { sliceToRange } from "./range-slice.js";
import { createStoreClient } from "./s3-client.js";
import { isInvalidRange, isNoSuchKey, toStorageError, type S3ErrorContext } from "./s3-errors.js";

/** Options of `createS3Store`. */
export interface S3StoreOptions {
  /** Endpoint of an S3-compatible store, such as `http://minio:9000` (default: AWS's endpoint for `region`). */
  endpoint?: string;
  /** Region signed for (required; S3-compatible stores usually accept `us-east-1`). */
  region: string;
  /** Bucket holding the objects (required; must exist). */
  bucket: string;
  /** Prepended to every key, empty or ending in `/`, such as `transmute/` (default: ""). */
  prefix?: string;
  /** Access key id (required). */
  accessKeyId: string;
  /** Secret access key (required). */
  secretAccessKey: string;
  /** Session token of temporary credentials (default: none). */
  sessionToken?: string;
  /** Address the bucket in the path rather than the host name (default: true when `endpoint` is set, else false). */
  forcePathStyle?: boolean;
  /** Part size of multipart uploads in bytes, at least 5 MiB; smaller bodies go in one PutObject (default: 8 MiB). */
  partSize?: number;
}

/** The S3 driver: a BlobStore plus the release of its connections. */
export interface S3Store extends BlobStore {
  /** The bucket the objects are in. */
  readonly bucket: string;
  /**
   * Checks that the bucket exists and the credentials may use it (HeadBucket), so a process
   * with a wrong setting stops at boot with the reason instead of failing its first task.
   */
  probe(): Promise<void>;
  /** Closes every connection; the store must not be used afterwards. */
  close(): void;
}

const MIB = 1024 * 1024;
const DEFAULT_PART_SIZE = 8 * MIB;
/** S3's own minimum part size (every part but the last). */
const MIN_PART_SIZE = 5 * MIB;
/** Parts in flight per put: memory per put is about (queueSize + 1) x partSize. */
const QUEUE_SIZE = 2;
/** DeleteObjects takes at most this many keys per request. */
const DELETE_BATCH = 1000;

/**
 * Creates the S3 BlobStore. `materialize` downloads the object into the scratch directory (the
 * tool gets its own copy, as with the local driver). Keys in the bucket are `prefix + key`;
 * objects there whose remainder is not a valid key (written by something else) are never listed.
 */
export function createS3Store(options: S3StoreOptions): S3Store {
  const storePrefix = options.prefix ?? "";
  const partSize = options.partSize ?? DEFAULT_PART_SIZE;
  if (!options.bucket || !options.region || !options.accessKeyId || !options.secretAccessKey) {
    throw internal("S3 store needs a bucket, a region and credentials");
  }
  if (storePrefix !== "" && (!storePrefix.endsWith("/") || explainInvalidKey(storePrefix.slice(0, -1)) !== null)) {
    throw internal(`S3 store prefix ${JSON.stringify(storePrefix)} must be empty or safe segments ending in "/"`);
  }
  if (!Number.isSafeInteger(partSize) || partSize < MIN_PART_SIZE) throw internal(`S3 part size ${partSize} is below 5 MiB`);

  const { bucket } = options;
  const errorContext: S3ErrorContext = { bucket, secrets: [options.accessKeyId, options.secretAccessKey, options.sessionToken] };
  const { client, close } = createStoreClient(options);
  const objectKey = (key: string): string => storePrefix + key;
  const fail = (err: unknown, action: string): unknown => toStorageError(err, action, errorContext);

  async function put(key: string, source: Readable, opts: PutOptions = {}): Promise<PutResult> {
    try {
      assertValidKey(key);
      const meter = new ChecksumMeter(opts.maxBytes);
      // The meter is not the body itself: Upload takes a `size` property of its body for the
      // total length, and the meter's `size` (bytes so far, 0 here) would fail the part count.
      const body = new PassThrough();
      const upload = new Upload({
        client,
        params: { Bucket: bucket, Key: objectKey(key), Body: body, ...(opts.contentType ? { ContentType: opts.contentType } : {}) },
        partSize,
        queueSize: QUEUE_SIZE,
      });
      // The first failure wins: the limit or the caller's signal (seen by the pipeline) rather
      // than the upload's echo of it, or an AbortMultipartUpload refused after it.
      let firstError: unknown;
      const stop = (err: unknown): void => {
        firstError ??= err;
        body.destroy();
        meter.destroy();
        source.destroy();
      };
      // Not upload.abort(): it rejects at once and aborts the multipart upload in the
      // background. Destroying the body instead makes done() settle only once the upload has
      // been aborted, so nothing is pending when put rejects.
      await Promise.all([
        pipeline(source, meter, body, opts.signal ? { signal: opts.signal } : {}).catch(stop),
        upload.done().catch((err: unknown) => stop(fail(err, `upload of ${key}`))),
      ]);
      if (firstError !== undefined) throw firstError;
      return { key, size: meter.size, ...meter.digests() };
    } catch (err) {
      // Source errors and the caller's abort pass through as they are, as with the local driver.
      source.destroy();
      throw err;
    }
  }

  function putFile(key: string, localPath: string, opts: PutOptions = {}): Promise<PutResult> {
    return putLocalFile(put, key, localPath, opts);
  }

  /** The object's body, or null when the range starts past its end. */
  async function openObject(key: string, range: ByteRange): Promise<Readable | null> {
    const start = range.start ?? 0;
    const end = range.end;
    if (!Number.isSafeInteger(start) || start < 0 || (end !== undefined && (!Number.isSafeInteger(end) || end < start))) {
      throw internal(`invalid byte range ${start}-${end ?? ""} for ${key}`);
    }
    const header = start === 0 && end === undefined ? undefined : `bytes=${start}-${end ?? ""}`;
    try {
      const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: objectKey(key), ...(header ? { Range: header } : {}) }));
      // Trimmed here when a store sent more than asked (s3rver ignores an end of 0, for one).
      return header ? sliceToRange(answer.Body as Readable, answer.ContentRange, start, end) : (answer.Body as Readable);
    } catch (err) {
      if (isNoSuchKey(err)) throw notFound(key);
      // The local driver reads nothing past the end; S3 refuses such a range (and any range of an empty object).
      if (isInvalidRange(err)) return null;
      throw fail(err, `download of ${key}`);
    }
  }

  async function get(key: string, range: ByteRange = {}): Promise<Readable> {
    assertValidKey(key);
    return (await openObject(key, range)) ?? Readable.from([]);
  }

  async function statObject(key: string): Promise<{ size: number } | null> {
    assertValidKey(key);
    try {
      const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: objectKey(key) }));
      return { size: head.ContentLength ?? 0 };
    } catch (err) {
      if (isNoSuchKey(err)) return null;
      throw fail(err, `stat of ${key}`);
    }
  }

  async function deleteObject(key: string): Promise<void> {
    assertValidKey(key);
    try {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: objectKey(key) }));
    } catch (err) {
      if (isNoSuchKey(err)) return;
      throw fail(err, `delete of ${key}`);
    }
  }

  async function deletePrefix(prefix: string): Promise<void> {
    const normalized = normalizePrefix(prefix, { allowEmpty: false });
    await deleteObject(normalized);
    // Deletes page by page, listing afresh each time rather than following a continuation token
    // across deletions (whose meaning some S3-compatible stores change as keys disappear).
    for (;;) {
      const keys = await listPage(objectKey(`${normalized}/`), undefined, DELETE_BATCH);
      if (keys.keys.length === 0) return;
      let answer;
      try {
        answer = await client.send(
          new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.keys.map((Key) => ({ Key })), Quiet: true } }),
        );
      } catch (err) {
        throw fail(err, `delete of prefix ${normalized}`);
      }
      const refused = (answer.Errors ?? []).filter((e) => e.Code !== "NoSuchKey");
      if (refused.length > 0) {
        const first = refused[0];
        throw fail({ name: first?.Code ?? "DeleteObjectsError", message: `${refused.length} key(s) not deleted, first ${first?.Key ?? "?"}: ${first?.Message ?? ""}` }, `delete of prefix ${normalized}`);
      }
    }
  }

  async function listPage(fullPrefix: string, token: string | undefined, maxKeys = 1000): Promise<{ keys: string[]; next: string | undefined }> {
    try {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: fullPrefix, MaxKeys: maxKeys, ...(token ? { ContinuationToken: token } : {}) }),
      );
      const keys = (page.Contents ?? []).map((o) => o.Key ?? "").filter((k) => k.startsWith(fullPrefix));
      return { keys, next: page.IsTruncated ? page.NextContinuationToken : undefined };
    } catch (err) {
      throw fail(err, `listing of ${fullPrefix}`);
    }
  }

  async function* listUnder(fullPrefix: string): AsyncGenerator<string> {
    let token: string | undefined;
    do {
      const page = await listPage(fullPrefix, token);
      for (const full of page.keys) {
        const key = full.slice(storePrefix.length);
        if (explainInvalidKey(key) === null) yield key;
      }
      token = page.next;
    } while (token !== undefined);
  }

  async function* list(prefix: string): AsyncGenerator<string> {
    const normalized = normalizePrefix(prefix, { allowEmpty: true });
    if (normalized === "") {
      yield* listUnder(storePrefix);
      return;
    }
    // A whole-segment prefix: the object at the prefix itself, then what is under `prefix/`.
    if ((await statObject(normalized)) !== null) yield normalized;
    yield* listUnder(objectKey(`${normalized}/`));
  }

  async function materialize(key: string, scratchDir: string, opts: MaterializeOptions = {}): Promise<string> {
    const target = materializePath(key, scratchDir, opts.name);
    await mkdir(path.dirname(target), { recursive: true });
    const body = (await openObject(key, {})) ?? Readable.from([]);
    try {
      const handle = await open(target, "w", 0o644);
      await pipeline(body, handle.createWriteStream());
    } catch (err) {
      body.destroy();
      // A half-written input would make the tool fail on a "corrupt" file that is not.
      await rm(target, { force: true });
      throw fail(err, `download of ${key}`);
    }
    return target;
  }

  async function probe(): Promise<void> {
    try {
      await client.send(new HeadBucketCommand({ Bucket: bucket }));
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
      // HEAD answers carry no error body: the status is all there is to go on.
      const why = status === 404 ? "the bucket does not exist" : status === 403 ? "the credentials are refused or may not use the bucket" : status === 301 ? "the bucket is in another region" : null;
      if (why) throw internal(`S3 file store: bucket "${bucket}" cannot be used: ${why} (HTTP ${status}); check the TRANSMUTE_S3_* settings.`);
      throw fail(err, "check of the bucket");
    }
  }

  return {
    bucket,
    probe,
    put,
    putFile,
    get,
    stat: statObject,
    delete: deleteObject,
    deletePrefix,
    materialize,
    list,
    close,
  };
}

function notFound(key: string): AppError {
  return new AppError("not_found", "File not found.", { detail: `no object at storage key ${key}` });
}

function internal(detail: string, cause?: unknown): AppError {
  return new AppError("internal_error", "Internal error", { detail, cause });
}
