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

/** The engine class whose queue a task goes to; `io` is served by every worker. */
export type EngineClass = "io" | "image";

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
  /** Fields never echoed in responses, logs or events (credentials). */
  secretFields: readonly string[];
  /** Fields too large to keep in the payload: moved to storage by the gateway, then dropped. */
  largeFields: readonly string[];
  /** Extra checks the schema cannot express; throws AppError. */
  check?(payload: Record<string, unknown>): void;
}

/** Which engine class converts which input formats to which outputs. */
export const CONVERSION_TABLE: ReadonlyArray<{ engineClass: EngineClass; from: readonly string[]; to: readonly string[] }> = [
  {
    engineClass: "image",
    from: ["jpg", "png", "webp", "avif", "gif", "tiff", "svg", "heic"],
    to: ["jpg", "png", "webp", "avif", "gif", "tiff"],
  },
];

/** Every output format some engine can produce. */
export function producibleFormats(): Set<string> {
  return new Set(CONVERSION_TABLE.flatMap((row) => row.to));
}

/** The engine class that converts `from` to `to`, or null when none does. */
export function engineClassForConversion(from: string, to: string): EngineClass | null {
  const a = normalizeFormat(from);
  const b = normalizeFormat(to);
  const row = CONVERSION_TABLE.find((r) => r.from.includes(a) && r.to.includes(b));
  return row ? row.engineClass : null;
}

const filename = { type: "string", minLength: 1, maxLength: 255 } as const;
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
        check(payload) {
          // Only the scheme is knowable from the payload; addresses are checked at connect time.
          let url: URL;
          try {
            url = new URL(String(payload.url));
          } catch {
            throw new AppError("invalid_payload", `"url" is not an absolute URL.`);
          }
          if (url.protocol !== "http:" && url.protocol !== "https:") {
            throw new AppError("invalid_payload", `"url" must be an http or https URL, not ${url.protocol.replace(":", "")}.`);
          }
        },
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
        secretFields: [],
        largeFields: [],
        check(payload) {
          const target = normalizeFormat(String(payload.output_format));
          if (!producibleFormats().has(target)) {
            const known = [...producibleFormats()].sort().join(", ");
            throw new AppError("invalid_payload", `output_format "${String(payload.output_format)}" is not produced by any engine; valid values: ${known}.`);
          }
          // Options of a wrong type are the caller's mistake, known before any byte is read.
          if (findFormat(target)?.family === "image") parseImageOptions(payload.options, { outputFormat: target });
        },
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
    ] satisfies OperationDefinition[]
  ).map((op) => [op.name, op] as const),
);

/** The engine class of operations that do not depend on the input format. */
export function staticEngineClass(operation: string): EngineClass | null {
  return operation === "convert" ? null : "io";
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
  for (const field of op.secretFields) if (field in out) out[field] = "*****";
  return out;
}
