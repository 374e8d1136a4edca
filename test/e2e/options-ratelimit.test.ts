/**
 * The options query, rate limits and the error answers, in the embedded mode. Every target the
 * options query lists for a PNG is converted for real and decoded; the query answers without a
 * key, limited per client address. Limits per key and class carry X-RateLimit-* headers and
 * Retry-After. Every error status the API uses is produced once here, each a `{code, message}`
 * body without a stack trace, 500 included (the database closed under a running server).
 */
import { createAccount } from "@transmute/jobs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, download, type ApiAnswer, type TestServer } from "../support/harness.js";
import { createUpload, decode, expectError, makePng, runJob, startServer, taskOf, uploadLikeCurl } from "./helpers.js";

let server: TestServer;
let limited: TestServer;
let png: Buffer;

const READ_LIMIT = 5;
const WRITE_LIMIT = 3;
const ANONYMOUS_LIMIT = 3;

beforeAll(async () => {
  png = await makePng(24, 16, [30, 60, 220]);
  [server, limited] = await Promise.all([
    startServer(),
    startServer({
      TRANSMUTE_RATE_LIMIT_READ: String(READ_LIMIT),
      TRANSMUTE_RATE_LIMIT_WRITE: String(WRITE_LIMIT),
      TRANSMUTE_RATE_LIMIT_ANONYMOUS: String(ANONYMOUS_LIMIT),
      // The test client stands in for a proxy on loopback that reports client addresses.
      TRANSMUTE_TRUST_PROXY: "127.0.0.1",
    }),
  ]);
});

afterAll(async () => {
  await Promise.all([server?.close(), limited?.close()]);
});

/** sharp's name for the format of a decoded file of extension `ext`. */
const SHARP_FORMAT: Record<string, string> = { jpg: "jpeg", avif: "heif", heic: "heif" };

/** A client without a key. */
const anonymous = (base: TestServer, headers: Record<string, string> = {}) => ({
  options: (query: string) => apiClient(base.url, null).request("GET", `/v1/query/view/options?${query}`, undefined, headers),
});

/** Asserts an error body is exactly `{code, message}` with no trace of a stack. */
function expectCleanError(res: ApiAnswer, status: number, code: string): void {
  expectError(res, status, code);
  expect(Object.keys(res.body).sort()).toEqual(["code", "message"]);
  expect(res.body.message).not.toMatch(/\bat \S+ \(|\.(js|ts):\d+|node_modules|Error:/);
}

describe("GET /v1/query/view/options", () => {
  it("lists, without a key, the image targets live workers convert a PNG to, in the reference's shape; every one converts and decodes", async () => {
    const res = await anonymous(server).options("operation=convert&input_format=png");
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.type).toBe("image");
    const families = Object.keys(res.body.targets);
    // Images, and PDF (pdf-lib makes a one-page PDF of an image).
    expect(families).toEqual(["image", "document"]);
    expect(res.body.targets.document.map((t: any) => t.ext)).toEqual(["pdf"]);
    const targets = res.body.targets.image as Array<Record<string, unknown>>;
    expect(targets.length).toBeGreaterThanOrEqual(5);
    for (const t of targets) expect(t).toEqual({ name: String(t.ext).toUpperCase(), slug: t.ext, ext: t.ext, type: "image", device: false });
    expect(targets.map((t) => t.ext)).toEqual(expect.arrayContaining(["jpg", "png", "webp", "gif", "tiff"]));

    await Promise.all(
      targets.map(async ({ ext }) => {
        const { job } = await runJob(server.api, {
          import: { operation: "import/base64", file: png.toString("base64"), filename: "blue.png" },
          convert: { operation: "convert", input: "import", output_format: ext },
          export: { operation: "export/url", input: "convert" },
        });
        expect(job.status, `png -> ${ext}: ${JSON.stringify(taskOf(job, "convert").result)}`).toBe("completed");
        const got = await download(taskOf(job, "export").result.url);
        expect(got.status).toBe(200);
        const decoded = await decode(got.bytes);
        expect(decoded.format, `png -> ${ext}`).toBe(SHARP_FORMAT[String(ext)] ?? ext);
        expect([decoded.width, decoded.height]).toEqual([24, 16]);
      }),
    );
  });

  it("follows the other operations of the registry: compress keeps the format, merge lists its outputs; each listed target runs", async () => {
    const compress = await server.api.get("/v1/query/view/options?operation=compress&input_format=png");
    expect(compress.status).toBe(200);
    expect(compress.body).toEqual({ type: "image", targets: { image: [{ name: "PNG", slug: "png", ext: "png", type: "image", device: false }] } });
    const { job: compressed } = await runJob(server.api, {
      import: { operation: "import/base64", file: png.toString("base64"), filename: "blue.png" },
      compress: { operation: "compress", input: "import", output_format: "png" },
      export: { operation: "export/url", input: "compress" },
    });
    expect(compressed.status, JSON.stringify(taskOf(compressed, "compress").result)).toBe("completed");
    expect((await decode((await download(taskOf(compressed, "export").result.url)).bytes)).format).toBe("png");

    const merge = await server.api.get("/v1/query/view/options?operation=merge&input_format=png");
    expect(merge.status).toBe(200);
    const listed = Object.values(merge.body.targets as Record<string, Array<{ ext: string }>>).flat().map((t) => t.ext);
    expect(listed.length).toBeGreaterThan(0);
    for (const ext of listed) {
      const { job } = await runJob(server.api, {
        a: { operation: "import/base64", file: png.toString("base64"), filename: "a.png" },
        b: { operation: "import/base64", file: png.toString("base64"), filename: "b.png" },
        merge: { operation: "merge", input: ["a", "b"], output_format: ext },
        export: { operation: "export/url", input: "merge" },
      });
      expect(job.status, `merge png -> ${ext}: ${JSON.stringify(taskOf(job, "merge").result)}`).toBe("completed");
      const bytes = (await download(taskOf(job, "export").result.url)).bytes;
      if (ext === "pdf") expect(bytes.subarray(0, 5).toString("latin1")).toBe("%PDF-");
      else expect((await decode(bytes)).format).toBe(SHARP_FORMAT[ext] ?? ext);
    }
  });

  it("takes aliases and any case (JPEG); an unknown input format answers 200 with empty targets", async () => {
    const jpeg = await server.api.get("/v1/query/view/options?operation=convert&input_format=JPEG");
    expect(jpeg.status).toBe(200);
    expect(jpeg.body.type).toBe("image");
    expect(jpeg.body.targets.image.map((t: any) => t.ext)).toContain("png");
    for (const format of ["xyz", "ole", "exe"]) {
      const res = await server.api.get(`/v1/query/view/options?operation=convert&input_format=${format}`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ type: null, targets: {} });
    }
    // A known format no engine converts: its family, and nothing to convert it to.
    const rar = await server.api.get("/v1/query/view/options?operation=convert&input_format=rar");
    expect(rar.body).toEqual({ type: "archive", targets: {} });
  });

  it("a missing parameter, an unknown operation or one without output formats is a 400 naming the valid values; a bad key is a 401", async () => {
    expectCleanError(await server.api.get("/v1/query/view/options?operation=convert"), 400, "invalid_request");
    expectError(await server.api.get("/v1/query/view/options?input_format=png"), 400, "invalid_request", "operation");
    expectError(await server.api.get("/v1/query/view/options?operation=transmogrify&input_format=png"), 400, "unknown_operation", '"transmogrify"', "convert");
    expectError(await server.api.get("/v1/query/view/options?operation=import/url&input_format=png"), 400, "invalid_request", "import/url", "convert");
    expectError(await apiClient(server.url, "tm_not_a_key_0123456789").get("/v1/query/view/options?operation=convert&input_format=png"), 401, "unauthorized");
  });
});

describe("rate limits", () => {
  it("per key and class: the headers count down, the request past the limit is a 429 with Retry-After; writes and other keys have their own buckets", async () => {
    const reads: ApiAnswer[] = [];
    for (let i = 0; i <= READ_LIMIT; i++) reads.push(await limited.api.get("/v1/account/me"));
    expect(reads.slice(0, READ_LIMIT).map((r) => r.status)).toEqual(Array(READ_LIMIT).fill(200));
    expect(reads.map((r) => r.headers.get("x-ratelimit-limit"))).toEqual(Array(READ_LIMIT + 1).fill(String(READ_LIMIT)));
    expect(reads.map((r) => r.headers.get("x-ratelimit-remaining"))).toEqual(["4", "3", "2", "1", "0", "0"]);
    const refused = reads[READ_LIMIT]!;
    expectCleanError(refused, 429, "too_many_requests");
    // 5 a minute refill one token every 12 s.
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(11);
    expect(Number(refused.headers.get("retry-after"))).toBeLessThanOrEqual(12);
    expectCleanError(await limited.api.get(`/v1/process/jobs/${crypto.randomUUID()}`), 429, "too_many_requests");

    // Writes have a bucket of their own.
    const writes: ApiAnswer[] = [];
    for (let i = 0; i <= WRITE_LIMIT; i++) writes.push(await limited.api.post("/v1/process/import/upload"));
    expect(writes.map((w) => w.status)).toEqual([201, 201, 201, 429]);
    expect(writes.map((w) => w.headers.get("x-ratelimit-remaining"))).toEqual(["2", "1", "0", "0"]);
    expect(Number(writes[WRITE_LIMIT]!.headers.get("retry-after"))).toBe(20);

    // Another key is not affected.
    const other = await createAccount(limited.app.engine.prisma, `other-${Date.now()}@example.com`);
    const otherApi = apiClient(limited.url, other.key);
    const mine = await otherApi.get("/v1/account/me");
    expect(mine.status).toBe(200);
    expect(mine.headers.get("x-ratelimit-remaining")).toBe(String(READ_LIMIT - 1));

    // Upload forms and downloads are not limited: the form and the link are the credential.
    const form = writes[0]!.body.result.form;
    const uploaded = await uploadLikeCurl(form, png, "limited.png");
    expect(uploaded.status).toBe(200);
    expect(uploaded.headers.get("x-ratelimit-limit")).toBeNull();
    const { job } = await runJob(otherApi, { import: { operation: "import/base64", file: png.toString("base64"), filename: "x.png" }, export: { operation: "export/url", input: "import" } });
    for (let i = 0; i < READ_LIMIT + 2; i++) {
      const got = await download(taskOf(job, "export").result.url);
      expect(got.status).toBe(200);
      expect(got.headers.get("x-ratelimit-limit")).toBeNull();
    }
  });

  it("the options query without a key is limited per client address; with a key it counts against the key", async () => {
    const direct = anonymous(limited);
    const answers: ApiAnswer[] = [];
    for (let i = 0; i <= ANONYMOUS_LIMIT; i++) answers.push(await direct.options("operation=convert&input_format=png"));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429]);
    expect(answers.map((a) => a.headers.get("x-ratelimit-remaining"))).toEqual(["2", "1", "0", "0"]);
    expect(answers[0]!.headers.get("x-ratelimit-limit")).toBe(String(ANONYMOUS_LIMIT));
    expectCleanError(answers[ANONYMOUS_LIMIT]!, 429, "too_many_requests");
    expect(Number(answers[ANONYMOUS_LIMIT]!.headers.get("retry-after"))).toBe(20);

    // Another client address, as a trusted proxy in front reports it, has its own bucket.
    const elsewhere = await anonymous(limited, { "x-forwarded-for": "198.51.100.7" }).options("operation=convert&input_format=png");
    expect(elsewhere.status).toBe(200);
    expect(elsewhere.headers.get("x-ratelimit-remaining")).toBe(String(ANONYMOUS_LIMIT - 1));

    // Where no proxy is trusted, X-Forwarded-For is ignored: a client cannot pick a fresh bucket.
    const forged = [];
    for (const ip of ["203.0.113.1", "203.0.113.2"]) forged.push(await anonymous(server, { "x-forwarded-for": ip }).options("operation=convert&input_format=png"));
    expect(Number(forged[1]!.headers.get("x-ratelimit-remaining"))).toBe(Number(forged[0]!.headers.get("x-ratelimit-remaining")) - 1);

    // A key's requests use the key's read bucket, not the address's.
    const other = await createAccount(limited.app.engine.prisma, `query-${Date.now()}@example.com`);
    const keyed = await apiClient(limited.url, other.key).get("/v1/query/view/options?operation=convert&input_format=png");
    expect(keyed.status).toBe(200);
    expect(keyed.headers.get("x-ratelimit-limit")).toBe(String(READ_LIMIT));
  });
});

describe("error answers", () => {
  it("400, 401, 403, 404, 405, 406, 409, 413 and 415: a JSON {code, message} each, no stack trace", async () => {
    expectCleanError(await server.api.post("/v1/process/jobs", {}), 400, "invalid_request");
    expectCleanError(await apiClient(server.url, null).get("/v1/account/me"), 401, "unauthorized");

    const { job } = await runJob(server.api, { import: { operation: "import/base64", file: png.toString("base64"), filename: "e.png" }, export: { operation: "export/url", input: "import" } });
    const link = new URL(taskOf(job, "export").result.url);
    link.searchParams.set("signature", "A".repeat(43));
    const forbidden = await fetch(link);
    expectCleanError({ status: forbidden.status, headers: forbidden.headers, body: await forbidden.json() }, 403, "forbidden");

    expectCleanError(await server.api.get(`/v1/process/jobs/${crypto.randomUUID()}`), 404, "not_found");
    expectCleanError(await server.api.request("PUT", "/v1/account/me"), 405, "method_not_allowed");
    expectCleanError(await server.api.request("GET", "/v1/account/me", undefined, { accept: "text/html" }), 406, "not_acceptable");

    const { form } = await createUpload(server.api);
    expect((await uploadLikeCurl(form, png, "once.png")).status).toBe(200);
    expectCleanError(await uploadLikeCurl(form, png, "twice.png"), 409, "upload_finished");

    const huge = JSON.stringify({ tag: "x".repeat(2 * 1024 * 1024) });
    expectCleanError(await server.api.request("POST", "/v1/process/import/upload", huge), 413, "payload_too_large");

    const { form: other } = await createUpload(server.api);
    const plain = await fetch(other.url, { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
    expectCleanError({ status: plain.status, headers: plain.headers, body: await plain.json() }, 415, "unsupported_media_type");
  });

  it("500 when something breaks under a running server (its database closed): internal_error, nothing of the cause", async () => {
    const doomed = await startServer();
    try {
      const id = (await doomed.api.post("/v1/process/import/upload")).body.id;
      expect((await doomed.api.get(`/v1/process/tasks/${id}`)).status).toBe(200); // the key is cached now
      await doomed.app.db.close();
      const broken = await doomed.api.get(`/v1/process/tasks/${id}`);
      expectCleanError(broken, 500, "internal_error");
      expect(broken.body.message).toBe("Something went wrong on our side; the operator's log has the details.");
    } finally {
      await doomed.close().catch(() => undefined);
    }
  });
});
