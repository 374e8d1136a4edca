/** The handlers of import/azureblob and export/azureblob. */
import type { OperationHandler } from "../context.js";
import { exportAzureBlob } from "./export-azureblob.js";
import { importAzureBlob } from "./import-azureblob.js";

export const AZUREBLOB_HANDLERS: OperationHandler[] = [importAzureBlob, exportAzureBlob];
