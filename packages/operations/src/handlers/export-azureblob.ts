/**
 * export/azureblob: uploads each input file, streamed from storage, to a block blob in staged
 * blocks (at most BLOCK_SIZE x MAX_BUFFERS bytes in memory per upload), with the file's content
 * type and the task's metadata. The result's `blobs` lists each blob written with its size,
 * ETag and number of blocks, never a credential.
 */
import { AppError, sanitizeFilename } from "@transmute/core";
import type { OperationHandler } from "../context.js";
import { azureConnectionOf, createAzureSession, toAzureAppError } from "../azure-client.js";
import { objectKeys } from "./export-s3.js";

/** Bytes of one staged block; every file is sent as blocks then committed (uploadStream). */
export const BLOCK_SIZE = 8 * 1024 * 1024;
/** Blocks buffered at once (the SDK sends up to ceil(3/4 of this) in parallel). */
const MAX_BUFFERS = 2;

/** One blob written. */
export interface ExportedBlob {
  blob: string;
  size: number;
  etag: string | null;
  /** Blocks it was staged in (0 for an empty file: an empty block list is committed). */
  blocks: number;
}

export const exportAzureBlob: OperationHandler = {
  name: "export/azureblob",
  async run(ctx) {
    if (ctx.inputs.length === 0) throw new AppError("no_input", "The input tasks produced no file to export.");
    const payload = ctx.task.payload;
    const conn = azureConnectionOf(payload);
    const names = blobNames(payload, ctx.inputs.map((input) => input.name));
    const metadata = (payload.metadata ?? undefined) as Record<string, string> | undefined;
    const total = ctx.inputs.reduce((sum, input) => sum + input.size, 0);
    const session = createAzureSession(conn, ctx.outbound, ctx.signal);
    const blobs: ExportedBlob[] = [];
    let sentBefore = 0;
    let blob: string | undefined;
    try {
      for (const [i, input] of ctx.inputs.entries()) {
        blob = names[i]!;
        const body = await ctx.storage.get(input.storageKey);
        // uploadStream's block uploads take no abort signal: a stop ends the source (and the
        // session closes the sockets), so nothing is committed.
        const stop = () => body.destroy(new Error("The upload was stopped."));
        session.signal.addEventListener("abort", stop, { once: true });
        try {
          const out = await session.container.getBlockBlobClient(blob).uploadStream(body, BLOCK_SIZE, MAX_BUFFERS, {
            blobHTTPHeaders: { blobContentType: input.contentType },
            ...(metadata ? { metadata } : {}),
            abortSignal: session.signal,
            onProgress: (p) => {
              if (total > 0) ctx.progress(((sentBefore + p.loadedBytes) / total) * 100);
            },
          });
          blobs.push({ blob, size: input.size, etag: out.etag ? out.etag.replace(/"/g, "") : null, blocks: Math.ceil(input.size / BLOCK_SIZE) });
        } finally {
          session.signal.removeEventListener("abort", stop);
          body.destroy();
        }
        sentBefore += input.size;
      }
      // Not `files`: the task view fills that with the task's own stored files (none here).
      return { result: { container: conn.container, blobs } };
    } catch (err) {
      throw toAzureAppError(err, { direction: "export", conn, ...(blob !== undefined ? { blob } : {}), signal: ctx.signal });
    } finally {
      session.close();
    }
  },
};

/**
 * The blob name of each file. `blob` follows export/s3's `key` rules (a "{filename}"/"{n}"
 * template, a folder when it ends in "/", else numbered "name-2.ext" after the first file);
 * `blob_prefix` ("" is the container's root) takes each file's own name, or `filename`
 * numbered the same way.
 */
export function blobNames(payload: Record<string, unknown>, names: string[]): string[] {
  if (typeof payload.blob === "string") return objectKeys(payload.blob, names);
  const prefix = String(payload.blob_prefix ?? "");
  const filename = typeof payload.filename === "string" ? sanitizeFilename(payload.filename) : "";
  if (filename) return objectKeys(prefix + filename, names);
  // The folder rule of objectKeys with "{" and "}" in a prefix taken literally.
  return objectKeys("p/", names).map((key) => prefix + key.slice(2));
}
