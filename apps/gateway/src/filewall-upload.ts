/**
 * Receives a Filewall upload: the raw request body (no multipart), streamed to storage under the
 * size limit. Over the limit, the partial object is removed by the store, the rest of the body is
 * discarded (bounded) so the 413 reaches the client, and the connection is closed after it.
 */
import { PassThrough, type Readable } from "node:stream";
import { AppError } from "@transmute/core";
import type { BlobStore, PutResult } from "@transmute/storage";

/** Bytes read and thrown away after a refused upload before the connection is cut instead. */
const DISCARD_MAX_BYTES = 64 * 1024 * 1024;
/** Time spent discarding after a refused upload before the connection is cut instead. */
const DISCARD_MAX_MS = 15_000;

/** Streams `body` (the request's) into `key`; throws payload_too_large past `maxBytes`. */
export async function receiveRawUpload(store: BlobStore, body: Readable, key: string, maxBytes: number): Promise<PutResult> {
  // A pass-through between the request and the store: the store destroys its source on failure,
  // which must not destroy the request (its socket still has to carry the error answer).
  const pass = new PassThrough();
  const onClose = () => {
    if (!body.readableEnded) pass.destroy(new AppError("invalid_request", "The upload was interrupted."));
  };
  body.on("close", onClose);
  body.pipe(pass);
  try {
    return await store.put(key, pass, { maxBytes });
  } catch (err) {
    body.unpipe(pass);
    discardRest(body);
    throw err;
  } finally {
    body.off("close", onClose);
  }
}

/** Reads and drops what is left of a body, within bounds; past them the socket is destroyed. */
function discardRest(body: Readable): void {
  if (body.readableEnded || body.destroyed) return;
  let seen = 0;
  const cut = () => body.destroy();
  const timer = setTimeout(cut, DISCARD_MAX_MS);
  timer.unref();
  body.on("data", (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > DISCARD_MAX_BYTES) cut();
  });
  body.once("close", () => clearTimeout(timer));
  body.resume();
}
