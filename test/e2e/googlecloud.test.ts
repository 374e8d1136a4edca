/**
 * import/googlecloud and export/googlecloud with the official @google-cloud/storage client
 * against a loopback GCS stand-in (test/support/gcs-server.ts) whose token endpoint verifies the
 * service account's signed assertion: a PNG imported, converted and exported, read back and
 * decoded; a prefix import over several list pages and object-name templates; a 20 MB
 * resumable upload in chunks; and the failures (a wrong key, missing bucket and object, access
 * denied, the import cap, the outbound policy, bad payloads), with the private key never shown.
 * Every node:http request the process makes during a job is watched, to show that the client
 * talks to the stand-in only (no metadata server, no Google endpoint).
 */
import { createHash, randomBytes } from "node:crypto";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { createServer, type ClientRequest } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestServer } from "../support/harness.js";
import { makeServiceAccount, startGcsServer, type ServiceAccount, type TestGcsServer } from "../support/gcs-server.js";
import { decode, eventually, expectColor, expectError, expectTaskFailed, makePng, runJob, startServer, taskOf, waitJob } from "./helpers.js";

/** A small import cap for the server that tests it. */
const MAX_BYTES = 50_000;

let server: TestServer;
let closed: TestServer;
let limited: TestServer;
let gcs: TestGcsServer;
let account: ServiceAccount;
let png: Buffer;

/** Every node:http(s) client request made in this process while recording: "METHOD host/path". */
const outgoing: string[] = [];
const onRequest = (message: unknown) => {
  const request = (message as { request: ClientRequest }).request;
  outgoing.push(`${request.method} ${String(request.getHeader("host"))}${request.path}`);
};

/** The connection fields of a task on the stand-in, as the service account. */
const connection = (overrides: Record<string, unknown> = {}) => ({
  project_id: "test-project",
  client_email: account.clientEmail,
  private_key: account.privateKey,
  endpoint: gcs.endpoint,
  token_uri: gcs.tokenUri,
  ...overrides,
});

async function object(bucket: string, name: string): Promise<Buffer> {
  const found = await gcs.getObject(bucket, name);
  expect(found, `object ${bucket}/${name}`).not.toBeNull();
  return found!.data;
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

beforeAll(async () => {
  png = await makePng(40, 30, [200, 30, 30]);
  account = makeServiceAccount();
  // Settled, not Promise.all: when one fails to start, the others are still closed by afterAll.
  const started = await Promise.allSettled([
    startServer().then((s) => (server = s)),
    startServer({ TRANSMUTE_OUTBOUND_ALLOW: "" }).then((s) => (closed = s)),
    startServer({ TRANSMUTE_IMPORT_URL_MAX_BYTES: String(MAX_BYTES) }).then((s) => (limited = s)),
    startGcsServer(["source", "dest", { name: "locked", readers: ["someone-else@test-project.iam.gserviceaccount.com"], writers: [] }]).then((s) => (gcs = s)),
  ]);
  for (const r of started) if (r.status === "rejected") throw r.reason;
  gcs.addServiceAccount(account);
  await gcs.putObject("source", "in/photo.png", png, "image/png");
  await gcs.putObject("locked", "secret.png", png, "image/png");
  for (const [name, rgb] of [["c.png", [0, 0, 250]], ["a.png", [250, 0, 0]], ["b.png", [0, 250, 0]]] as const) {
    await gcs.putObject("source", `batch/${name}`, await makePng(8 + name.charCodeAt(0) - 97, 8, [...rgb]), "image/png");
  }
  // A "folder" placeholder, as the console creates: not a file.
  await gcs.putObject("source", "batch/sub/", Buffer.alloc(0), "application/x-directory");
  subscribe("http.client.request.start", onRequest);
});

afterAll(async () => {
  unsubscribe("http.client.request.start", onRequest);
  await Promise.all([server?.close(), closed?.close(), limited?.close(), gcs?.close()]);
});

describe("import/googlecloud -> convert -> export/googlecloud", () => {
  it("imports a PNG, converts it to WebP and exports both; the objects decode, and only the stand-in was contacted", async () => {
    const requestsBefore = gcs.requests.length;
    outgoing.length = 0;
    const { job } = await runJob(server.api, {
      imp: { operation: "import/googlecloud", ...connection(), bucket: "source", file: "in/photo.png" },
      conv: { operation: "convert", input: "imp", output_format: "webp" },
      exp: { operation: "export/googlecloud", input: "conv", ...connection(), bucket: "dest", file: "out/photo.webp" },
      raw: { operation: "export/googlecloud", input: "imp", ...connection(), bucket: "dest", file: "out/copy.png" },
    });
    expect(job.status, JSON.stringify(job)).toBe("completed");
    expect(taskOf(job, "imp").result.files).toEqual([{ filename: "photo.png", size: png.length, content_type: "image/png" }]);
    expect(taskOf(job, "imp").result.objects).toEqual(["in/photo.png"]);

    const webp = await gcs.getObject("dest", "out/photo.webp");
    const image = await decode(webp!.data);
    expect([image.format, image.width, image.height]).toEqual(["webp", 40, 30]);
    expectColor(image.pixel(20, 15), [200, 30, 30]);
    expect(webp!.object.contentType).toBe("image/webp");
    const exp = taskOf(job, "exp");
    expect(exp.result).toEqual({
      files: [],
      bucket: "dest",
      objects: [{ file: "out/photo.webp", size: webp!.data.length, generation: webp!.object.generation, md5_hash: createHash("md5").update(webp!.data).digest("base64"), crc32c: webp!.object.crc32c, upload: "multipart", chunks: 1 }],
    });
    // The imported file went back out unchanged, byte for byte.
    expect(sha256(await object("dest", "out/copy.png"))).toBe(sha256(png));

    // The token endpoint was asked, and every storage call carried its token.
    const sent = gcs.requests.slice(requestsBefore);
    expect(sent.filter((r) => r.method === "POST" && r.url === "/token").length).toBeGreaterThanOrEqual(1);
    expect(sent.filter((r) => r.url !== "/token").every((r) => r.authorized)).toBe(true);
    expect(sent.some((r) => r.method === "GET" && r.url.startsWith("/storage/v1/b/source/o/in%2Fphoto.png?") && r.url.includes("alt=media"))).toBe(true);
    expect(sent.filter((r) => r.method === "POST" && r.url.startsWith("/upload/storage/v1/b/dest/o?") && r.url.includes("uploadType=multipart"))).toHaveLength(2);
    // No other destination: no metadata server (169.254.169.254), no Google endpoint.
    const host = new URL(gcs.endpoint).host;
    expect(outgoing.length).toBe(sent.length);
    expect(outgoing.filter((r) => !r.split(" ")[1]!.startsWith(`${host}/`))).toEqual([]);

    for (const name of ["imp", "exp", "raw"]) {
      const task = taskOf(job, name);
      expect(task.payload.private_key).toBe("*****");
      expect(task.payload.client_email).toBe(account.clientEmail);
      const view = await server.api.get(`/v1/process/tasks/${task.id}`);
      for (const text of [JSON.stringify(view.body), JSON.stringify(job)]) {
        expect(text).not.toContain(account.privateKey.split("\n")[1]!);
        expect(text).not.toContain("PRIVATE KEY");
      }
    }
  });
});

describe("file_prefix and object-name templates", () => {
  it("imports every object under a prefix over several list pages, in name order, skipping folder placeholders, and exports them by template, into a folder and numbered", async () => {
    gcs.setMaxPageSize(2);
    const before = gcs.requests.length;
    try {
      const { job } = await runJob(server.api, {
        imp: { operation: "import/googlecloud", ...connection(), bucket: "source", file_prefix: "batch/" },
        tpl: { operation: "export/googlecloud", input: "imp", ...connection(), bucket: "dest", file: "tpl/{n}-{filename}" },
        dir: { operation: "export/googlecloud", input: "imp", ...connection(), bucket: "dest", file: "dir/" },
        plain: { operation: "export/googlecloud", input: "imp", ...connection(), bucket: "dest", file: "plain/x.png" },
      });
      expect(job.status, JSON.stringify(job)).toBe("completed");
      expect(taskOf(job, "imp").result.files.map((f: any) => f.filename)).toEqual(["a.png", "b.png", "c.png"]);
      expect(taskOf(job, "imp").result.objects).toEqual(["batch/a.png", "batch/b.png", "batch/c.png"]);
      const lists = gcs.requests.slice(before).filter((r) => r.method === "GET" && r.url.startsWith("/storage/v1/b/source/o?"));
      // a.png, b.png | c.png, sub/ (the placeholder is listed, then skipped).
      expect(lists.length).toBe(2);
      expect(lists.slice(1).every((r) => r.url.includes("pageToken="))).toBe(true);
    } finally {
      gcs.setMaxPageSize(1000);
    }
    expect(gcs.objectNames("dest", "tpl/")).toEqual(["tpl/1-a.png", "tpl/2-b.png", "tpl/3-c.png"]);
    expect(gcs.objectNames("dest", "dir/")).toEqual(["dir/a.png", "dir/b.png", "dir/c.png"]);
    expect(gcs.objectNames("dest", "plain/")).toEqual(["plain/x-2.png", "plain/x-3.png", "plain/x.png"]);
    // Each object holds its own file: b.png is the green one, 9 px wide.
    const green = await decode(await object("dest", "tpl/2-b.png"));
    expect([green.width, green.pixel(0, 0)]).toEqual([9, [0, 250, 0]]);
  });
});

describe("large files", () => {
  it("round-trips 20 MB byte-identical: streamed download, resumable upload in three 8 MiB-bounded chunks", async () => {
    const data = randomBytes(20 * 1024 * 1024);
    await gcs.putObject("source", "big/random.bin", data);
    const before = gcs.requests.length;
    outgoing.length = 0;
    const { job } = await runJob(server.api, {
      imp: { operation: "import/googlecloud", ...connection(), bucket: "source", file: "big/random.bin" },
      exp: { operation: "export/googlecloud", input: "imp", ...connection(), bucket: "dest", file: "big/copy.bin" },
    });
    expect(job.status, JSON.stringify(job)).toBe("completed");
    const sent = gcs.requests.slice(before);
    expect(sent.filter((r) => r.method === "POST" && r.url.includes("/upload/storage/v1/b/dest/o?") && r.url.includes("uploadType=resumable"))).toHaveLength(1);
    const chunks = sent.filter((r) => r.method === "PUT" && r.url.includes("upload_id="));
    const mib8 = 8 * 1024 * 1024;
    expect(chunks.map((r) => r.contentRange)).toEqual([`bytes 0-${mib8 - 1}/*`, `bytes ${mib8}-${2 * mib8 - 1}/*`, `bytes ${2 * mib8}-${data.length - 1}/${data.length}`]);
    expect(taskOf(job, "exp").result.objects[0]).toMatchObject({ file: "big/copy.bin", size: data.length, upload: "resumable", chunks: 3 });
    expect(sha256(await object("dest", "big/copy.bin"))).toBe(sha256(data));
    expect(gcs.openUploads()).toBe(0);
    // The resumable requests (gaxios) went through the same client as the rest: only to the stand-in.
    expect(outgoing.length).toBe(sent.length);
    expect(outgoing.filter((r) => !r.split(" ")[1]!.startsWith(`${new URL(gcs.endpoint).host}/`))).toEqual([]);
    expect(sent.filter((r) => r.url !== "/token").every((r) => r.authorized)).toBe(true);
  });
});

describe("cancel", () => {
  it("a canceled export stops its resumable upload midway, cancels the session and leaves no object", async () => {
    await gcs.putObject("source", "big/nine.bin", randomBytes(9 * 1024 * 1024));
    gcs.setChunkDelay(3000);
    try {
      const created = await server.api.post("/v1/process/jobs", {
        tasks: {
          imp: { operation: "import/googlecloud", ...connection(), bucket: "source", file: "big/nine.bin" },
          exp: { operation: "export/googlecloud", input: "imp", ...connection(), bucket: "dest", file: "canceled/nine.bin" },
        },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const expId = (created.body.tasks as any[]).find((t) => t.name === "exp").id;
      const chunkSent = () => gcs.requests.some((r) => r.method === "PUT" && r.url.includes("name=canceled%2Fnine.bin") && r.contentRange !== undefined);
      await eventually(chunkSent, 20_000, "the first chunk to reach the stand-in");
      const canceled = await server.api.post(`/v1/process/tasks/${expId}/cancel`);
      expect(canceled.status, JSON.stringify(canceled.body)).toBe(200);
      const job = await waitJob(server.api, created.body.id);
      expect(taskOf(job, "exp").status).toBe("canceled");
      await eventually(() => gcs.openUploads() === 0, 10_000, "the upload session to be cancelled");
      expect(gcs.requests.some((r) => r.method === "DELETE" && r.url.includes("upload_id="))).toBe(true);
      expect(gcs.objectNames("dest", "canceled/")).toEqual([]);
    } finally {
      gcs.setChunkDelay(0);
    }
  });
});

describe("failures", () => {
  it("a private key that is not the account's: the token endpoint refuses it (download_failed, processing_failed), and the key is never shown", async () => {
    const impostor = makeServiceAccount(account.clientEmail);
    const before = gcs.requests.length;
    const { job } = await runJob(server.api, {
      imp: { operation: "import/googlecloud", ...connection({ private_key: impostor.privateKey }), bucket: "source", file: "in/photo.png" },
      ok: { operation: "import/googlecloud", ...connection(), bucket: "source", file: "in/photo.png" },
      exp: { operation: "export/googlecloud", input: "ok", ...connection({ private_key: impostor.privateKey }), bucket: "dest", file: "never.png" },
    });
    const imp = taskOf(job, "imp");
    expectTaskFailed(imp, "download_failed");
    expect(imp.message).toMatch(/token endpoint refused the service account's credentials \(invalid_grant\)/);
    const exp = taskOf(job, "exp");
    expectTaskFailed(exp, "processing_failed");
    expect(exp.message).toMatch(/token endpoint refused/);
    expect(gcs.objectNames("dest", "never")).toEqual([]);
    // Refused at the token endpoint: no storage call was even tried with it.
    const storageCalls = gcs.requests.slice(before).filter((r) => r.url !== "/token" && !r.authorized);
    expect(storageCalls).toEqual([]);
    const views = [JSON.stringify(job), JSON.stringify((await server.api.get(`/v1/process/tasks/${imp.id}`)).body), JSON.stringify((await server.api.get(`/v1/process/tasks/${exp.id}`)).body)];
    for (const view of views) {
      for (const line of impostor.privateKey.split("\n").filter((l) => l.length > 20)) expect(view).not.toContain(line);
      expect(view).not.toContain("PRIVATE KEY");
      expect(view).not.toMatch(/eyJ[\w-]+\.[\w-]+\./);
    }
    expect(imp.payload.private_key).toBe("*****");
  });

  it("names a missing bucket, a missing object and an empty prefix (download_failed), and access denied (403)", async () => {
    const { job } = await runJob(server.api, {
      nobucket: { operation: "import/googlecloud", ...connection(), bucket: "no-such-bucket-x", file: "in/photo.png" },
      noobject: { operation: "import/googlecloud", ...connection(), bucket: "source", file: "in/nothing-here.png" },
      noprefix: { operation: "import/googlecloud", ...connection(), bucket: "source", file_prefix: "empty/" },
      denied: { operation: "import/googlecloud", ...connection(), bucket: "locked", file: "secret.png" },
      ok: { operation: "import/googlecloud", ...connection(), bucket: "source", file: "in/photo.png" },
      expbucket: { operation: "export/googlecloud", input: "ok", ...connection(), bucket: "no-such-bucket-y", file: "x.png" },
      expdenied: { operation: "export/googlecloud", input: "ok", ...connection(), bucket: "locked", file: "x.png" },
    });
    expectTaskFailed(taskOf(job, "nobucket"), "download_failed");
    expect(taskOf(job, "nobucket").message).toBe('The bucket "no-such-bucket-x" does not exist.');
    expectTaskFailed(taskOf(job, "noobject"), "download_failed");
    expect(taskOf(job, "noobject").message).toBe('There is no object "in/nothing-here.png" in bucket "source".');
    expectTaskFailed(taskOf(job, "noprefix"), "download_failed");
    expect(taskOf(job, "noprefix").message).toContain('"empty/"');
    expectTaskFailed(taskOf(job, "denied"), "download_failed");
    expect(taskOf(job, "denied").message).toBe('The service account may not read object "secret.png" in bucket "locked" (access denied).');
    expectTaskFailed(taskOf(job, "expbucket"), "processing_failed");
    expect(taskOf(job, "expbucket").message).toContain('"no-such-bucket-y" does not exist');
    expectTaskFailed(taskOf(job, "expdenied"), "processing_failed");
    expect(taskOf(job, "expdenied").message).toContain("may not write");
    expect(gcs.objectNames("locked")).toEqual(["secret.png"]);
  });

  it("an object over the import cap fails with file_too_large before its content is asked for", async () => {
    await gcs.putObject("source", "big/over-cap.bin", randomBytes(MAX_BYTES + 1));
    const before = gcs.requests.length;
    const { job } = await runJob(limited.api, { imp: { operation: "import/googlecloud", ...connection(), bucket: "source", file: "big/over-cap.bin" } });
    const imp = taskOf(job, "imp");
    expectTaskFailed(imp, "file_too_large");
    expect(imp.message).toContain(`limit of ${MAX_BYTES} bytes`);
    expect(gcs.requests.slice(before).some((r) => r.url.includes("alt=media"))).toBe(false);
  });

  it("refuses an endpoint and token endpoint the outbound policy refuses (outbound_refused), and the stand-in sees no request", async () => {
    const before = gcs.requests.length;
    const { job } = await runJob(closed.api, {
      imp: { operation: "import/googlecloud", ...connection(), bucket: "source", file: "in/photo.png" },
      pre: { operation: "import/googlecloud", ...connection(), bucket: "source", file_prefix: "batch/" },
    });
    for (const name of ["imp", "pre"]) {
      const task = taskOf(job, name);
      expectTaskFailed(task, "outbound_refused");
      expect(task.message).toContain("127.0.0.1");
    }
    expect(gcs.requests.length).toBe(before);
  });

  it("stops a store that never answers at the task's time limit (engine_timeout) and closes its connections", async () => {
    const sockets: Socket[] = [];
    const silent = createServer(() => undefined);
    silent.on("connection", (socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      // The token endpoint is the silent one too: the first request of the task hangs.
      const { job } = await runJob(server.api, {
        imp: { operation: "import/googlecloud", ...connection({ endpoint: url, token_uri: `${url}/token` }), bucket: "source", file: "in/photo.png", timeout: 1 },
      });
      const imp = taskOf(job, "imp");
      expectTaskFailed(imp, "engine_timeout");
      expect(sockets.length).toBeGreaterThan(0);
      await eventually(() => sockets.every((s) => s.destroyed || s.readableEnded), 5000, "the client to close its connections");
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it("refuses to run while STORAGE_EMULATOR_HOST would redirect the client, and contacts nobody", async () => {
    const before = gcs.requests.length;
    process.env.STORAGE_EMULATOR_HOST = "http://127.0.0.1:9";
    try {
      const { job } = await runJob(server.api, { imp: { operation: "import/googlecloud", ...connection(), bucket: "source", file: "in/photo.png" } });
      const imp = taskOf(job, "imp");
      expectTaskFailed(imp, "internal_error");
      expect(imp.message).toContain("STORAGE_EMULATOR_HOST");
    } finally {
      delete process.env.STORAGE_EMULATOR_HOST;
    }
    expect(gcs.requests.length).toBe(before);
  });

  it("rejects bad payloads at creation with 400 invalid_payload", async () => {
    const base = { operation: "import/googlecloud", ...connection(), bucket: "source" };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...base, file: "a.png", private_key: undefined }, "private_key"],
      [{ ...base, file: "a.png", project_id: undefined }, "project_id"],
      [{ ...base, file: "a.png", file_prefix: "b/" }, "not both"],
      [{ ...base }, "not neither"],
      [{ ...base, file: "a.png", endpoint: "ftp://127.0.0.1/" }, '"endpoint" must be an http or https URL'],
      [{ ...base, file: "a.png", token_uri: "file:///etc/passwd" }, '"token_uri" must be an http or https URL'],
      [{ ...base, file: "a.png", endpoint: "not a url" }, '"endpoint" is not an absolute URL'],
      [{ ...base, file: "a.png", private_key: "hunter2-not-a-key" }, '"private_key" must be the PEM private key'],
      [{ ...base, operation: "export/googlecloud", input: [], file: undefined }, "file"],
    ];
    for (const [task, message] of cases) {
      const res = await server.api.post("/v1/process/jobs", { tasks: { t: task } });
      expectError(res, 400, "invalid_payload", message);
      expect(JSON.stringify(res.body)).not.toContain(account.privateKey.split("\n")[1]!);
      expect(JSON.stringify(res.body)).not.toContain("hunter2-not-a-key");
    }
  });
});
