/** The googlecloud connector operations (import/googlecloud, export/googlecloud). */
import type { OperationDefinition } from "./operations.js";

/** Spliced into OPERATIONS after the other connectors. */
export const GOOGLECLOUD_OPERATIONS: OperationDefinition[] = [];
