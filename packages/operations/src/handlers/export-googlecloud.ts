/**
 * export/googlecloud: uploads each input file, streamed from storage, to a Google Cloud Storage
 * bucket: a small file in one multipart request, a larger one as a resumable upload in chunks
 * (the session cancelled when the task fails or is canceled, so no partial upload lingers).
 * The client checks each object's CRC32C against what the store computed. The result's
 * `objects` lists each object written, never a credential.
 */
import { pipeline } from "node:stream/promises";
import { AppError } from "@transmute/core";
import type { OperationHandler } from "../context.js";
import { createGcsSession, gcsConnectionOf, toGcsAppError } from "../gcs-client.js";
import { objectKeys } from "./export-s3.js";

/**
 * Bytes of one resumable chunk (a multiple of 256 KiB, as GCS requires). The client buffers one
 * chunk, so this is the memory of an upload; a file up to this size goes in one multipart request.
 */
export const CHUNK_SIZE = 8 * 1024 * 1024;

/** One object written. */
export interface ExportedObject {
  file: string;
  size: number;
  generation: string | null;
  md5_hash: string | null;
  crc32c: string | null;
  /** How it was sent: "multipart" (one request) or "resumable" (in `chunks` chunks). */
  upload: "multipart" | "resumable";
  chunks: number;
}

export const exportGooglecloud: OperationHandler = {
  name: "export/googlecloud",
  async run(ctx) {
    if (ctx.inputs.length === 0) throw new AppError("no_input", "The input tasks produced no file to export.");
    const conn = gcsConnectionOf(ctx.task.payload);
    const names = objectKeys(String(ctx.task.payload.file), ctx.inputs.map((input) => input.name));
    const total = ctx.inputs.reduce((sum, input) => sum + input.size, 0);
    const session = createGcsSession(conn, ctx.outbound, ctx.signal);
    const objects: ExportedObject[] = [];
    let sentBefore = 0;
    let object: string | undefined;
    let sessionUri: string | undefined;
    try {
      for (const [i, input] of ctx.inputs.entries()) {
        object = names[i]!;
        sessionUri = undefined;
        const resumable = input.size > CHUNK_SIZE;
        const body = await ctx.storage.get(input.storageKey);
        const file = session.bucket.file(object);
        const upload = file.createWriteStream({
          resumable,
          ...(resumable ? { chunkSize: CHUNK_SIZE } : {}),
          contentType: input.contentType,
          metadata: { contentType: input.contentType },
          validation: "crc32c",
        });
        upload.on("uri", (uri: string) => (sessionUri = uri));
        upload.on("progress", (p: { bytesWritten?: number }) => {
          if (total > 0 && typeof p.bytesWritten === "number") ctx.progress(((sentBefore + Math.min(p.bytesWritten, input.size)) / total) * 100);
        });
        try {
          await pipeline(body, upload, { signal: ctx.signal });
        } finally {
          body.destroy();
        }
        const meta = file.metadata;
        const size = Number(meta.size ?? input.size);
        if (size !== input.size) throw new AppError("processing_failed", `The store kept ${size} bytes of "${object}" in bucket "${conn.bucket}" instead of ${input.size}.`);
        objects.push({
          file: object,
          size,
          generation: meta.generation === undefined ? null : String(meta.generation),
          md5_hash: typeof meta.md5Hash === "string" ? meta.md5Hash : null,
          crc32c: typeof meta.crc32c === "string" ? meta.crc32c : null,
          upload: resumable ? "resumable" : "multipart",
          chunks: resumable ? Math.ceil(input.size / CHUNK_SIZE) : 1,
        });
        sessionUri = undefined;
        sentBefore += input.size;
      }
      // Not `files`: the task view fills that with the task's own stored files (none here).
      return { result: { bucket: conn.bucket, objects } };
    } catch (err) {
      // An unfinished resumable upload creates no object; cancelling its session frees it now.
      if (sessionUri) await session.abandonUpload(sessionUri);
      throw toGcsAppError(err, { direction: "export", conn, ...(object !== undefined ? { object } : {}), signal: ctx.signal });
    } finally {
      session.close();
    }
  },
};
