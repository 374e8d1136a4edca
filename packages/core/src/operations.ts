/**
 * Operation definitions: the single source for payload validation at job creation and again in
 * the worker, for which engine class runs a task, for the options endpoint and for the docs.
 * Handlers live beside the worker (packages/operations); a definition without a handler makes
 * the worker refuse to start.
 */
import { Ajv, type ValidateFunction } from "ajv";
import { AppError } from "./errors.js";
import { findFormat, normalizeFormat } from "./formats.js";
import { parseImageOptions } from "./image-options.js";
import { parsePdfOptions } from "./pdf-options.js";
import { parseMediaOptions } from "./media-options.js";
import { parseBrowserOptions } from "./browser-options.js";
import { parseSecureOptions } from "./secure-options.js";
import { COMPRESSIBLE_IMAGES, parseCompressOptions } from "./compress-options.js";
import { MERGE_OUTPUTS, parseMergeOptions } from "./merge-options.js";
import { checkHttpUrl } from "./operation-checks.js";
import { AZUREBLOB_OPERATIONS } from "./operations-azureblob.js";
import { GOOGLECLOUD_OPERATIONS } from "./operations-googlecloud.js";

/**
 * The engine class whose queue a task goes to; `io` is served by every worker. `image` is sharp,
 * `pdf` pdf-lib (assembling and splitting PDFs), `ghostscript` the gs tool (PDF compression),
 * `poppler` pdftoppm/pdftotext (PDF pages to images and text), `office` LibreOffice, `media`
 * ffmpeg, `browser` Chromium (web pages, HTML and Markdown), `archive` zip/tar/7z, `secure` the
 * disarm-and-rebuild of `secure` (sharp, poppler, LibreOffice, the archive guards together).
 * Each is served only by workers where its tools were found.
 */
export type EngineClass = "io" | "image" | "pdf" | "ghostscript" | "poppler" | "office" | "media" | "browser" | "archive" | "secure";

/** Every engine class, `io` first. */
export const ENGINE_CLASSES: readonly EngineClass[] = ["io", "image", "pdf", "ghostscript", "poppler", "office", "media", "browser", "archive", "secure"];

/** Everything the job engine and the gateway know about an operation. */
export interface OperationDefinition {
  name: string;
  summary: string;
  /** Fewest and most inputs (null: no upper bound). Imports take none. */
  minInputs: number;
  maxInputs: number | null;
  /** Whether the operation can run on the inputs that remain when some failed (ignore_error). */
  runsOnSurvivors: boolean;
  /** `external`: completed by an event outside the queue (an upload arriving), never enqueued. */
  trigger: "queue" | "external";
  /** JSON schema of the payload (the task fields other than operation, input, ignore_error). */
  payloadSchema: Record<string, unknown>;
  /**
   * Fields never echoed in responses, logs or events (credentials), as paths: `password` or
   * `options.password`. Their values are kept apart from the payload for the worker only.
   */
  secretFields: readonly string[];
  /** Fields too large to keep in the payload: moved to storage by the gateway, then dropped. */
  largeFields: readonly string[];
  /** Extra checks the schema cannot express; throws AppError. */
  check?(payload: Record<string, unknown>): void;
}

/** The operations whose engine class depends on the input's format: routed through CONVERSION_TABLE. */
export type FormatOperation = "convert" | "compress" | "merge" | "extract" | "secure";

const RASTER_IMAGES = ["jpg", "png", "webp", "avif", "gif", "tiff", "svg", "heic"] as const;
/** Video formats ffmpeg reads and writes (gif as a silent video). */
export const VIDEO_FORMATS = ["mp4", "webm", "mov", "mkv", "avi", "gif"] as const;
/** Audio formats ffmpeg reads and writes. */
export const AUDIO_FORMATS = ["mp3", "wav", "ogg", "flac", "aac", "m4a", "opus"] as const;
/** Archive formats read and written (tgz is tar.gz). */
export const ARCHIVE_FORMATS = ["zip", "tar", "tgz", "7z"] as const;
const TEXT_DOCUMENTS = ["doc", "docx", "odt", "rtf", "txt", "html"] as const;
/**
 * What `secure` takes, by the format its bytes show: images rebuilt from pixels, PDFs and office
 * documents rebuilt as PDFs of page images, archives member by member.
 */
export const SECURE_FORMATS = [
  "jpg", "png", "gif", "webp", "tiff", "avif", "svg",
  "pdf",
  "doc", "docx", "odt", "rtf", "txt", "xls", "xlsx", "ods", "csv", "ppt", "pptx", "odp",
  "zip", "tar", "tgz",
] as const;
const SPREADSHEETS = ["xls", "xlsx", "ods", "csv"] as const;
const PRESENTATIONS = ["ppt", "pptx", "odp"] as const;

/**
 * Which engine class does what from which input formats to which outputs, per operation.
 * compress and extract keep the format (from x to x); merge takes every input `from` into one
 * `to`. Where two rows cover a pair, the earlier row's engine is preferred and the later one
 * takes the task when no live worker runs the earlier (html -> pdf: Chromium, else LibreOffice).
 */
export const CONVERSION_TABLE: ReadonlyArray<{ operation: FormatOperation; engineClass: EngineClass; from: readonly string[]; to: readonly string[] }> = [
  { operation: "convert", engineClass: "image", from: RASTER_IMAGES, to: ["jpg", "png", "webp", "avif", "gif", "tiff"] },
  // Images into a one-page-per-image PDF; pdf -> pdf splits by page ranges.
  { operation: "convert", engineClass: "pdf", from: [...RASTER_IMAGES, "pdf"], to: ["pdf"] },
  { operation: "convert", engineClass: "poppler", from: ["pdf"], to: ["png", "jpg", "webp", "txt"] },
  { operation: "convert", engineClass: "browser", from: ["mhtml", "html", "md"], to: ["png", "jpg", "pdf"] },
  { operation: "convert", engineClass: "office", from: TEXT_DOCUMENTS, to: ["pdf", "docx", "odt"] },
  { operation: "convert", engineClass: "office", from: SPREADSHEETS, to: ["pdf", "xlsx", "ods", "csv"] },
  { operation: "convert", engineClass: "office", from: PRESENTATIONS, to: ["pdf", "pptx", "odp"] },
  { operation: "convert", engineClass: "media", from: VIDEO_FORMATS, to: [...VIDEO_FORMATS, ...AUDIO_FORMATS] },
  { operation: "convert", engineClass: "media", from: AUDIO_FORMATS, to: AUDIO_FORMATS },
  { operation: "convert", engineClass: "archive", from: ARCHIVE_FORMATS, to: ARCHIVE_FORMATS },
  { operation: "compress", engineClass: "image", from: COMPRESSIBLE_IMAGES, to: COMPRESSIBLE_IMAGES },
  { operation: "compress", engineClass: "ghostscript", from: ["pdf"], to: ["pdf"] },
  { operation: "compress", engineClass: "media", from: [...VIDEO_FORMATS.filter((f) => f !== "gif"), ...AUDIO_FORMATS], to: [...VIDEO_FORMATS.filter((f) => f !== "gif"), ...AUDIO_FORMATS] },
  { operation: "extract", engineClass: "archive", from: ARCHIVE_FORMATS, to: ARCHIVE_FORMATS },
  { operation: "secure", engineClass: "secure", from: SECURE_FORMATS, to: SECURE_FORMATS },
  { operation: "merge", engineClass: "pdf", from: ["jpg", "png", "webp", "avif", "gif", "tiff", "svg", "heic", "pdf"], to: ["pdf"] },
  { operation: "merge", engineClass: "image", from: ["jpg", "png", "webp", "avif", "gif", "tiff", "svg", "heic"], to: ["gif"] },
];

/** Every output format some engine can produce for `operation` (default convert). */
export function producibleFormats(operation: FormatOperation = "convert"): Set<string> {
  return new Set(CONVERSION_TABLE.filter((row) => row.operation === operation).flatMap((row) => row.to));
}

/** The input formats `operation` takes into `to` by the table (merge: each input; compress: to = from). */
export function acceptedFormats(operation: FormatOperation, to: string): string[] {
  const b = normalizeFormat(to);
  return [...new Set(CONVERSION_TABLE.filter((r) => r.operation === operation && r.to.includes(b)).flatMap((r) => r.from))];
}

/** The engine class that does `operation` (default convert) from `from` to `to`, or null when none does. */
export function engineClassForConversion(from: string, to: string, operation: FormatOperation = "convert"): EngineClass | null {
  return engineClassesForConversion(from, to, operation)[0] ?? null;
}

/** Every engine class that does `operation` from `from` to `to`, most preferred first. */
export function engineClassesForConversion(from: string, to: string, operation: FormatOperation = "convert"): EngineClass[] {
  const a = normalizeFormat(from);
  const b = normalizeFormat(to);
  const rows = CONVERSION_TABLE.filter((r) => r.operation === operation && r.from.includes(a) && r.to.includes(b));
  return [...new Set(rows.map((r) => r.engineClass))];
}

const filename = { type: "string", minLength: 1, maxLength: 255 } as const;

/** The connection fields of the S3 operations (the reference's, plus session_token). */
const S3_FIELDS = {
  bucket: { type: "string", minLength: 3, maxLength: 255 },
  region: { type: "string", minLength: 1, maxLength: 64 },
  access_key_id: { type: "string", minLength: 1, maxLength: 256 },
  secret_access_key: { type: "string", minLength: 1, maxLength: 1024 },
  session_token: { type: "string", minLength: 1, maxLength: 8192 },
  endpoint: { type: "string", minLength: 1, maxLength: 2048 },
} as const;

/** The connection fields of the SFTP operations (the reference's, plus a passphrase for an encrypted key). */
const SFTP_FIELDS = {
  host: { type: "string", minLength: 1, maxLength: 253 },
  // The reference's table says "string" for the port, its samples send a number: both are taken.
  port: { anyOf: [{ type: "integer", minimum: 1, maximum: 65535 }, { type: "string", pattern: "^[0-9]{1,5}$" }] },
  username: { type: "string", minLength: 1, maxLength: 256 },
  password: { type: "string", minLength: 1, maxLength: 1024 },
  private_key: { type: "string", minLength: 1, maxLength: 65536 },
  passphrase: { type: "string", minLength: 1, maxLength: 1024 },
  file_string: { type: "string", minLength: 1, maxLength: 4096 },
} as const;

/** import/s3 names one object (`key`) or a prefix (`key_prefix`), not both; `endpoint` is an http(s) URL. */
function checkS3Import(payload: Record<string, unknown>): void {
  if ((payload.key === undefined) === (payload.key_prefix === undefined)) {
    throw new AppError("invalid_payload", `give either "key" (one object) or "key_prefix" (every object under it), not ${payload.key === undefined ? "neither" : "both"}.`);
  }
  checkS3Endpoint(payload);
}

function checkS3Endpoint(payload: Record<string, unknown>): void {
  if (payload.endpoint === undefined) {
    if (payload.region === undefined) throw new AppError("invalid_payload", `"region" is required when no "endpoint" is given.`);
    return;
  }
  checkHttpUrl({ url: payload.endpoint }, "endpoint");
}

/** SFTP takes a password or a private key (or both); a port given as text must be a port. */
function checkSftpCredentials(payload: Record<string, unknown>): void {
  if (payload.password === undefined && payload.private_key === undefined) {
    throw new AppError("invalid_payload", `give "password" or "private_key".`);
  }
  const port = Number(payload.port ?? 22);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new AppError("invalid_payload", `"port" must be from 1 to 65535.`);
}

const timeout = { type: "integer", minimum: 1 } as const;

/** The operations this build knows, by name. */
export const OPERATIONS: ReadonlyMap<string, OperationDefinition> = new Map(
  (
    [
      {
        name: "import/upload",
        summary: "Receive one file through a signed upload form.",
        minInputs: 0,
        maxInputs: 0,
        runsOnSurvivors: false,
        trigger: "external",
        payloadSchema: { type: "object", properties: { redirect: { type: "string", format: "uri", maxLength: 2048 } } },
        secretFields: [],
        largeFields: [],
      },
      {
        name: "import/url",
        summary: "Download a file from a URL (under the outbound policy).",
        minInputs: 0,
        maxInputs: 0,
        runsOnSurvivors: false,
        trigger: "queue",
        payloadSchema: {
          type: "object",
          required: ["url"],
          properties: { url: { type: "string", minLength: 1, maxLength: 8192 }, filename, timeout },
        },
        secretFields: [],
        largeFields: [],
        check: checkHttpUrl,
      },
      {
        name: "import/base64",
        summary: "Import a file sent as a base64 string.",
        minInputs: 0,
        maxInputs: 0,
        runsOnSurvivors: false,
        trigger: "external",
        payloadSchema: {
          type: "object",
          required: ["file", "filename"],
          properties: { file: { type: "string" }, filename },
        },
        secretFields: [],
        largeFields: ["file"],
      },
      {
        name: "convert",
        summary: "Convert one file to another format.",
        minInputs: 1,
        maxInputs: 1,
        runsOnSurvivors: false,
        trigger: "queue",
        payloadSchema: {
          type: "object",
          required: ["output_format"],
          properties: {
            input_format: { type: "string", minLength: 1, maxLength: 16 },
            output_format: { type: "string", minLength: 1, maxLength: 16 },
            options: { type: "object" },
            filename,
            timeout,
          },
        },
        secretFields: ["options.password"],
        largeFields: [],
        check(payload) {
          const target = normalizeFormat(String(payload.output_format));
          if (!producibleFormats().has(target)) {
            const known = [...producibleFormats()].sort().join(", ");
            throw new AppError("invalid_payload", `output_format "${String(payload.output_format)}" is not produced by any engine; valid values: ${known}.`);
          }
          // Options of a wrong type are the caller's mistake, known before any byte is read.
          const declared = typeof payload.input_format === "string" ? normalizeFormat(payload.input_format) : null;
          checkConvertOptions(declared, target, payload.options);
        },
      },
      {
        name: "compress",
        summary: "Make one image, PDF, audio or video file smaller in its own format.",
        minInputs: 1,
        maxInputs: 1,
        runsOnSurvivors: false,
        trigger: "queue",
        payloadSchema: {
          type: "object",
          properties: {
            input_format: { type: "string", minLength: 1, maxLength: 16 },
            // The reference's sample sends one; compress never changes the format (see the docs).
            output_format: { type: "string", minLength: 1, maxLength: 16 },
            options: { type: "object" },
            filename,
            timeout,
          },
        },
        secretFields: ["options.password"],
        largeFields: [],
        check(payload) {
          const declared = typeof payload.input_format === "string" ? normalizeFormat(payload.input_format) : undefined;
          parseCompressOptions(payload.options, declared === undefined ? {} : { format: declared });
        },
      },
      {
        name: "merge",
        summary: "Merge two or more images and PDFs into one PDF, or images into one animated GIF, in input order.",
        minInputs: 2,
        maxInputs: null,
        runsOnSurvivors: true,
        trigger: "queue",
        payloadSchema: {
          type: "object",
          required: ["output_format"],
          properties: {
            output_format: { type: "string", minLength: 1, maxLength: 16 },
            options: { type: "object" },
            filename,
            timeout,
          },
        },
        secretFields: ["options.password"],
        largeFields: [],
        check(payload) {
          const target = normalizeFormat(String(payload.output_format));
          if (!(MERGE_OUTPUTS as readonly string[]).includes(target)) {
            throw new AppError("invalid_payload", `output_format "${String(payload.output_format)}" is not one merge produces; valid values: ${MERGE_OUTPUTS.join(", ")}.`);
          }
          parseMergeOptions(payload.options, target);
        },
      },
      {
        name: "import/s3",
        summary: "Download one object, or every object under key_prefix, from an S3 bucket (AWS or any S3-compatible store at endpoint).",
        minInputs: 0,
        maxInputs: 0,
        runsOnSurvivors: false,
        trigger: "queue",
        payloadSchema: {
          type: "object",
          required: ["bucket", "access_key_id", "secret_access_key"],
          properties: { ...S3_FIELDS, key: { type: "string", minLength: 1, maxLength: 1024 }, key_prefix: { type: "string", minLength: 1, maxLength: 1024 }, filename, timeout },
        },
        secretFields: ["access_key_id", "secret_access_key", "session_token"],
        largeFields: [],
        check: checkS3Import,
      },
      {
        name: "import/sftp",
        summary: "Download one file from an SFTP server (password or private key; host keys per the operator's policy).",
        minInputs: 0,
        maxInputs: 0,
        runsOnSurvivors: false,
        trigger: "queue",
        payloadSchema: { type: "object", required: ["host", "username", "file_string"], properties: { ...SFTP_FIELDS, filename, timeout } },
        secretFields: ["password", "private_key", "passphrase"],
        largeFields: [],
        check: checkSftpCredentials,
      },
      {
        name: "import/webpage",
        summary: "Capture a web page, with its images, styles and frames, as one self-contained MHTML snapshot (headless Chromium, under the outbound policy).",
        minInputs: 0,
        maxInputs: 0,
        runsOnSurvivors: false,
        trigger: "queue",
        payloadSchema: {
          type: "object",
          required: ["url"],
          properties: {
            url: { type: "string", minLength: 1, maxLength: 8192 },
            filename,
            timeout,
            viewport_width: { type: "integer", minimum: 16, maximum: 8192 },
            viewport_height: { type: "integer", minimum: 16, maximum: 8192 },
            wait_time: { type: "integer", minimum: 0, maximum: 60000 },
          },
        },
        secretFields: [],
        largeFields: [],
        check: checkHttpUrl,
      },
      {
        name: "extract",
        summary: "Unpack an archive (zip, tar, tar.gz, 7z) into its files, under the archive guards.",
        minInputs: 1,
        maxInputs: 1,
        runsOnSurvivors: false,
        trigger: "queue",
        payloadSchema: {
          type: "object",
          properties: { input_format: { type: "string", minLength: 1, maxLength: 16 }, options: { type: "object" }, timeout },
        },
        secretFields: ["options.password"],
        largeFields: [],
      },
      {
        name: "secure",
        summary: "Disarm and rebuild one file (content disarm and reconstruction): images re-encoded from pixels, PDFs and office documents rebuilt from page images, archives member by member. Fails closed: nothing of an input that cannot be rebuilt is ever served.",
        minInputs: 1,
        maxInputs: 1,
        runsOnSurvivors: false,
        trigger: "queue",
        payloadSchema: {
          type: "object",
          properties: { options: { type: "object" }, filename, timeout },
        },
        secretFields: [],
        largeFields: [],
        check(payload) {
          parseSecureOptions(payload.options);
        },
      },
      {
        name: "export/s3",
        summary: "Upload the input files to an S3 bucket (AWS or any S3-compatible store at endpoint), streamed, multipart for large files.",
        minInputs: 1,
        maxInputs: null,
        runsOnSurvivors: true,
        trigger: "queue",
        payloadSchema: {
          type: "object",
          required: ["bucket", "access_key_id", "secret_access_key", "key"],
          properties: {
            ...S3_FIELDS,
            key: { type: "string", minLength: 1, maxLength: 1024 },
            acl: { enum: ["private", "public-read", "public-read-write", "authenticated-read", "aws-exec-read", "bucket-owner-read", "bucket-owner-full-control"] },
            timeout,
          },
        },
        secretFields: ["access_key_id", "secret_access_key", "session_token"],
        largeFields: [],
        check: checkS3Endpoint,
      },
      {
        name: "export/sftp",
        summary: "Upload the input files to an SFTP server (password or private key; host keys per the operator's policy).",
        minInputs: 1,
        maxInputs: null,
        runsOnSurvivors: true,
        trigger: "queue",
        payloadSchema: { type: "object", required: ["host", "username", "file_string"], properties: { ...SFTP_FIELDS, timeout } },
        secretFields: ["password", "private_key", "passphrase"],
        largeFields: [],
        check: checkSftpCredentials,
      },
      {
        name: "export/url",
        summary: "Publish the input files at signed temporary download links.",
        minInputs: 1,
        maxInputs: null,
        runsOnSurvivors: true,
        trigger: "queue",
        payloadSchema: {
          type: "object",
          properties: { filename, archive_multiple_files: { type: "boolean" } },
        },
        secretFields: [],
        largeFields: [],
      },
      ...GOOGLECLOUD_OPERATIONS,
      ...AZUREBLOB_OPERATIONS,
    ] satisfies OperationDefinition[]
  ).map((op) => [op.name, op] as const),
);

/**
 * Checks convert's options against the table of the engine that will run it: known from a
 * declared input_format, else guessed from the output's family (the input's format is known
 * only once its bytes are read; the engine checks again then). Unknown names are ignored here,
 * as the engines list them in the task's result.
 */
function checkConvertOptions(from: string | null, to: string, options: unknown): void {
  const engine = from ? engineClassForConversion(from, to) : null;
  const family = findFormat(to)?.family;
  switch (engine) {
    case "pdf":
    case "poppler":
      parsePdfOptions(options, { inputFormat: from!, outputFormat: to });
      return;
    case "media":
      parseMediaOptions(options, { outputFormat: to });
      return;
    case "browser":
      parseBrowserOptions(options, to);
      return;
    case "image":
      parseImageOptions(options, { outputFormat: to });
      return;
    case null:
      if (family === "audio" || family === "video") parseMediaOptions(options, { outputFormat: to });
      else if (family === "image" && from === null) parseImageOptions(options, { outputFormat: to });
      return;
    default:
      return;
  }
}

/** The engine class of operations that do not depend on the input format. */
export function staticEngineClass(operation: string): EngineClass | null {
  if (operation === "convert" || operation === "compress" || operation === "merge" || operation === "extract" || operation === "secure") return null;
  return operation === "import/webpage" ? "browser" : "io";
}

/** The definition of `name`, or a 400 naming it. */
export function getOperation(name: string): OperationDefinition {
  const op = OPERATIONS.get(name);
  if (!op) throw new AppError("unknown_operation", `Unknown operation "${name}".`);
  return op;
}

const ajv = new Ajv({ allErrors: false, strict: false, coerceTypes: false });
ajv.addFormat("uri", (value: string) => /^https?:\/\/[^\s]+$/i.test(value));
const validators = new Map<string, ValidateFunction>();

/**
 * Validates a task payload against its operation's schema and checks, and the number of inputs.
 * `taskName` is named in every message so a 400 points at the offending task.
 */
export function validateTaskPayload(taskName: string, operation: string, payload: Record<string, unknown>, inputCount: number): void {
  const op = getOperation(operation);
  let validate = validators.get(op.name);
  if (!validate) {
    validate = ajv.compile(op.payloadSchema);
    validators.set(op.name, validate);
  }
  if (!validate(payload)) {
    const err = validate.errors?.[0];
    const where = err?.instancePath ? `"${err.instancePath.slice(1).replaceAll("/", ".")}"` : "the payload";
    throw new AppError("invalid_payload", `Task "${taskName}" (${op.name}): ${where} ${err?.message ?? "is invalid"}.`);
  }
  if (inputCount < op.minInputs) {
    throw new AppError("invalid_payload", `Task "${taskName}" (${op.name}) needs ${op.minInputs === 1 ? "an input" : `at least ${op.minInputs} inputs`}.`);
  }
  if (op.maxInputs !== null && inputCount > op.maxInputs) {
    throw new AppError(
      "invalid_payload",
      op.maxInputs === 0 ? `Task "${taskName}" (${op.name}) takes no input.` : `Task "${taskName}" (${op.name}) takes at most ${op.maxInputs} input(s).`,
    );
  }
  try {
    op.check?.(payload);
  } catch (err) {
    if (err instanceof AppError) throw new AppError(err.code, `Task "${taskName}": ${err.message}`);
    throw err;
  }
}

/** The payload without its secret and large fields: what is stored, echoed and logged. */
export function redactPayload(operation: string, payload: Record<string, unknown>): Record<string, unknown> {
  const op = OPERATIONS.get(operation);
  if (!op) return payload;
  const out: Record<string, unknown> = { ...payload };
  for (const field of op.largeFields) delete out[field];
  for (const path of op.secretFields) {
    const holder = holderOf(out, path, true);
    const key = lastSegment(path);
    if (holder && key in holder) holder[key] = "*****";
  }
  return out;
}

/** The payload's secret values by path (`{"options.password": "..."}`), or null when it has none. */
export function extractSecrets(operation: string, payload: Record<string, unknown>): Record<string, unknown> | null {
  const op = OPERATIONS.get(operation);
  if (!op) return null;
  const secrets: Record<string, unknown> = {};
  for (const path of op.secretFields) {
    const holder = holderOf(payload, path, false);
    const key = lastSegment(path);
    if (holder && key in holder) secrets[path] = holder[key];
  }
  return Object.keys(secrets).length > 0 ? secrets : null;
}

/** A stored (redacted) payload with its secret values put back, for the worker that runs it. */
export function restoreSecrets(payload: Record<string, unknown>, secrets: unknown): Record<string, unknown> {
  if (!secrets || typeof secrets !== "object") return payload;
  const out: Record<string, unknown> = { ...payload };
  for (const [path, value] of Object.entries(secrets as Record<string, unknown>)) {
    const holder = holderOf(out, path, true);
    if (holder) holder[lastSegment(path)] = value;
  }
  return out;
}

/**
 * The object that holds the last segment of `path` (`options` for `options.password`). With
 * `copy`, each object on the way is replaced by a shallow copy first, so the caller's payload
 * is never changed.
 */
function holderOf(root: Record<string, unknown>, path: string, copy: boolean): Record<string, unknown> | null {
  const segments = path.split(".");
  let node: Record<string, unknown> = root;
  for (const segment of segments.slice(0, -1)) {
    const next = node[segment];
    if (!next || typeof next !== "object" || Array.isArray(next)) return null;
    const child = copy ? { ...(next as Record<string, unknown>) } : (next as Record<string, unknown>);
    if (copy) node[segment] = child;
    node = child;
  }
  return node;
}

function lastSegment(path: string): string {
  return path.slice(path.lastIndexOf(".") + 1);
}
