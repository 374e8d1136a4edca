/**
 * export/s3: uploads each input file, streamed from storage, to the bucket (multipart past one
 * part); the result's `objects` lists each object written with its size and ETag, never a credential.
 */
import { Upload } from "@aws-sdk/lib-storage";
import { AbortMultipartUploadCommand, type ObjectCannedACL } from "@aws-sdk/client-s3";
import { AppError } from "@transmute/core";
import type { OperationHandler } from "../context.js";
import { createS3Session, s3ConnectionOf, toS3AppError } from "../s3-client.js";

/** Bytes of one multipart part; a file up to this size is one PutObject. */
export const PART_SIZE = 8 * 1024 * 1024;
/** Parts in flight at once (memory is at most PART_SIZE x QUEUE_SIZE per upload). */
const QUEUE_SIZE = 2;
/** Longest wait for the store to confirm the abort of a failed or stopped multipart upload. */
const ABORT_TIMEOUT_MS = 10_000;

/** One object written. */
export interface ExportedObject {
  key: string;
  size: number;
  etag: string | null;
  /** Parts it was sent in (1: a single PutObject). */
  parts: number;
}

export const exportS3: OperationHandler = {
  name: "export/s3",
  async run(ctx) {
    if (ctx.inputs.length === 0) throw new AppError("no_input", "The input tasks produced no file to export.");
    const conn = s3ConnectionOf(ctx.task.payload);
    const acl = typeof ctx.task.payload.acl === "string" ? (ctx.task.payload.acl as ObjectCannedACL) : undefined;
    const keys = objectKeys(String(ctx.task.payload.key), ctx.inputs.map((input) => input.name));
    const total = ctx.inputs.reduce((sum, input) => sum + input.size, 0);
    const session = createS3Session(conn, ctx.outbound);
    const files: ExportedObject[] = [];
    let sentBefore = 0;
    let key: string | undefined;
    try {
      for (const [i, input] of ctx.inputs.entries()) {
        key = keys[i]!;
        const body = await ctx.storage.get(input.storageKey);
        const upload = new Upload({
          client: session.client,
          params: { Bucket: conn.bucket, Key: key, Body: body, ContentType: input.contentType, ContentLength: input.size, ...(acl ? { ACL: acl } : {}) },
          partSize: PART_SIZE,
          queueSize: QUEUE_SIZE,
          leavePartsOnError: false,
        });
        let parts = 0;
        upload.on("httpUploadProgress", (p) => {
          parts = Math.max(parts, p.part ?? 0);
          if (total > 0 && p.loaded !== undefined) ctx.progress(((sentBefore + p.loaded) / total) * 100);
        });
        // Upload.abort() makes done() reject at once, but the SDK aborts the multipart upload
        // only after its parts in flight end, and a part sent to a store that stopped answering
        // ends at the idle timeout (or when the session closes its sockets): too late, or never.
        const stop = () => void upload.abort().catch(() => undefined);
        ctx.signal.addEventListener("abort", stop, { once: true });
        try {
          const out = await upload.done();
          files.push({ key, size: input.size, etag: out.ETag ? out.ETag.replace(/"/g, "") : null, parts: Math.max(parts, 1) });
        } catch (err) {
          // So it is aborted here, on a connection of its own, before the session closes: no
          // orphan parts stay stored (and billed). A failure to abort is the store's to expire.
          if (upload.uploadId) {
            await session.client
              .send(new AbortMultipartUploadCommand({ Bucket: conn.bucket, Key: key, UploadId: upload.uploadId }), { abortSignal: AbortSignal.timeout(ABORT_TIMEOUT_MS) })
              .catch(() => undefined);
          }
          throw err;
        } finally {
          ctx.signal.removeEventListener("abort", stop);
          body.destroy();
        }
        sentBefore += input.size;
      }
      // Not `files`: the task view fills that with the task's own stored files (none here).
      return { result: { bucket: conn.bucket, objects: files } };
    } catch (err) {
      throw toS3AppError(err, { direction: "export", conn, ...(key !== undefined ? { key } : {}), signal: ctx.signal });
    } finally {
      session.close();
    }
  },
};

/**
 * The object key of each file. A `key` with "{filename}" or "{n}" is a template (the file's
 * name, its 1-based position); a `key` ending in "/" is a folder the files go into by name;
 * otherwise the first file takes `key` and the next ones `key` with "-2", "-3"... before the
 * extension. Keys that would still collide get the same numbering, so no file overwrites another.
 */
export function objectKeys(key: string, names: string[]): string[] {
  const keys = names.map((name, i) => {
    if (key.includes("{filename}") || key.includes("{n}")) return key.replaceAll("{filename}", name).replaceAll("{n}", String(i + 1));
    if (key.endsWith("/")) return key + name;
    return i === 0 ? key : numbered(key, i + 1);
  });
  const used = new Set<string>();
  return keys.map((k) => {
    let unique = k;
    for (let n = 2; used.has(unique); n++) unique = numbered(k, n);
    used.add(unique);
    return unique;
  });
}

/** `key` with "-n" before the extension of its last segment ("a/b.png" -> "a/b-2.png"). */
function numbered(key: string, n: number): string {
  const slash = key.lastIndexOf("/");
  const dot = key.lastIndexOf(".");
  return dot > slash + 1 ? `${key.slice(0, dot)}-${n}${key.slice(dot)}` : `${key}-${n}`;
}
