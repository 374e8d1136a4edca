/** The googlecloud connector operations (import/googlecloud, export/googlecloud). */
import { AppError } from "./errors.js";
import { checkHttpUrl } from "./operation-checks.js";
import type { OperationDefinition } from "./operations.js";

/**
 * The connection fields of the Google Cloud Storage operations: the reference's (a service
 * account's project_id, client_email and private_key, and the bucket), plus `endpoint` (a
 * GCS-compatible store instead of https://storage.googleapis.com) and `token_uri` (the OAuth
 * token endpoint, as in a service-account key file; default https://oauth2.googleapis.com/token).
 * The endpoint never moves the token endpoint: a store that takes Google's tokens keeps the
 * default, and a stand-in or private deployment names its own token_uri.
 */
const GCS_FIELDS = {
  project_id: { type: "string", minLength: 1, maxLength: 128 },
  // Bucket names are 3-63 characters, or up to 222 with dots (domain-named buckets).
  bucket: { type: "string", minLength: 3, maxLength: 222 },
  client_email: { type: "string", minLength: 3, maxLength: 320 },
  private_key: { type: "string", minLength: 1, maxLength: 16384 },
  endpoint: { type: "string", minLength: 1, maxLength: 2048 },
  token_uri: { type: "string", minLength: 1, maxLength: 2048 },
} as const;

/** Object names are at most 1024 bytes of UTF-8 in GCS. */
const objectName = { type: "string", minLength: 1, maxLength: 1024 } as const;
const filename = { type: "string", minLength: 1, maxLength: 255 } as const;
const timeout = { type: "integer", minimum: 1 } as const;

/** `endpoint` and `token_uri`, when given, are http(s) URLs; the key looks like a PEM private key. */
function checkGcsConnection(payload: Record<string, unknown>): void {
  for (const field of ["endpoint", "token_uri"]) {
    if (payload[field] !== undefined) checkHttpUrl({ url: payload[field] }, field);
  }
  // Caught here rather than as a signing failure in the worker. The key itself is never quoted.
  if (!/-----BEGIN (RSA )?PRIVATE KEY-----/.test(String(payload.private_key))) {
    throw new AppError("invalid_payload", `"private_key" must be the PEM private key of the service account ("-----BEGIN PRIVATE KEY-----...", as in its JSON key file).`);
  }
}

/** import/googlecloud names one object (`file`) or a prefix (`file_prefix`), not both. */
function checkGcsImport(payload: Record<string, unknown>): void {
  if ((payload.file === undefined) === (payload.file_prefix === undefined)) {
    throw new AppError("invalid_payload", `give either "file" (one object) or "file_prefix" (every object under it), not ${payload.file === undefined ? "neither" : "both"}.`);
  }
  checkGcsConnection(payload);
}

/** Spliced into OPERATIONS after the other connectors. */
export const GOOGLECLOUD_OPERATIONS: OperationDefinition[] = [
  {
    name: "import/googlecloud",
    summary: "Download one object, or every object under file_prefix, from a Google Cloud Storage bucket with a service account (or from a GCS-compatible store at endpoint).",
    minInputs: 0,
    maxInputs: 0,
    runsOnSurvivors: false,
    trigger: "queue",
    payloadSchema: {
      type: "object",
      required: ["project_id", "bucket", "client_email", "private_key"],
      properties: { ...GCS_FIELDS, file: objectName, file_prefix: objectName, filename, timeout },
    },
    secretFields: ["private_key"],
    largeFields: [],
    check: checkGcsImport,
  },
  {
    name: "export/googlecloud",
    summary: "Upload the input files to a Google Cloud Storage bucket with a service account (or to a GCS-compatible store at endpoint), streamed, as resumable uploads in chunks.",
    minInputs: 1,
    maxInputs: null,
    runsOnSurvivors: true,
    trigger: "queue",
    payloadSchema: {
      type: "object",
      required: ["project_id", "bucket", "client_email", "private_key", "file"],
      properties: { ...GCS_FIELDS, file: objectName, timeout },
    },
    secretFields: ["private_key"],
    largeFields: [],
    check: checkGcsConnection,
  },
];
