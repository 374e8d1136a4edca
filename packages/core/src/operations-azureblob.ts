/**
 * The azureblob connector operations (import/azureblob, export/azureblob): the reference's
 * fields (storage_account, container, blob or blob_prefix, storage_access_key or sas_token,
 * filename, metadata) plus `endpoint`, an http(s) URL that replaces
 * https://<storage_account>.blob.core.windows.net (sovereign clouds, Azure Stack, Azurite).
 */
import { AppError } from "./errors.js";
import { checkHttpUrl } from "./operation-checks.js";
import type { OperationDefinition } from "./operations.js";

/** Azure's cap on one blob's metadata, names and values together (bytes). */
export const AZURE_METADATA_MAX_BYTES = 8 * 1024;

const filename = { type: "string", minLength: 1, maxLength: 255 } as const;
const timeout = { type: "integer", minimum: 1 } as const;

/**
 * The connection fields. Account and container names follow Azure's naming rules, so a typo is
 * a 400 at job creation rather than a 4xx from the service later; "$root" and "$web" are
 * Azure's special containers. Blob names are up to 1024 characters.
 */
const AZURE_FIELDS = {
  storage_account: { type: "string", pattern: "^[a-z0-9]{3,24}$" },
  container: { type: "string", pattern: "^(?:\\$root|\\$web|[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9])$" },
  storage_access_key: { type: "string", minLength: 1, maxLength: 1024 },
  sas_token: { type: "string", minLength: 1, maxLength: 8192 },
  endpoint: { type: "string", minLength: 1, maxLength: 2048 },
  blob: { type: "string", minLength: 1, maxLength: 1024 },
} as const;

/** The credential fields, masked in every answer. */
const AZURE_SECRETS = ["storage_access_key", "sas_token"] as const;

/** Exactly one credential; each of the right shape (without echoing it); a valid endpoint. */
function checkAzureConnection(payload: Record<string, unknown>): void {
  const hasKey = payload.storage_access_key !== undefined;
  const hasSas = payload.sas_token !== undefined;
  if (hasKey === hasSas) {
    throw new AppError("invalid_payload", `give either "storage_access_key" (the account key) or "sas_token", not ${hasKey ? "both" : "neither"}.`);
  }
  if (hasKey && !/^[A-Za-z0-9+/]+={0,2}$/.test(String(payload.storage_access_key))) {
    throw new AppError("invalid_payload", `"storage_access_key" is not an account key (a base64 string).`);
  }
  if (hasSas) {
    const sas = String(payload.sas_token).replace(/^\?/, "");
    // A SAS is a query string whose signature is `sig`; a whole URL or a header is not one.
    if (!/^[A-Za-z0-9%._~=&+\-/:]+$/.test(sas) || !/(?:^|&)sig=/.test(sas)) {
      throw new AppError("invalid_payload", `"sas_token" is not a SAS token (a query string such as "sv=...&sig=...", without the URL).`);
    }
  }
  if (payload.endpoint !== undefined) {
    checkHttpUrl({ url: payload.endpoint }, "endpoint");
    const url = new URL(String(payload.endpoint));
    // A SAS or a password in the endpoint would bypass the masking of the credential fields.
    if (url.username || url.password || url.search || url.hash) {
      throw new AppError("invalid_payload", `"endpoint" must be a plain http(s) URL without user info, query or fragment; give the SAS in "sas_token".`);
    }
  }
}

/** import/azureblob names one blob (`blob`) or a prefix (`blob_prefix`), not both. */
function checkAzureImport(payload: Record<string, unknown>): void {
  if ((payload.blob === undefined) === (payload.blob_prefix === undefined)) {
    throw new AppError("invalid_payload", `give either "blob" (one blob) or "blob_prefix" (every blob under it), not ${payload.blob === undefined ? "neither" : "both"}.`);
  }
  checkAzureConnection(payload);
}

/**
 * export/azureblob writes to `blob` (a name or template) or under `blob_prefix` (the
 * reference's sample sends `"blob_prefix": ""` with a `filename`), not both; `filename` only
 * names the blobs under a prefix. Metadata must be what Azure stores.
 */
function checkAzureExport(payload: Record<string, unknown>): void {
  if ((payload.blob === undefined) === (payload.blob_prefix === undefined)) {
    throw new AppError("invalid_payload", `give either "blob" (the blob name or template) or "blob_prefix" (a folder for the files), not ${payload.blob === undefined ? "neither" : "both"}.`);
  }
  if (payload.blob !== undefined && payload.filename !== undefined) {
    throw new AppError("invalid_payload", `"filename" names the blobs under "blob_prefix"; with "blob" the name is "blob" itself.`);
  }
  checkAzureConnection(payload);
  if (payload.metadata !== undefined) checkAzureMetadata(payload.metadata);
}

/**
 * Azure metadata: names are C# identifiers, compared without case (two names differing only
 * in case are one header); values are header text (printable ASCII, no leading or trailing
 * space, which Azure would drop); all together at most 8 KiB.
 */
export function checkAzureMetadata(metadata: unknown): void {
  if (!metadata || typeof metadata !== "object" || Array.isArray(metadata)) {
    throw new AppError("invalid_payload", `"metadata" must be an object of string values.`);
  }
  const seen = new Set<string>();
  let bytes = 0;
  for (const [name, value] of Object.entries(metadata as Record<string, unknown>)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,255}$/.test(name)) {
      throw new AppError("invalid_payload", `"metadata" name "${name.slice(0, 64)}" is not a valid Azure metadata name (letters, digits and "_", not starting with a digit).`);
    }
    if (seen.has(name.toLowerCase())) throw new AppError("invalid_payload", `"metadata" names "${name}" twice (Azure metadata names ignore case).`);
    seen.add(name.toLowerCase());
    if (typeof value !== "string") throw new AppError("invalid_payload", `"metadata.${name}" must be a string.`);
    if (!/^[\x20-\x7e]*$/.test(value) || value !== value.trim()) {
      throw new AppError("invalid_payload", `"metadata.${name}" must be printable ASCII text without leading or trailing spaces.`);
    }
    bytes += name.length + value.length;
  }
  if (bytes > AZURE_METADATA_MAX_BYTES) {
    throw new AppError("invalid_payload", `"metadata" is ${bytes} bytes; Azure takes at most ${AZURE_METADATA_MAX_BYTES} bytes of names and values together.`);
  }
}

/** Spliced into OPERATIONS after the other connectors. */
export const AZUREBLOB_OPERATIONS: OperationDefinition[] = [
  {
    name: "import/azureblob",
    summary: "Download one blob, or every blob under blob_prefix, from an Azure Blob Storage container (account key or SAS token).",
    minInputs: 0,
    maxInputs: 0,
    runsOnSurvivors: false,
    trigger: "queue",
    payloadSchema: {
      type: "object",
      required: ["storage_account", "container"],
      properties: { ...AZURE_FIELDS, blob_prefix: { type: "string", minLength: 1, maxLength: 1024 }, filename, timeout },
    },
    secretFields: AZURE_SECRETS,
    largeFields: [],
    check: checkAzureImport,
  },
  {
    name: "export/azureblob",
    summary: "Upload the input files to an Azure Blob Storage container (account key or SAS token), streamed in blocks, with optional metadata.",
    minInputs: 1,
    maxInputs: null,
    runsOnSurvivors: true,
    trigger: "queue",
    payloadSchema: {
      type: "object",
      required: ["storage_account", "container"],
      properties: {
        ...AZURE_FIELDS,
        // May be "": the container's root (the reference's sample sends that).
        blob_prefix: { type: "string", maxLength: 1024 },
        filename,
        metadata: { type: "object", additionalProperties: { type: "string" } },
        timeout,
      },
    },
    secretFields: AZURE_SECRETS,
    largeFields: [],
    check: checkAzureExport,
  },
];
