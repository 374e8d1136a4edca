/** The `putFile` both drivers share: a local file streamed into their own `put`. */
import { open, type FileHandle } from "node:fs/promises";
import { AppError } from "@transmute/core";
import type { BlobStore, PutOptions, PutResult } from "./blob-store.js";

/**
 * Streams the file at `localPath` into `put`. A copy rather than a rename or a link: the
 * scratch file stays the tool's, and the checksums need one full read anyway. A file that
 * cannot be opened is our own bug (a tool's output that is not there), hence internal_error.
 */
export async function putLocalFile(put: BlobStore["put"], key: string, localPath: string, opts: PutOptions = {}): Promise<PutResult> {
  let handle: FileHandle;
  try {
    handle = await open(localPath, "r");
  } catch (err) {
    throw new AppError("internal_error", "Internal error", { detail: `putFile cannot open ${localPath}`, cause: err });
  }
  return put(key, handle.createReadStream(), opts);
}
