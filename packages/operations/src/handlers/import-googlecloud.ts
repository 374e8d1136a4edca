/**
 * import/googlecloud: downloads one object (`file`) or every object under `file_prefix` from a
 * Google Cloud Storage bucket, streamed into the task's outputs (CRC32C-checked by the client),
 * under the outbound policy and the import byte and time limits.
 */
import type { Bucket } from "@google-cloud/storage";
import { AppError, isAppError, sanitizeFilename } from "@transmute/core";
import type { OperationContext, OperationHandler } from "../context.js";
import { createGcsSession, gcsConnectionOf, toGcsAppError, type GcsConnection } from "../gcs-client.js";
import { MAX_PREFIX_OBJECTS, startImportDeadline } from "../import-deadline.js";
import { nameOfObjectKey } from "../names.js";

/** Objects asked for per list page (GCS's own maximum is 1000). */
const PAGE_SIZE = 1000;

/** One object to download: its name, size and the generation that was sized. */
interface Listed {
  name: string;
  size: number;
  generation: string | undefined;
}

export const importGooglecloud: OperationHandler = {
  name: "import/googlecloud",
  async run(ctx) {
    const conn = gcsConnectionOf(ctx.task.payload);
    const payload = ctx.task.payload;
    const deadline = startImportDeadline(ctx);
    const signal = deadline.signal;
    const session = createGcsSession(conn, ctx.outbound, signal);
    // teeny-request (metadata, list, media) takes no signal: closing the session's agents ends its sockets.
    const stop = () => session.close();
    signal.addEventListener("abort", stop, { once: true });
    let object: string | undefined;
    try {
      if (typeof payload.file === "string") {
        object = payload.file;
        const listed = await stat(session.bucket, object, ctx.limits.importUrlMaxBytes);
        const given = typeof payload.filename === "string" ? sanitizeFilename(payload.filename) : "";
        await download(ctx, session.bucket, listed, given || nameOfObjectKey(object), signal);
        return { result: { bucket: conn.bucket, objects: [object] } };
      }
      const prefix = String(payload.file_prefix);
      const objects = await listPrefix(session.bucket, conn, prefix, ctx.limits.importUrlMaxBytes);
      for (const [i, listed] of objects.entries()) {
        object = listed.name;
        await download(ctx, session.bucket, listed, nameOfObjectKey(listed.name), signal);
        ctx.progress(((i + 1) / objects.length) * 100);
      }
      return { result: { bucket: conn.bucket, objects: objects.map((o) => o.name) } };
    } catch (err) {
      throw deadline.failure(err, "Google Cloud Storage download", (e) => toGcsAppError(e, { direction: "import", conn, ...(object !== undefined ? { object } : {}), signal: ctx.signal }));
    } finally {
      deadline.clear();
      signal.removeEventListener("abort", stop);
      session.close();
    }
  },
};

/** The object's size and generation; a size over the cap fails before any byte is read. */
async function stat(bucket: Bucket, name: string, maxBytes: number): Promise<Listed> {
  const [metadata] = await bucket.file(name).getMetadata();
  const size = Number(metadata.size ?? 0);
  if (size > maxBytes) throw tooLarge(name, maxBytes, size);
  return { name, size, generation: metadata.generation === undefined ? undefined : String(metadata.generation) };
}

/**
 * Streams one object into the task's outputs. The generation that was sized is the one read,
 * so an object replaced meanwhile fails (404) instead of arriving larger than it was checked.
 */
async function download(ctx: OperationContext, bucket: Bucket, listed: Listed, name: string, signal: AbortSignal): Promise<void> {
  const file = bucket.file(listed.name, listed.generation !== undefined ? { generation: Number(listed.generation) } : {});
  const body = file.createReadStream({ validation: "crc32c" });
  try {
    await ctx.output.addStream(body, name, { maxBytes: ctx.limits.importUrlMaxBytes, signal });
  } catch (err) {
    // The object grew past the cap after it was sized (another generation would 404 instead).
    if (isAppError(err) && err.code === "payload_too_large") throw tooLarge(listed.name, ctx.limits.importUrlMaxBytes);
    throw err;
  } finally {
    body.destroy();
  }
}

/** Every object under `prefix`, in name order; "directory" placeholders (names ending in "/") are skipped. */
async function listPrefix(bucket: Bucket, conn: GcsConnection, prefix: string, maxBytes: number): Promise<Listed[]> {
  const objects: Listed[] = [];
  let pageToken: string | undefined;
  do {
    const [files, next] = await bucket.getFiles({ prefix, autoPaginate: false, maxResults: PAGE_SIZE, ...(pageToken ? { pageToken } : {}) });
    for (const file of files) {
      if (file.name.endsWith("/")) continue;
      const size = Number(file.metadata.size ?? 0);
      if (size > maxBytes) throw tooLarge(file.name, maxBytes, size);
      objects.push({ name: file.name, size, generation: file.metadata.generation === undefined ? undefined : String(file.metadata.generation) });
      if (objects.length > MAX_PREFIX_OBJECTS) {
        throw new AppError("limit_exceeded", `More than ${MAX_PREFIX_OBJECTS} objects are under file_prefix "${prefix}" in bucket "${conn.bucket}"; use a narrower prefix.`);
      }
    }
    pageToken = (next as { pageToken?: string } | null)?.pageToken;
  } while (pageToken);
  if (objects.length === 0) throw new AppError("download_failed", `There is no object under file_prefix "${prefix}" in bucket "${conn.bucket}".`);
  // GCS lists in UTF-8 byte order already; compatible stores may not.
  return objects.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
}

function tooLarge(name: string, maxBytes: number, size?: number): AppError {
  return new AppError("file_too_large", `The object "${name}" is larger than the import limit of ${maxBytes} bytes${size !== undefined ? ` (${size} bytes)` : ""}.`);
}
