/**
 * The one visible list of operation handlers. Every operation the core defines with a queue
 * trigger must have a handler here; the worker refuses to start otherwise.
 */
import { OPERATIONS } from "@transmute/core";
import type { OperationHandler } from "./context.js";
import { compress } from "./handlers/compress.js";
import { convert } from "./handlers/convert.js";
import { exportS3 } from "./handlers/export-s3.js";
import { exportSftp } from "./handlers/export-sftp.js";
import { exportUrl } from "./handlers/export-url.js";
import { extract } from "./handlers/extract.js";
import { importS3 } from "./handlers/import-s3.js";
import { importSftp } from "./handlers/import-sftp.js";
import { importUrl } from "./handlers/import-url.js";
import { importWebpage } from "./handlers/import-webpage.js";
import { merge } from "./handlers/merge.js";
import { secure } from "./handlers/secure.js";
import { AZUREBLOB_HANDLERS } from "./handlers/azureblob.js";
import { GOOGLECLOUD_HANDLERS } from "./handlers/googlecloud.js";

/** Handlers by operation name. */
export const HANDLERS: ReadonlyMap<string, OperationHandler> = new Map(
  [importUrl, importS3, importSftp, importWebpage, convert, compress, merge, extract, secure, exportUrl, exportS3, exportSftp, ...GOOGLECLOUD_HANDLERS, ...AZUREBLOB_HANDLERS].map((h) => [h.name, h]),
);

/** The queue-triggered operations that have no handler (must be empty for a worker to start). */
export function missingHandlers(): string[] {
  return [...OPERATIONS.values()].filter((op) => op.trigger === "queue" && !HANDLERS.has(op.name)).map((op) => op.name);
}
