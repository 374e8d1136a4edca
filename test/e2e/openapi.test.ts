/**
 * The OpenAPI document and the reference page, through the real server: the document is valid
 * OpenAPI 3.1 with every $ref resolving inside it; it lists exactly the routes the server
 * registered (read back from Fastify's own route tree), each with schemas (a tag, a success
 * response, `{code, message}` on every error response), so a route added without schemas fails
 * here; the standalone task bodies are the operation registry's; /docs and every asset it loads
 * come from this server; and a real browser (Debian's chromium, when installed) renders every
 * operation of the document.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Validator } from "@seriousme/openapi-schema-validator";
import { OPERATIONS } from "@transmute/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestServer } from "../support/harness.js";
import { startServer } from "./helpers.js";

type Json = any;

/** Routes deliberately left out of the document (`schema.hide`), as "METHOD url" (a trailing * is a prefix). */
// The Filewall API (/api/*) is another product's contract, described in docs/filewall.md.
const HIDDEN = ["GET /healthz", "GET /openapi.json", "GET /docs*", "OPTIONS /v1/upload/:slot", "GET /api/*", "POST /api/*"];

const HTTP_METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

let server: TestServer;
let doc: Json;

beforeAll(async () => {
  server = await startServer();
  const res = await fetch(`${server.url}/openapi.json`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  doc = await res.json();
});

afterAll(async () => {
  await server?.close();
});

/**
 * The routes of Fastify's printRoutes() tree as "METHOD url". Each line is one radix node; a
 * node's full path is its ancestors' segments joined, and the methods in parentheses end a route.
 */
function parseRouteTree(tree: string): string[] {
  const routes: string[] = [];
  const stack: string[] = [];
  for (const line of tree.split("\n")) {
    const m = /^((?:│ {3}| {4})*)(?:├── |└── )(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    const url = stack.join("");
    for (const method of m[3]?.split(", ") ?? []) routes.push(`${method} ${url}`);
  }
  return routes;
}

/** A Fastify URL in OpenAPI's form: `/jobs/:id` -> `/jobs/{id}`. */
const toOpenApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, "{$1}");

/** The operations of a document as "METHOD path" with the operation. */
function operationsOf(document: Json): Array<{ key: string; path: string; method: string; op: Json }> {
  return Object.entries(document.paths as Record<string, Json>).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => HTTP_METHODS.includes(method))
      .map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, path, method, op })),
  );
}

/** What is wrong with the document against the routes the server registered (empty: nothing). */
function findRouteProblems(routes: string[], document: Json): string[] {
  const problems: string[] = [];
  const hidden = (route: string) => HIDDEN.some((h) => (h.endsWith("*") ? route.startsWith(h.slice(0, -1)) : route === h));
  const registered = new Set(
    routes
      .filter((r) => !r.startsWith("HEAD ") && !hidden(r))
      .map((r) => {
        const [method, url] = r.split(" ");
        return `${method} ${toOpenApiPath(url!)}`;
      }),
  );
  const documented = operationsOf(document);
  const documentedKeys = new Set(documented.map((d) => d.key));
  for (const route of registered) if (!documentedKeys.has(route)) problems.push(`${route}: registered but not in the document`);
  const tagNames = new Set((document.tags ?? []).map((t: Json) => t.name));
  for (const { key, path, method, op } of documented) {
    if (method !== "head" && !registered.has(key)) problems.push(`${key}: in the document but not registered`);
    if (!Array.isArray(op.tags) || op.tags.length === 0) problems.push(`${key}: no tag`);
    for (const tag of op.tags ?? []) if (!tagNames.has(tag)) problems.push(`${key}: tag "${tag}" is not in the document's tags`);
    const statuses = Object.keys(op.responses ?? {});
    const successes = statuses.filter((s) => /^[23]/.test(s));
    if (successes.length === 0) problems.push(`${key}: no success response schema`);
    for (const status of successes) {
      const response = op.responses[status];
      // An answer has a body schema, or is declared without one (`type: "null"`, described):
      // "Default Response" is what a route without a response schema gets.
      const hasSchema = Object.values(response.content ?? {}).some((c: Json) => c.schema);
      if (!hasSchema && (!response.description || response.description === "Default Response")) {
        problems.push(`${key}: response ${status} has no schema`);
      }
    }
    const errors = statuses.filter((s) => s === "default" || /^[45]/.test(s));
    if (!errors.includes("default")) problems.push(`${key}: no default error response`);
    for (const status of errors) {
      if (op.responses[status].content?.["application/json"]?.schema?.$ref !== "#/components/schemas/Error") {
        problems.push(`${key}: error response ${status} is not the Error schema`);
      }
    }
    const declared = new Set((op.parameters ?? []).filter((p: Json) => p.in === "path").map((p: Json) => p.name));
    for (const [, name] of path.matchAll(/\{([^}]+)\}/g)) if (!declared.has(name)) problems.push(`${key}: path parameter ${name} not declared`);
  }
  return problems;
}

/** Every $ref of the document that does not point at something inside it. */
function findUnresolvedRefs(document: Json): string[] {
  const resolve = (ref: string): unknown =>
    ref.startsWith("#/")
      ? ref
          .slice(2)
          .split("/")
          .map((part) => part.replaceAll("~1", "/").replaceAll("~0", "~"))
          .reduce<Json>((node, part) => (node && typeof node === "object" ? node[part] : undefined), document)
      : undefined;
  const bad: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!node || typeof node !== "object") return;
    for (const [key, value] of Object.entries(node)) {
      if (key === "$ref" && typeof value === "string" && resolve(value) === undefined) bad.push(value);
      else walk(value);
    }
  };
  walk(document);
  return bad;
}

/** The schema a $ref points at in the document (or the schema itself). */
function deref(schema: Json): Json {
  return schema?.$ref ? doc.components.schemas[schema.$ref.replace("#/components/schemas/", "")] : schema;
}

describe("the OpenAPI document", () => {
  it("is valid OpenAPI 3.1, every $ref resolves inside it, and it describes this server", async () => {
    const result = await new Validator().validate(structuredClone(doc));
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 2)).toEqual([]);
    expect(result.valid).toBe(true);
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(findUnresolvedRefs(doc)).toEqual([]);
    expect(doc.servers).toEqual([expect.objectContaining({ url: server.url })]);
    expect(doc.components.securitySchemes.apiKey).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.security).toEqual([{ apiKey: [] }]);
    // The same document at the reference page's own address.
    expect(await (await fetch(`${server.url}/docs/json`)).json()).toEqual(doc);
  });

  it("lists exactly the routes the server registered, each with tags, a success schema and the Error schema on errors", () => {
    const routes = parseRouteTree(server.app.gateway!.printRoutes());
    // The parse itself: known routes of each shape are found.
    expect(routes).toEqual(expect.arrayContaining(["POST /v1/process/jobs", "GET /v1/process/jobs/:id/wait", "GET /v1/files/:fileId/:name", "GET /healthz"]));
    expect(findRouteProblems(routes, doc)).toEqual([]);
  });

  it("the route check fails on a route missing from the document, one without schemas, and one in no tag", () => {
    const routes = parseRouteTree(server.app.gateway!.printRoutes());
    const broken = structuredClone(doc);
    delete broken.paths["/v1/process/jobs/{id}"].get;
    broken.paths["/v1/account/me"].get.responses = { 200: { description: "Default Response" } };
    delete broken.paths["/v1/process/tasks/{id}"].get.tags;
    const problems = findRouteProblems([...routes, "PUT /v1/new/:thing"], broken);
    expect(problems).toEqual(
      expect.arrayContaining([
        "GET /v1/process/jobs/{id}: registered but not in the document",
        "PUT /v1/new/{thing}: registered but not in the document",
        "GET /v1/account/me: response 200 has no schema",
        "GET /v1/account/me: no default error response",
        "GET /v1/process/tasks/{id}: no tag",
      ]),
    );
    expect(findUnresolvedRefs({ a: { $ref: "#/components/schemas/Nothing" }, components: { schemas: {} } })).toEqual(["#/components/schemas/Nothing"]);
  });

  it("documents the API key: needed everywhere except the upload form and the download links", () => {
    for (const { key, path, op } of operationsOf(doc)) {
      const keyless = path.startsWith("/v1/upload/") || path.startsWith("/v1/files/");
      if (keyless) expect(op.security, key).toEqual([]);
      else if (!path.startsWith("/v1/query/")) expect(op.security ?? doc.security, key).toEqual([{ apiKey: [] }]);
    }
  });

  it("takes each standalone task endpoint's body from the operation registry", () => {
    for (const op of OPERATIONS.values()) {
      const operation = doc.paths[`/v1/process/${op.name}`]?.post;
      expect(operation, op.name).toBeDefined();
      expect(operation.summary).toBe(op.summary);
      const body = deref(operation.requestBody.content["application/json"].schema);
      const payload = op.payloadSchema as { properties?: Record<string, unknown>; required?: string[] };
      expect(Object.keys(body.properties), op.name).toEqual(expect.arrayContaining(Object.keys(payload.properties ?? {})));
      expect(body.required, op.name).toEqual(expect.arrayContaining(payload.required ?? []));
      if (op.minInputs > 0) expect(body.required, op.name).toContain("input");
    }
    const convert = deref(doc.paths["/v1/process/convert"].post.requestBody.content["application/json"].schema);
    expect(convert.required).toContain("output_format");
    expect(convert.properties.output_format).toMatchObject({ type: "string" });
  });

  it("documents the job body with one schema per operation, and the upload form as multipart", () => {
    const job = deref(doc.paths["/v1/process/jobs"].post.requestBody.content["application/json"].schema);
    expect(job.required).toEqual(["tasks"]);
    const variants = job.properties.tasks.additionalProperties.oneOf.map((s: Json) => deref(s));
    expect(variants.map((v: Json) => v.properties.operation.enum[0]).sort()).toEqual([...OPERATIONS.keys()].sort());
    expect(variants.find((v: Json) => v.properties.operation.enum[0] === "convert").required).toEqual(expect.arrayContaining(["operation", "input", "output_format"]));
    const form = doc.paths["/v1/upload/{slot}"].post.requestBody.content["multipart/form-data"].schema;
    expect(form).toMatchObject({ properties: { file: { type: "string", format: "binary" } }, required: ["file"] });
    expect(Object.keys(doc.paths["/v1/upload/{slot}"].post.responses)).toEqual(expect.arrayContaining(["200", "303"]));
  });
});

describe("the reference page at /docs", () => {
  it("is an HTML page whose scripts, styles and icons all come from this server", async () => {
    const res = await fetch(`${server.url}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await res.text();
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.filter((a) => a.endsWith(".js"))).toHaveLength(3);
    expect(assets.filter((a) => a.endsWith(".css")).length).toBeGreaterThanOrEqual(1);
    for (const asset of assets) {
      const url = new URL(asset, `${server.url}/docs`);
      // No CDN: the page must work on a server without internet.
      expect(url.origin, asset).toBe(server.url);
      const got = await fetch(url);
      expect(got.status, asset).toBe(200);
      expect((await got.arrayBuffer()).byteLength, asset).toBeGreaterThan(0);
      if (asset.endsWith(".js")) expect(got.headers.get("content-type"), asset).toMatch(/javascript/);
      if (asset.endsWith(".css")) expect(got.headers.get("content-type"), asset).toMatch(/^text\/css/);
    }
    // The initializer loads the document from the page's own ./json, not from a remote validator.
    const init = await (await fetch(`${server.url}/docs/static/swagger-initializer.js`)).text();
    expect(init).toContain("resolveUrl('./json')");
    expect(init).toMatch(/validatorUrl: null/);
  });

  const CHROMIUM = "/usr/bin/chromium";
  const haveChromium = existsSync(CHROMIUM);
  if (!haveChromium) {
    if (process.env.CI === "true") {
      it("has chromium to render the page (CI=true)", () => {
        throw new Error(`CI=true and ${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium).`);
      });
    } else {
      console.warn(`\n!!! ${CHROMIUM} not found: SKIPPING the browser rendering of /docs (apt-get install -y chromium; CI=true makes this an error).\n`);
    }
  }

  it.runIf(haveChromium)("renders every operation of the document in a real browser", async () => {
    const profile = await mkdtemp(join(tmpdir(), "transmute-chromium-"));
    try {
      const { stdout } = await promisify(execFile)(
        CHROMIUM,
        [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          `--user-data-dir=${profile}`,
          // Virtual time runs the page's scripts and its fetch of ./json before the DOM is dumped.
          "--virtual-time-budget=10000",
          "--dump-dom",
          `${server.url}/docs`,
        ],
        { timeout: 30_000, maxBuffer: 64 * 1024 * 1024 },
      );
      const rendered = [...stdout.matchAll(/opblock-summary-method">([A-Z]+)<[\s\S]*?data-path="([^"]+)"/g)].map((m) => `${m[1]} ${m[2]}`);
      expect(rendered.sort()).toEqual(operationsOf(doc).map((o) => o.key).sort());
      expect(stdout).toContain("Transmute API");
    } finally {
      await rm(profile, { recursive: true, force: true });
    }
  });
});
