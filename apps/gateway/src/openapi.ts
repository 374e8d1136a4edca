/**
 * The OpenAPI 3.1 document of the gateway (`GET /openapi.json`) and the interactive reference
 * at `/docs`. @fastify/swagger builds the document from the route schemas as routes are
 * registered, so `registerOpenApi` runs before any route. What a route schema cannot carry
 * without changing validation is added here: tags by path, the error responses, and the
 * request bodies the routes take as plain objects or multipart (openapi-schemas.ts, generated
 * from the operation registry, so a new operation is documented with nothing to write).
 * @fastify/swagger-ui serves the page from the files of its npm package: no CDN, works offline.
 */
import { readFileSync } from "node:fs";
import swagger, { type SwaggerTransform, type SwaggerTransformObject } from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import { OPERATIONS } from "@transmute/core";
import type { FastifyInstance, FastifySchema } from "fastify";
import { buildRegistrySchemas, taskRequestSchemaId, UPLOAD_FORM_BODY } from "./openapi-schemas.js";

/** The tags of the reference, in the order the page shows them. */
const TAGS = [
  { name: "Jobs", description: "A job is a graph of tasks (import, convert, export) created in one request." },
  { name: "Tasks", description: "The tasks of any job, by id." },
  { name: "Import", description: "Standalone import tasks: each request makes a job of one task." },
  { name: "Convert", description: "Standalone processing tasks: each request makes a job of one task." },
  { name: "Export", description: "Standalone export tasks: each request makes a job of one task." },
  { name: "Upload form", description: "The form an import/upload task answers with. No API key: the signed form URL is the credential." },
  { name: "Downloads", description: "The signed links export/url answers with. No API key: the signature is the credential." },
  { name: "Account", description: "The account of the API key." },
  { name: "Webhooks", description: "Signed, retried notifications of job and task events (also served at /webhooks)." },
  { name: "Query", description: "What this server can do: operations, formats and options." },
];

/** The description of each error status, as the reference shows it. */
const ERROR_STATUS_TEXT: Record<string, string> = {
  "400": "Bad request: the body, a field or a parameter is invalid; `message` names it and the valid values.",
  "401": "Missing or invalid API key.",
  "403": "The signature of the link or form is not valid.",
  "404": "No such job, task, form or file (another account's count as unknown).",
  "405": "The path exists with other methods (listed in `Allow`).",
  "406": "The `Accept` header excludes JSON.",
  "409": "The resource is in a state that does not allow this.",
  "410": "The file or link has expired, or was deleted.",
  "413": "The body or file is larger than the limit.",
  "415": "Wrong `Content-Type`.",
  "422": "The request is well formed but cannot be carried out.",
  "429": "Too many requests: retry after `Retry-After` seconds.",
  "500": "Something failed on the server; the operator's log has the details.",
  "503": "The server cannot take the request now; retry later.",
  default: "An error: `{code, message}` with the HTTP status of `code` (see the error codes in the API compatibility notes).",
};

/** The tag of a route, by its path (null: none; a route of a new area must name its tags). */
export function tagOfPath(url: string): string | null {
  if (url.startsWith("/v1/process/jobs")) return "Jobs";
  if (url.startsWith("/v1/process/tasks")) return "Tasks";
  if (url.startsWith("/v1/process/import/")) return "Import";
  if (url.startsWith("/v1/process/export/")) return "Export";
  if (url.startsWith("/v1/process/")) return "Convert";
  if (url.startsWith("/v1/upload/")) return "Upload form";
  if (url.startsWith("/v1/files/")) return "Downloads";
  if (url.startsWith("/v1/account/")) return "Account";
  if (url.startsWith("/v1/query/")) return "Query";
  return null;
}

/**
 * Completes one route's documentation. Tags come from the path unless the route names its own;
 * bodies that the route validates as a plain object are documented by the registry's schemas;
 * every operation gets the `{code, message}` error as its default response.
 */
const documentRoute: SwaggerTransform = ({ schema, url, route }) => {
  const doc: Record<string, unknown> = { ...(schema ?? {}) };
  const tag = tagOfPath(url);
  if (!doc.tags && tag) doc.tags = [tag];
  const post = route.method === "POST";
  const op = post && url.startsWith("/v1/process/") ? OPERATIONS.get(url.slice("/v1/process/".length)) : undefined;
  if (op) {
    doc.summary ??= op.summary;
    doc.body = { $ref: `${taskRequestSchemaId(op)}#` };
  }
  if (post && url === "/v1/process/jobs") doc.body = { $ref: "JobRequest#" };
  if (post && url === "/v1/upload/:slot") {
    doc.consumes = ["multipart/form-data"];
    doc.body = UPLOAD_FORM_BODY;
  }
  if (schema?.response) doc.response = { ...(schema.response as object), default: { $ref: "Error#" } };
  return { schema: doc as FastifySchema, url };
};

type Operation = { tags?: string[]; responses?: Record<string, { description?: string }> };

/** Last touches on the whole document: error descriptions, and only the tags some route uses. */
const finishDocument: SwaggerTransformObject = (documentObject) => {
  if (!("openapiObject" in documentObject)) return documentObject.swaggerObject;
  const { openapiObject } = documentObject;
  const used = new Set<string>();
  for (const item of Object.values((openapiObject.paths ?? {}) as unknown as Record<string, Record<string, Operation>>)) {
    for (const operation of Object.values(item)) {
      operation.tags?.forEach((t) => used.add(t));
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        if (status === "default" || Number(status) >= 400) response.description = ERROR_STATUS_TEXT[status] ?? ERROR_STATUS_TEXT.default;
      }
    }
  }
  return { ...openapiObject, tags: TAGS.filter((t) => used.has(t.name)) };
};

/** The page's top-bar logo: the product's name, instead of the plugin's own logo. */
const LOGO_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="150" height="40" viewBox="0 0 150 40"><text x="0" y="28" font-family="sans-serif" font-size="24" font-weight="700" fill="#fff">Transmute</text></svg>';

/** The version of this package, shown as the document's version. */
function readVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version?: string }).version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
}

/**
 * Registers the document builder, the schemas it references, `GET /openapi.json` and the
 * reference page at `/docs`. Call it before any route is added: routes registered earlier are
 * not seen.
 */
export async function registerOpenApi(app: FastifyInstance, settings: { publicUrl: string }): Promise<void> {
  for (const schema of buildRegistrySchemas()) app.addSchema(schema);

  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Transmute API",
        version: readVersion(),
        description:
          "A self-hosted file-conversion server answering the FreeConvert API v1. The operations with a padlock need `Authorization: Bearer <key>` (Authorize). Errors are `{code, message}` with the HTTP status of `code`.",
      },
      servers: [{ url: settings.publicUrl, description: "This server (PUBLIC_URL)" }],
      components: {
        securitySchemes: {
          apiKey: { type: "http", scheme: "bearer", description: "An API key, sent as `Authorization: Bearer <key>`." },
        },
      },
      security: [{ apiKey: [] }],
    },
    // Paths are the routes' own: the server URL above never shortens them.
    stripBasePath: false,
    // Components are named after the schemas' $id (Task, Job, ConvertTaskRequest...).
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === "string" ? json.$id : `def-${i}`) },
    transform: documentRoute,
    transformObject: finishDocument,
  });
  await app.register(swaggerUi, {
    routePrefix: "/docs",
    theme: { title: "Transmute API reference" },
    logo: { type: "image/svg+xml", content: Buffer.from(LOGO_SVG) },
    uiConfig: { docExpansion: "list", deepLinking: true, defaultModelsExpandDepth: 0 },
  });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
}
