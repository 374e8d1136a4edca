/**
 * import/s3: downloads one object (`key`) or every object under `key_prefix`, streamed into the
 * task's outputs, under the outbound policy and the import byte and time limits.
 */
import type { Readable } from "node:stream";
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { AppError, sanitizeFilename } from "@transmute/core";
import type { OperationContext, OperationHandler } from "../context.js";
import { MAX_PREFIX_OBJECTS, startImportDeadline } from "../import-deadline.js";
import { nameOfObjectKey } from "../names.js";
import { createS3Session, s3ConnectionOf, toS3AppError, type S3Connection } from "../s3-client.js";

export const importS3: OperationHandler = {
  name: "import/s3",
  async run(ctx) {
    const conn = s3ConnectionOf(ctx.task.payload);
    const payload = ctx.task.payload;
    const deadline = startImportDeadline(ctx);
    const signal = deadline.signal;
    const session = createS3Session(conn, ctx.outbound);
    let key: string | undefined;
    try {
      if (typeof payload.key === "string") {
        key = payload.key;
        const given = typeof payload.filename === "string" ? sanitizeFilename(payload.filename) : "";
        await download(ctx, session.client, conn, key, given || nameOfObjectKey(key), signal);
        return { result: { keys: [key] } };
      }
      const prefix = String(payload.key_prefix);
      const objects = await listPrefix(session.client, conn, prefix, ctx.limits.importUrlMaxBytes, signal);
      for (const [i, object] of objects.entries()) {
        key = object;
        await download(ctx, session.client, conn, object, nameOfObjectKey(object), signal);
        ctx.progress(((i + 1) / objects.length) * 100);
      }
      return { result: { keys: objects } };
    } catch (err) {
      throw deadline.failure(err, "S3 download", (e) => toS3AppError(e, { direction: "import", conn, ...(key !== undefined ? { key } : {}), signal: ctx.signal }));
    } finally {
      deadline.clear();
      session.close();
    }
  },
};

/** Streams one object into the task's outputs; a size over the cap fails before any byte. */
async function download(ctx: OperationContext, client: S3Client, conn: S3Connection, key: string, name: string, signal: AbortSignal): Promise<void> {
  const res = await client.send(new GetObjectCommand({ Bucket: conn.bucket, Key: key }), { abortSignal: signal });
  const body = res.Body as Readable | undefined;
  if (!body) throw new AppError("download_failed", `The S3 store sent no content for "${key}".`);
  try {
    const max = ctx.limits.importUrlMaxBytes;
    if (res.ContentLength !== undefined && res.ContentLength > max) {
      throw new AppError("payload_too_large", `The object "${key}" is larger than the limit of ${max} bytes.`);
    }
    await ctx.output.addStream(body, name, { maxBytes: max, signal });
  } finally {
    body.destroy();
  }
}

/** Every object key under `prefix`, in key order; "directory" markers (keys ending in "/") are skipped. */
async function listPrefix(client: S3Client, conn: S3Connection, prefix: string, maxBytes: number, signal: AbortSignal): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: conn.bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }),
      { abortSignal: signal },
    );
    for (const object of page.Contents ?? []) {
      if (!object.Key || object.Key.endsWith("/")) continue;
      if (object.Size !== undefined && object.Size > maxBytes) {
        throw new AppError("payload_too_large", `The object "${object.Key}" is larger than the limit of ${maxBytes} bytes.`);
      }
      keys.push(object.Key);
      if (keys.length > MAX_PREFIX_OBJECTS) {
        throw new AppError("limit_exceeded", `More than ${MAX_PREFIX_OBJECTS} objects are under key_prefix "${prefix}" in bucket "${conn.bucket}"; use a narrower prefix.`);
      }
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  if (keys.length === 0) throw new AppError("download_failed", `There is no object under key_prefix "${prefix}" in bucket "${conn.bucket}".`);
  // S3 lists in UTF-8 byte order already; some compatible stores do not.
  return keys.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}
