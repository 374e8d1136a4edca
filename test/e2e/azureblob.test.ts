/**
 * import/azureblob and export/azureblob against a real Azure Blob Storage emulator (Azurite on
 * loopback, test/support/azurite-server.ts): a PNG imported, converted and exported with
 * metadata, read back and decoded; account-key and SAS credentials; a prefix import and the
 * blob name templates; a 20 MB file staged in blocks; and the failures (a wrong key, which
 * Azurite refuses by its signature; an expired and a too narrow SAS; missing container and
 * blob; the outbound policy; proxies from the environment; size and time limits; bad payloads),
 * with the credentials never shown.
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { ContainerSASPermissions, StorageSharedKeyCredential, generateBlobSASQueryParameters } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scrubAzureSecrets, toAzureAppError } from "../../packages/operations/dist/azure-client.js";
import { startAzurite, type TestAzurite } from "../support/azurite-server.js";
import type { TestServer } from "../support/harness.js";
import { decode, eventually, expectColor, expectError, expectTaskFailed, makePng, runJob, startServer, taskOf } from "./helpers.js";

/** A small import cap, so the size limit is quick to reach on the `limited` server. */
const MAX_BYTES = 100_000;

let server: TestServer;
let closed: TestServer;
let limited: TestServer;
let azure: TestAzurite;
let png: Buffer;

/** The connection fields of a task on the test Azurite, with the account key. */
const connection = (overrides: Record<string, unknown> = {}) => ({
  endpoint: azure.endpoint,
  storage_account: azure.account,
  storage_access_key: azure.accountKey,
  ...overrides,
});

/** The connection fields with a SAS token instead of the key. */
const sasConnection = (sas: string, overrides: Record<string, unknown> = {}) => ({
  endpoint: azure.endpoint,
  storage_account: azure.account,
  sas_token: sas,
  ...overrides,
});

/** A container SAS signed with the account key. */
function sas(container: string, permissions: string, expiresInMs = 3600_000): string {
  const now = Date.now();
  return generateBlobSASQueryParameters(
    { containerName: container, permissions: ContainerSASPermissions.parse(permissions), startsOn: new Date(now - 2 * 3600_000), expiresOn: new Date(now + expiresInMs) },
    new StorageSharedKeyCredential(azure.account, azure.accountKey),
  ).toString();
}

async function put(container: string, blob: string, body: Buffer, contentType = "image/png"): Promise<void> {
  await azure.client.getContainerClient(container).getBlockBlobClient(blob).uploadData(body, { blobHTTPHeaders: { blobContentType: contentType } });
}

async function get(container: string, blob: string): Promise<{ body: Buffer; contentType: string | undefined; metadata: Record<string, string> }> {
  const client = azure.client.getContainerClient(container).getBlobClient(blob);
  const body = await client.downloadToBuffer();
  const props = await client.getProperties();
  return { body, contentType: props.contentType, metadata: props.metadata ?? {} };
}

async function listBlobs(container: string, prefix: string): Promise<string[]> {
  const names: string[] = [];
  for await (const item of azure.client.getContainerClient(container).listBlobsFlat({ prefix })) names.push(item.name);
  return names.sort();
}

/** Every view of a job and its tasks, as the API answers them. */
async function views(api: TestServer["api"], job: any): Promise<string[]> {
  const out = [JSON.stringify(job)];
  for (const task of job.tasks) out.push(JSON.stringify((await api.get(`/v1/process/tasks/${task.id}`)).body));
  return out;
}

beforeAll(async () => {
  png = await makePng(40, 30, [200, 30, 30]);
  // Settled, not Promise.all: when one fails to start, the others are still closed by afterAll.
  const started = await Promise.allSettled([
    startServer().then((s) => (server = s)),
    startServer({ TRANSMUTE_OUTBOUND_ALLOW: "" }).then((s) => (closed = s)),
    startServer({ TRANSMUTE_IMPORT_URL_MAX_BYTES: String(MAX_BYTES) }).then((s) => (limited = s)),
    startAzurite(["source", "dest", "sasdest"]).then((a) => (azure = a)),
  ]);
  for (const r of started) if (r.status === "rejected") throw r.reason;
  await put("source", "in/photo.png", png);
  for (const [name, rgb] of [["c.png", [0, 0, 250]], ["a.png", [250, 0, 0]], ["b.png", [0, 250, 0]]] as const) {
    await put("source", `batch/${name}`, await makePng(8 + name.charCodeAt(0) - 97, 8, [...rgb]));
  }
  // A "folder" marker, as some tools create: not a file.
  await put("source", "batch/sub/", Buffer.alloc(0), "application/x-directory");
  await put("source", "over/big.bin", randomBytes(MAX_BYTES + 1), "application/octet-stream");
}, 120_000);

afterAll(async () => {
  await Promise.all([server?.close(), closed?.close(), limited?.close(), azure?.close()]);
});

describe("import/azureblob -> convert -> export/azureblob", () => {
  it("imports a PNG with the account key, converts it to WebP and exports it with metadata; the blob decodes as that WebP", async () => {
    const { job } = await runJob(server.api, {
      imp: { operation: "import/azureblob", ...connection(), container: "source", blob: "in/photo.png" },
      conv: { operation: "convert", input: "imp", output_format: "webp" },
      exp: { operation: "export/azureblob", input: "conv", ...connection(), container: "dest", blob: "out/photo.webp", metadata: { origin: "transmute", Job_Kind: "e2e" } },
    });
    expect(job.status, JSON.stringify(job)).toBe("completed");
    expect(taskOf(job, "imp").result.files).toEqual([{ filename: "photo.png", size: png.length, content_type: "image/png" }]);
    expect(taskOf(job, "imp").result.blobs).toEqual(["in/photo.png"]);
    const { body, contentType, metadata } = await get("dest", "out/photo.webp");
    const image = await decode(body);
    expect([image.format, image.width, image.height]).toEqual(["webp", 40, 30]);
    expectColor(image.pixel(20, 15), [200, 30, 30]);
    expect(contentType).toBe("image/webp");
    expect(Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k.toLowerCase(), v]))).toEqual({ origin: "transmute", job_kind: "e2e" });
    const exp = taskOf(job, "exp");
    expect(exp.result.blobs).toEqual([{ blob: "out/photo.webp", size: body.length, etag: expect.any(String), blocks: 1 }]);
    for (const view of await views(server.api, job)) expect(view).not.toContain(azure.accountKey);
    expect(exp.payload.storage_access_key).toBe("*****");
    expect(taskOf(job, "imp").payload.storage_access_key).toBe("*****");
  });

  it("imports and exports with SAS tokens (read/list and create/write), never showing them", async () => {
    const readSas = sas("source", "rl");
    const writeSas = `?${sas("sasdest", "cw")}`;
    const { job } = await runJob(server.api, {
      imp: { operation: "import/azureblob", ...sasConnection(readSas), container: "source", blob: "in/photo.png", filename: "renamed.png" },
      exp: { operation: "export/azureblob", input: "imp", ...sasConnection(writeSas), container: "sasdest", blob_prefix: "", filename: "fc.png" },
    });
    expect(job.status, JSON.stringify(job)).toBe("completed");
    expect(taskOf(job, "imp").result.files[0].filename).toBe("renamed.png");
    expect((await get("sasdest", "fc.png")).body.equals(png)).toBe(true);
    const signature = new URLSearchParams(readSas).get("sig")!;
    for (const view of await views(server.api, job)) {
      for (const hidden of [readSas, writeSas, signature, encodeURIComponent(signature)]) expect(view).not.toContain(hidden);
    }
    expect(taskOf(job, "imp").payload.sas_token).toBe("*****");
    expect(taskOf(job, "exp").payload.sas_token).toBe("*****");
  });
});

describe("blob_prefix and blob name templates", () => {
  it("imports every blob under a prefix in name order, skipping folder markers, and exports them by template, into folders and numbered", async () => {
    const { job } = await runJob(server.api, {
      imp: { operation: "import/azureblob", ...connection(), container: "source", blob_prefix: "batch/" },
      tpl: { operation: "export/azureblob", input: "imp", ...connection(), container: "dest", blob: "tpl/{n}-{filename}" },
      dir: { operation: "export/azureblob", input: "imp", ...connection(), container: "dest", blob: "dir/" },
      plain: { operation: "export/azureblob", input: "imp", ...connection(), container: "dest", blob: "plain/x.png" },
      pre: { operation: "export/azureblob", input: "imp", ...connection(), container: "dest", blob_prefix: "pre/{x}/" },
    });
    expect(job.status, JSON.stringify(job)).toBe("completed");
    expect(taskOf(job, "imp").result.files.map((f: any) => f.filename)).toEqual(["a.png", "b.png", "c.png"]);
    expect(taskOf(job, "imp").result.blobs).toEqual(["batch/a.png", "batch/b.png", "batch/c.png"]);
    expect(await listBlobs("dest", "tpl/")).toEqual(["tpl/1-a.png", "tpl/2-b.png", "tpl/3-c.png"]);
    expect(await listBlobs("dest", "dir/")).toEqual(["dir/a.png", "dir/b.png", "dir/c.png"]);
    expect(await listBlobs("dest", "plain/")).toEqual(["plain/x-2.png", "plain/x-3.png", "plain/x.png"]);
    expect(await listBlobs("dest", "pre/")).toEqual(["pre/{x}/a.png", "pre/{x}/b.png", "pre/{x}/c.png"]);
    // Each blob holds its own file: b.png is the green one, 9 px wide.
    const green = await decode((await get("dest", "tpl/2-b.png")).body);
    expect([green.width, green.pixel(0, 0)]).toEqual([9, [0, 250, 0]]);
    expect(taskOf(job, "dir").result.blobs.map((o: any) => o.blob)).toEqual(["dir/a.png", "dir/b.png", "dir/c.png"]);
  });
});

describe("large files", () => {
  it("uploads a 20 MB file in three staged 8 MiB blocks and the blob is byte-identical", async () => {
    const data = randomBytes(20 * 1024 * 1024);
    await put("source", "big/random.bin", data, "application/octet-stream");
    const before = azure.requests.length;
    const { job } = await runJob(server.api, {
      imp: { operation: "import/azureblob", ...connection(), container: "source", blob: "big/random.bin" },
      exp: { operation: "export/azureblob", input: "imp", ...connection(), container: "dest", blob: "big/copy.bin" },
    });
    expect(job.status, JSON.stringify(job)).toBe("completed");
    const sent = azure.requests.slice(before).filter((r) => r.includes("/dest/big/copy.bin"));
    expect(sent.filter((r) => r.startsWith("PUT") && r.includes("comp=block&") && r.endsWith(" 201"))).toHaveLength(3);
    expect(sent.filter((r) => r.startsWith("PUT") && r.includes("comp=blocklist"))).toHaveLength(1);
    const blocks = await azure.client.getContainerClient("dest").getBlockBlobClient("big/copy.bin").getBlockList("committed");
    expect(blocks.committedBlocks?.map((b) => b.size)).toEqual([8 * 1024 * 1024, 8 * 1024 * 1024, 4 * 1024 * 1024]);
    expect(taskOf(job, "exp").result.blobs[0]).toMatchObject({ blob: "big/copy.bin", size: data.length, blocks: 3 });
    const copy = (await get("dest", "big/copy.bin")).body;
    expect(createHash("sha256").update(copy).digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
  });

  it("refuses a blob over the import limit (payload_too_large), alone or under a prefix", async () => {
    const { job } = await runJob(limited.api, {
      one: { operation: "import/azureblob", ...connection(), container: "source", blob: "over/big.bin" },
      prefix: { operation: "import/azureblob", ...connection(), container: "source", blob_prefix: "over/" },
    });
    expectTaskFailed(taskOf(job, "one"), "payload_too_large");
    expect(taskOf(job, "one").message).toContain("over/big.bin");
    expectTaskFailed(taskOf(job, "prefix"), "payload_too_large");
  });
});

describe("failures", () => {
  it("refuses a wrong account key by its signature (import: download_failed, export: processing_failed) and never shows it", async () => {
    const wrongKey = randomBytes(32).toString("base64");
    const before = await listBlobs("dest", "never");
    const { job } = await runJob(server.api, {
      imp: { operation: "import/azureblob", ...connection({ storage_access_key: wrongKey }), container: "source", blob: "in/photo.png" },
      ok: { operation: "import/azureblob", ...connection(), container: "source", blob: "in/photo.png" },
      exp: { operation: "export/azureblob", input: "ok", ...connection({ storage_access_key: wrongKey }), container: "dest", blob: "never.png" },
    });
    const imp = taskOf(job, "imp");
    expectTaskFailed(imp, "download_failed");
    expect(imp.message).toMatch(/refused the account key for container "source"/);
    const exp = taskOf(job, "exp");
    expectTaskFailed(exp, "processing_failed");
    expect(exp.message).toMatch(/refused the account key for container "dest"/);
    for (const view of await views(server.api, job)) expect(view).not.toContain(wrongKey);
    expect(imp.payload.storage_access_key).toBe("*****");
    expect(await listBlobs("dest", "never")).toEqual(before);
  });

  it("refuses an expired SAS and a SAS without the permission needed (download_failed / processing_failed)", async () => {
    const expired = sas("source", "rl", -3600_000);
    const readOnly = sas("dest", "rl");
    const { job } = await runJob(server.api, {
      old: { operation: "import/azureblob", ...sasConnection(expired), container: "source", blob: "in/photo.png" },
      ok: { operation: "import/azureblob", ...connection(), container: "source", blob: "in/photo.png" },
      narrow: { operation: "export/azureblob", input: "ok", ...sasConnection(readOnly), container: "dest", blob: "sas-never.png" },
    });
    expectTaskFailed(taskOf(job, "old"), "download_failed");
    expect(taskOf(job, "old").message).toMatch(/refused the SAS token for container "source"/);
    expectTaskFailed(taskOf(job, "narrow"), "processing_failed");
    expect(taskOf(job, "narrow").message).toMatch(/refused the SAS token for container "dest"/);
    for (const view of await views(server.api, job)) {
      for (const token of [expired, readOnly]) {
        expect(view).not.toContain(token);
        expect(view).not.toContain(new URLSearchParams(token).get("sig")!);
      }
    }
    expect(await listBlobs("dest", "sas-never")).toEqual([]);
  });

  it("names a missing container, a missing blob and an empty prefix (download_failed), and a missing export container (processing_failed)", async () => {
    const { job } = await runJob(server.api, {
      nocontainer: { operation: "import/azureblob", ...connection(), container: "no-such-container", blob: "in/photo.png" },
      noblob: { operation: "import/azureblob", ...connection(), container: "source", blob: "in/nothing-here.png" },
      noprefix: { operation: "import/azureblob", ...connection(), container: "source", blob_prefix: "empty/" },
      ok: { operation: "import/azureblob", ...connection(), container: "source", blob: "in/photo.png" },
      nodest: { operation: "export/azureblob", input: "ok", ...connection(), container: "no-such-dest", blob: "x.png" },
    });
    expectTaskFailed(taskOf(job, "nocontainer"), "download_failed");
    expect(taskOf(job, "nocontainer").message).toContain('container "no-such-container"');
    expectTaskFailed(taskOf(job, "noblob"), "download_failed");
    expect(taskOf(job, "noblob").message).toContain('blob "in/nothing-here.png" in container "source"');
    expectTaskFailed(taskOf(job, "noprefix"), "download_failed");
    expect(taskOf(job, "noprefix").message).toContain("empty/");
    expectTaskFailed(taskOf(job, "nodest"), "processing_failed");
    expect(taskOf(job, "nodest").message).toContain('container "no-such-dest"');
  });

  it("refuses an endpoint the outbound policy refuses (outbound_refused), and Azurite sees no request", async () => {
    const before = azure.requests.length;
    const { job } = await runJob(closed.api, {
      imp: { operation: "import/azureblob", ...connection(), container: "source", blob: "in/photo.png" },
      up: { operation: "import/base64", file: png.toString("base64"), filename: "p.png" },
      exp: { operation: "export/azureblob", input: "up", ...sasConnection(sas("dest", "cw")), container: "dest", blob: "refused.png" },
    });
    const imp = taskOf(job, "imp");
    expectTaskFailed(imp, "outbound_refused");
    expect(imp.message).toContain("127.0.0.1");
    expectTaskFailed(taskOf(job, "exp"), "outbound_refused");
    for (const view of await views(closed.api, job)) expect(view).not.toContain(azure.accountKey);
    expect(azure.requests.length).toBe(before);
  });

  it("never goes through a proxy from the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY)", async () => {
    const proxied: string[] = [];
    const proxy = await listen((req, res) => {
      proxied.push(`${req.method} ${req.url}`);
      res.writeHead(502).end();
    });
    const saved = { HTTP_PROXY: process.env.HTTP_PROXY, HTTPS_PROXY: process.env.HTTPS_PROXY, ALL_PROXY: process.env.ALL_PROXY, NO_PROXY: process.env.NO_PROXY };
    try {
      Object.assign(process.env, { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, ALL_PROXY: proxy.url });
      delete process.env.NO_PROXY;
      const { job } = await runJob(server.api, {
        imp: { operation: "import/azureblob", ...connection(), container: "source", blob: "in/photo.png" },
        exp: { operation: "export/azureblob", input: "imp", ...connection(), container: "dest", blob: "noproxy/photo.png" },
      });
      expect(job.status, JSON.stringify(job)).toBe("completed");
      expect(proxied).toEqual([]);
      expect((await get("dest", "noproxy/photo.png")).body.equals(png)).toBe(true);
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      await proxy.close();
    }
  });

  it("stops a service that never answers at the task's time limit (engine_timeout), import and export, and closes the connections", async () => {
    const sockets: Socket[] = [];
    const store = await listen(() => undefined);
    store.server.on("connection", (socket) => sockets.push(socket));
    try {
      const silent = connection({ endpoint: `${store.url}/${azure.account}` });
      const { job } = await runJob(server.api, {
        imp: { operation: "import/azureblob", ...silent, container: "source", blob: "k.png", timeout: 1 },
        up: { operation: "import/base64", file: png.toString("base64"), filename: "p.png" },
        // uploadStream's block uploads take no abort signal: the session closes their sockets.
        exp: { operation: "export/azureblob", input: "up", ...silent, container: "dest", blob: "k.png", timeout: 1 },
      });
      expectTaskFailed(taskOf(job, "imp"), "engine_timeout");
      expectTaskFailed(taskOf(job, "exp"), "engine_timeout");
      expect(sockets.length).toBeGreaterThan(0);
      await eventually(() => sockets.every((s) => s.destroyed || s.readableEnded), 5000, "the client to close its connections");
    } finally {
      await store.close();
    }
  });

  it("cancels an export whose block upload hangs: the task ends canceled and its connections are closed", async () => {
    const sockets: Socket[] = [];
    const received: string[] = [];
    // Reads the staged block and never answers, as a stalled service would.
    const store = await listen((req) => {
      received.push(`${req.method} ${req.url}`);
      req.resume();
    });
    store.server.on("connection", (socket) => sockets.push(socket));
    try {
      const res = await server.api.post("/v1/process/jobs", {
        tasks: {
          up: { operation: "import/base64", file: png.toString("base64"), filename: "p.png" },
          exp: { operation: "export/azureblob", input: "up", ...connection({ endpoint: `${store.url}/${azure.account}` }), container: "dest", blob: "hang.png" },
        },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      await eventually(() => received.some((r) => r.startsWith("PUT") && r.includes("comp=block")), 15_000, "the block upload to start");
      const exp = (res.body.tasks as any[]).find((t) => t.name === "exp");
      const canceled = await server.api.post(`/v1/process/tasks/${exp.id}/cancel`, {});
      expect(canceled.status, JSON.stringify(canceled.body)).toBe(200);
      const job = (await server.api.get(`/v1/process/jobs/${res.body.id}/wait`)).body;
      expect(taskOf(job, "exp").status).toBe("canceled");
      await eventually(() => sockets.every((s) => s.destroyed || s.readableEnded), 5000, "the client to close its connections");
      expect(received.filter((r) => r.includes("comp=blocklist"))).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("refuses bad payloads at job creation (400 invalid_payload) without echoing a credential", async () => {
    const key = azure.accountKey;
    const token = sas("source", "r");
    const imp = (fields: Record<string, unknown>) => ({ operation: "import/azureblob", endpoint: azure.endpoint, storage_account: azure.account, container: "source", ...fields });
    const exp = (fields: Record<string, unknown>) => ({ operation: "export/azureblob", input: "x", endpoint: azure.endpoint, storage_account: azure.account, container: "dest", storage_access_key: key, ...fields });
    const cases: Array<[Record<string, unknown>, string]> = [
      [imp({ storage_access_key: key, sas_token: token, blob: "a" }), "not both"],
      [imp({ blob: "a" }), "not neither"],
      [imp({ storage_access_key: key }), '"blob_prefix"'],
      [imp({ storage_access_key: key, blob: "a", blob_prefix: "b/" }), "not both"],
      [imp({ storage_access_key: "not base64 !", blob: "a" }), "storage_access_key"],
      [imp({ sas_token: "https://x.blob.core.windows.net/c?sig=abc", blob: "a" }), "sas_token"],
      [imp({ storage_access_key: key, blob: "a", endpoint: "ftp://127.0.0.1/x" }), "endpoint"],
      [imp({ storage_access_key: key, blob: "a", endpoint: `${azure.endpoint}?${token}` }), "endpoint"],
      [imp({ storage_access_key: key, blob: "a", container: "Bad_Name" }), "container"],
      [imp({ storage_access_key: key, blob: "a", storage_account: "UPPER" }), "storage_account"],
      [exp({ blob: "a", metadata: { "bad-name": "x" } }), "bad-name"],
      [exp({ blob: "a", metadata: { n: 5 } }), "metadata"],
      [exp({ blob: "a", metadata: { n: "caf\u00e9" } }), "metadata.n"],
      [exp({ blob: "a", metadata: { Name: "a", name: "b" } }), "twice"],
      [exp({ blob: "a", metadata: { big: "x".repeat(9000) } }), "8192"],
      [exp({ blob: "a", metadata: ["x"] }), "metadata"],
      [exp({}), "not neither"],
      [exp({ blob: "a", filename: "b.png" }), "filename"],
    ];
    for (const [task, part] of cases) {
      const input = task.input ? { x: { operation: "import/base64", file: "AA==", filename: "x.bin" } } : {};
      const res = await server.api.post("/v1/process/jobs", { tasks: { ...input, t: task } });
      expectError(res, 400, "invalid_payload", part);
      expect(JSON.stringify(res.body)).not.toContain(key);
      expect(JSON.stringify(res.body)).not.toContain(new URLSearchParams(token).get("sig")!);
    }
    // The standalone task endpoint validates the same way.
    expectError(await server.api.post("/v1/process/import/azureblob", imp({ blob: "a" })), 400, "invalid_payload", "not neither");
  });
});

describe("credential scrubbing", () => {
  it("keeps account keys, SAS tokens and SAS signatures inside URLs out of every message and detail", () => {
    const sasToken = "sv=2025-01-05&se=2030-01-01T00%3A00%3A00Z&sr=c&sp=r&sig=AbC%2Bdef%2F123ghiJKL%3D";
    const conn = { account: "acct", container: "box", serviceUrl: "https://acct.blob.core.windows.net", accountKey: undefined, sasToken };
    const signal = new AbortController().signal;
    // As the SDK reports a failed request: its URL, with the SAS, in the message.
    const sdkError = Object.assign(new Error(`connect ECONNRESET for https://acct.blob.core.windows.net/box/a.png?${sasToken}`), { name: "RestError", code: "ECONNRESET" });
    const mapped = toAzureAppError(sdkError, { direction: "import", conn, blob: "a.png", signal });
    expect(mapped.code).toBe("download_failed");
    expect(mapped.message).toContain("acct.blob.core.windows.net");
    const shown = `${mapped.message} ${mapped.detail ?? ""}`;
    for (const hidden of [sasToken, "AbC%2Bdef%2F123ghiJKL%3D", "AbC+def/123ghiJKL="]) expect(shown).not.toContain(hidden);
    expect(shown).toContain("a.png?*****");
    // A signature alone (another token's, as an SDK log line shows it), and an account key, URL-encoded or not.
    const key = randomBytes(32).toString("base64");
    const text = `Authorization: SharedKey acct:${key} url=https://x/y?sp=r&sig=Zz9%2B other ${encodeURIComponent(key)}`;
    const scrubbed = scrubAzureSecrets(text, { accountKey: key, sasToken: undefined });
    for (const hidden of [key, encodeURIComponent(key), "Zz9%2B"]) expect(scrubbed).not.toContain(hidden);
    expect(scrubbed).toContain("&sig=*****");
  });
});

/** A loopback HTTP server answering with `handle`. */
async function listen(handle: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer(handle!);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
