/**
 * The schemas of the OpenAPI document that the routes do not validate with: the body of each
 * standalone task endpoint and of each task of a job, generated from the operation registry's
 * payload schemas, and the multipart upload form. The job engine validates those bodies itself
 * (its own messages and codes), so they are added as shared schemas for the document only.
 */
import { OPERATIONS, TASK_NAME_PATTERN, type OperationDefinition } from "@transmute/core";

/** The name of an operation's schema in the document: `import/url` -> `ImportUrl`. */
function pascalCase(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join("");
}

/** Schema id of the body of `POST /v1/process/<operation>`. */
export function taskRequestSchemaId(op: OperationDefinition): string {
  return `${pascalCase(op.name)}TaskRequest`;
}

/** Schema id of one task of a job request with this operation. */
function jobTaskSchemaId(op: OperationDefinition): string {
  return `${pascalCase(op.name)}JobTask`;
}

const idList = (description: string) => ({
  description,
  anyOf: [{ type: "string" }, { type: "array", items: { type: "string" }, minItems: 1 }],
});

/** The properties and required fields of an operation's payload, as the registry declares them. */
function payloadParts(op: OperationDefinition): { properties: Record<string, unknown>; required: string[] } {
  const schema = structuredClone(op.payloadSchema) as { properties?: Record<string, unknown>; required?: string[] };
  return { properties: schema.properties ?? {}, required: schema.required ?? [] };
}

/** The body of a standalone task endpoint: the operation's payload, plus `input` when it takes files. */
function taskRequestSchema(op: OperationDefinition): Record<string, unknown> {
  const { properties, required } = payloadParts(op);
  const takesInput = op.maxInputs !== 0;
  return {
    $id: taskRequestSchemaId(op),
    description: `The body of POST /v1/process/${op.name}: ${op.summary}`,
    type: "object",
    properties: {
      ...(takesInput ? { input: idList("The id of an existing task whose files this task takes, or a list of ids.") } : {}),
      ...properties,
    },
    required: [...(op.minInputs > 0 ? ["input"] : []), ...required],
  };
}

/** One task of a job request: `operation`, `input`, `ignore_error` and the operation's payload. */
function jobTaskSchema(op: OperationDefinition): Record<string, unknown> {
  const { properties, required } = payloadParts(op);
  const takesInput = op.maxInputs !== 0;
  return {
    $id: jobTaskSchemaId(op),
    description: `A task of operation ${op.name}: ${op.summary}`,
    type: "object",
    properties: {
      operation: { type: "string", enum: [op.name] },
      ...(takesInput ? { input: idList("The name of a task of this job, or the id of an existing task, or a list of them.") } : {}),
      ...(takesInput ? { ignore_error: { type: "boolean", description: "Run on the inputs that succeeded when some failed (default false)." } } : {}),
      ...properties,
    },
    required: ["operation", ...(op.minInputs > 0 ? ["input"] : []), ...required],
  };
}

/** The body of `POST /v1/process/jobs`, its tasks one of the registry's operations. */
function jobRequestSchema(): Record<string, unknown> {
  return {
    $id: "JobRequest",
    description: "A job: named tasks, each taking the files of the tasks named in its `input`.",
    type: "object",
    properties: {
      tag: { type: ["string", "null"], description: "A label of the caller's, echoed in the job." },
      webhook_url: { type: ["string", "null"], description: "The job's own webhook (as CloudConvert): an http(s) URL the outbound policy allows; gets job.finished and job.failed, unsigned." },
      tasks: {
        type: "object",
        description: "Tasks by name (1 to 500; names of 1 to 128 letters, digits, `-` and `_`).",
        minProperties: 1,
        maxProperties: 500,
        propertyNames: { pattern: TASK_NAME_PATTERN.source },
        additionalProperties: { oneOf: [...OPERATIONS.values()].map((op) => ({ $ref: `${jobTaskSchemaId(op)}#` })) },
      },
    },
    required: ["tasks"],
  };
}

/** The multipart form of `POST /v1/upload/{slot}`, as the form parameters of the upload task name it. */
export const UPLOAD_FORM_BODY = {
  type: "object",
  properties: {
    file: { type: "string", format: "binary", description: "The file (one field per file, up to the form's max_file_count)." },
    signature: { type: "string", description: "The form's `signature` parameter (optional; sent before the file, it is checked before a byte is stored)." },
  },
  required: ["file"],
};

/** Every schema above with an $id, for `addSchema` (the job request refers to each operation's task). */
export function buildRegistrySchemas(): Array<Record<string, unknown>> {
  return [...[...OPERATIONS.values()].flatMap((op) => [taskRequestSchema(op), jobTaskSchema(op)]), jobRequestSchema()];
}
