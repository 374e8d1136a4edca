/**
 * JSON schemas of the FreeConvert surface. They validate requests and shape responses; Fastify
 * drops response properties a schema does not declare, so free-form parts (`payload`,
 * `result`, `options`) are declared as open objects.
 */
const freeForm = { type: "object", additionalProperties: true } as const;
const nullableString = { type: ["string", "null"] } as const;

/** The `{code, message}` body of every error. */
export const errorSchema = {
  $id: "Error",
  description: "The body of every error: `code` from the closed list, `message` naming what is wrong.",
  type: "object",
  properties: { code: { type: "string" }, message: { type: "string" } },
  required: ["code", "message"],
} as const;

/** A task. */
export const taskSchema = {
  $id: "Task",
  description: "A task: its operation, status, payload as sent and result.",
  type: "object",
  properties: {
    id: { type: "string" },
    name: { type: "string" },
    operation: { type: "string" },
    status: { type: "string" },
    payload: freeForm,
    ignoreError: { type: "boolean" },
    job: { anyOf: [{ type: "string" }, freeForm] },
    dependsOn: { type: "array", items: { anyOf: [{ type: "string" }, freeForm] } },
    result: freeForm,
    code: nullableString,
    message: nullableString,
    percent: { type: "number" },
    server: nullableString,
    createdAt: { type: "string" },
    updatedAt: { type: "string" },
    startedAt: nullableString,
    endedAt: nullableString,
    links: freeForm,
  },
} as const;

/** A job with its tasks. */
export const jobSchema = {
  $id: "Job",
  description: "A job with all its tasks.",
  type: "object",
  properties: {
    id: { type: "string" },
    tag: nullableString,
    status: { type: "string" },
    interface: { type: "string" },
    isRemoved: { type: "boolean" },
    result: freeForm,
    createdAt: { type: "string" },
    updatedAt: { type: "string" },
    startedAt: nullableString,
    endedAt: nullableString,
    tasks: { type: "array", items: { $ref: "Task#" } },
    links: freeForm,
  },
} as const;

/** The account of the key (`GET /account/me`). */
export const userSchema = {
  $id: "User",
  description: "The account of the API key, in FreeConvert's User shape.",
  type: "object",
  properties: {
    id: { type: "string" },
    email: { type: "string" },
    name: { type: "string" },
    role: { type: "string" },
    interface: { type: "string" },
    parent: { type: "string" },
    team: { type: "string" },
    teamRole: { type: "string" },
    createdAt: { type: "string" },
  },
} as const;

/** Error responses every authenticated route can give. */
export const commonErrors = {
  400: { $ref: "Error#" },
  401: { $ref: "Error#" },
  404: { $ref: "Error#" },
  406: { $ref: "Error#" },
  429: { $ref: "Error#" },
  500: { $ref: "Error#" },
} as const;

/** `:id` path parameter. */
export const idParams = {
  type: "object",
  properties: { id: { type: "string", maxLength: 64 } },
  required: ["id"],
} as const;

/** The body of a job or task creation: an object (its shape is checked by the job engine). */
export const objectBody = { type: "object", additionalProperties: true } as const;

/** `{code, message}` responses for the given HTTP statuses (routes without the API key's set). */
export function errorResponses(...statuses: number[]): Record<number, { $ref: "Error#" }> {
  return Object.fromEntries(statuses.map((status) => [status, { $ref: "Error#" as const }]));
}

/** A list answer: the reference's page envelope (cursor paging answers docs, limit and hasNextPage of it). */
export function pageEnvelope(items: object) {
  const nullableInteger = { type: ["integer", "null"] } as const;
  return {
    type: "object",
    properties: {
      docs: { type: "array", items },
      totalDocs: { type: "integer" },
      limit: { type: "integer" },
      totalPages: { type: "integer" },
      page: { type: "integer" },
      pagingCounter: { type: "integer" },
      hasPrevPage: { type: "boolean" },
      hasNextPage: { type: "boolean" },
      prevPage: nullableInteger,
      nextPage: nullableInteger,
    },
  } as const;
}
