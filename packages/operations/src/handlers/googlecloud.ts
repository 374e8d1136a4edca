/** The handlers of import/googlecloud and export/googlecloud. */
import type { OperationHandler } from "../context.js";
import { exportGooglecloud } from "./export-googlecloud.js";
import { importGooglecloud } from "./import-googlecloud.js";

export const GOOGLECLOUD_HANDLERS: OperationHandler[] = [importGooglecloud, exportGooglecloud];
