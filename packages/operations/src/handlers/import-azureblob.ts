/**
 * import/azureblob: downloads one blob (`blob`) or every blob under `blob_prefix`, streamed into
 * the task's outputs, under the outbound policy and the import byte and time limits.
 */
import type { Readable } from "node:stream";
import { AppError, sanitizeFilename } from "@transmute/core";
import type { OperationContext, OperationHandler } from "../context.js";
import { azureConnectionOf, createAzureSession, toAzureAppError, type AzureConnection, type AzureSession } from "../azure-client.js";
import { MAX_PREFIX_OBJECTS, startImportDeadline } from "../import-deadline.js";
import { nameOfObjectKey } from "../names.js";

/** Re-requests of the rest of a blob after its download stream broke (the SDK's default is 5). */
const DOWNLOAD_RESUMES = 2;

export const importAzureBlob: OperationHandler = {
  name: "import/azureblob",
  async run(ctx) {
    const conn = azureConnectionOf(ctx.task.payload);
    const payload = ctx.task.payload;
    const deadline = startImportDeadline(ctx);
    const session = createAzureSession(conn, ctx.outbound, deadline.signal);
    let blob: string | undefined;
    try {
      if (typeof payload.blob === "string") {
        blob = payload.blob;
        const given = typeof payload.filename === "string" ? sanitizeFilename(payload.filename) : "";
        await download(ctx, session, blob, given || nameOfObjectKey(blob));
        return { result: { container: conn.container, blobs: [blob] } };
      }
      const prefix = String(payload.blob_prefix);
      const blobs = await listPrefix(session, conn, prefix, ctx.limits.importUrlMaxBytes);
      for (const [i, name] of blobs.entries()) {
        blob = name;
        await download(ctx, session, name, nameOfObjectKey(name));
        ctx.progress(((i + 1) / blobs.length) * 100);
      }
      return { result: { container: conn.container, blobs } };
    } catch (err) {
      throw deadline.failure(err, "Azure download", (e) => toAzureAppError(e, { direction: "import", conn, ...(blob !== undefined ? { blob } : {}), signal: ctx.signal }));
    } finally {
      deadline.clear();
      session.close();
    }
  },
};

/** Streams one blob into the task's outputs; a size over the cap fails before any byte. */
async function download(ctx: OperationContext, session: AzureSession, blob: string, name: string): Promise<void> {
  const res = await session.container.getBlobClient(blob).download(0, undefined, {
    abortSignal: session.signal,
    maxRetryRequests: DOWNLOAD_RESUMES,
  });
  const body = res.readableStreamBody as Readable | undefined;
  if (!body) throw new AppError("download_failed", `Azure Storage sent no content for blob "${blob}".`);
  try {
    const max = ctx.limits.importUrlMaxBytes;
    if (res.contentLength !== undefined && res.contentLength > max) {
      throw new AppError("payload_too_large", `The blob "${blob}" is larger than the limit of ${max} bytes.`);
    }
    await ctx.output.addStream(body, name, { maxBytes: max, signal: session.signal });
  } finally {
    body.destroy();
  }
}

/** Every blob name under `prefix`, in name order; "folder" markers (names ending in "/") are skipped. */
async function listPrefix(session: AzureSession, conn: AzureConnection, prefix: string, maxBytes: number): Promise<string[]> {
  const blobs: string[] = [];
  for await (const page of session.container.listBlobsFlat({ prefix, abortSignal: session.signal }).byPage({ maxPageSize: 1000 })) {
    for (const item of page.segment.blobItems) {
      if (item.name.endsWith("/")) continue;
      const size = item.properties.contentLength;
      if (size !== undefined && size > maxBytes) {
        throw new AppError("payload_too_large", `The blob "${item.name}" is larger than the limit of ${maxBytes} bytes.`);
      }
      blobs.push(item.name);
      if (blobs.length > MAX_PREFIX_OBJECTS) {
        throw new AppError("limit_exceeded", `More than ${MAX_PREFIX_OBJECTS} blobs are under blob_prefix "${prefix}" in container "${conn.container}"; use a narrower prefix.`);
      }
    }
  }
  if (blobs.length === 0) throw new AppError("download_failed", `There is no blob under blob_prefix "${prefix}" in container "${conn.container}".`);
  // The service lists in name order already; make it certain (UTF-8 byte order).
  return blobs.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}
