/** The handlers of import/googlecloud and export/googlecloud. */
import type { OperationHandler } from "../context.js";

export const GOOGLECLOUD_HANDLERS: OperationHandler[] = [];
