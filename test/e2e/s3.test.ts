/**
 * import/s3 and export/s3 against a real S3-compatible server (s3rver on loopback): a PNG
 * imported, converted and exported, read back and decoded; a prefix import; key templates; a
 * 20 MB multipart upload; and the failures (credentials, missing bucket and key, outbound
 * policy), with the credentials never shown. s3rver checks the access key id but not V4
 * signatures, so a wrong secret alone is accepted there and is not tested against it.
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestServer } from "../support/harness.js";
import { S3RVER_CREDENTIALS, startS3Server, type TestS3Server } from "../support/s3-server.js";
import { decode, eventually, expectTaskFailed, makePng, runJob, startServer, taskOf } from "./helpers.js";

let server: TestServer;
let closed: TestServer;
let s3: TestS3Server;
let png: Buffer;

/** The connection fields of a task on the test s3rver. */
const connection = (overrides: Record<string, unknown> = {}) => ({
  endpoint: s3.endpoint,
  region: "us-east-1",
  access_key_id: S3RVER_CREDENTIALS.accessKeyId,
  secret_access_key: S3RVER_CREDENTIALS.secretAccessKey,
  ...overrides,
});

async function put(bucket: string, key: string, body: Buffer, contentType = "image/png"): Promise<void> {
  await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
}

async function get(bucket: string, key: string): Promise<{ body: Buffer; contentType: string | undefined }> {
  const res = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return { body: Buffer.from(await res.Body!.transformToByteArray()), contentType: res.ContentType };
}

async function listKeys(bucket: string, prefix: string): Promise<string[]> {
  const res = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (res.Contents ?? []).map((o) => o.Key!).sort();
}

beforeAll(async () => {
  png = await makePng(40, 30, [200, 30, 30]);
  // Settled, not Promise.all: when one fails to start, the others are still closed by afterAll.
  const started = await Promise.allSettled([
    startServer().then((s) => (server = s)),
    startServer({ TRANSMUTE_OUTBOUND_ALLOW: "" }).then((s) => (closed = s)),
    startS3Server(["source", "dest"]).then((s) => (s3 = s)),
  ]);
  for (const r of started) if (r.status === "rejected") throw r.reason;
  await put("source", "in/photo.png", png);
  for (const [name, rgb] of [["c.png", [0, 0, 250]], ["a.png", [250, 0, 0]], ["b.png", [0, 250, 0]]] as const) {
    await put("source", `batch/${name}`, await makePng(8 + name.charCodeAt(0) - 97, 8, [...rgb]));
  }
  // A "directory" marker, as consoles create: not a file.
  await put("source", "batch/sub/", Buffer.alloc(0), "application/x-directory");
});

afterAll(async () => {
  await Promise.all([server?.close(), closed?.close(), s3?.close()]);
});

describe("import/s3 -> convert -> export/s3", () => {
  it("imports a PNG, converts it to WebP and exports it; the object decodes as that WebP", async () => {
    const { job } = await runJob(server.api, {
      imp: { operation: "import/s3", ...connection(), bucket: "source", key: "in/photo.png" },
      conv: { operation: "convert", input: "imp", output_format: "webp" },
      exp: { operation: "export/s3", input: "conv", ...connection(), bucket: "dest", key: "out/photo.webp" },
    });
    expect(job.status, JSON.stringify(job)).toBe("completed");
    expect(taskOf(job, "imp").result.files).toEqual([{ filename: "photo.png", size: png.length, content_type: "image/png" }]);
    const { body, contentType } = await get("dest", "out/photo.webp");
    const image = await decode(body);
    expect([image.format, image.width, image.height]).toEqual(["webp", 40, 30]);
    expect(contentType).toBe("image/webp");
    const exp = taskOf(job, "exp");
    expect(exp.result.objects).toEqual([{ key: "out/photo.webp", size: body.length, etag: createHash("md5").update(body).digest("hex"), parts: 1 }]);
    expect(JSON.stringify(exp)).not.toContain(S3RVER_CREDENTIALS.secretAccessKey);
    expect(exp.payload.secret_access_key).toBe("*****");
  });
});

describe("key_prefix and key templates", () => {
  it("imports every object under a prefix in key order, skipping directory markers, and exports them by template and into a folder", async () => {
    const { job } = await runJob(server.api, {
      imp: { operation: "import/s3", ...connection(), bucket: "source", key_prefix: "batch/" },
      tpl: { operation: "export/s3", input: "imp", ...connection(), bucket: "dest", key: "tpl/{n}-{filename}" },
      dir: { operation: "export/s3", input: "imp", ...connection(), bucket: "dest", key: "dir/" },
      plain: { operation: "export/s3", input: "imp", ...connection(), bucket: "dest", key: "plain/x.png" },
    });
    expect(job.status, JSON.stringify(job)).toBe("completed");
    expect(taskOf(job, "imp").result.files.map((f: any) => f.filename)).toEqual(["a.png", "b.png", "c.png"]);
    expect(await listKeys("dest", "tpl/")).toEqual(["tpl/1-a.png", "tpl/2-b.png", "tpl/3-c.png"]);
    expect(await listKeys("dest", "dir/")).toEqual(["dir/a.png", "dir/b.png", "dir/c.png"]);
    expect(await listKeys("dest", "plain/")).toEqual(["plain/x-2.png", "plain/x-3.png", "plain/x.png"]);
    // Each object holds its own file: b.png is the green one, 9 px wide.
    const green = await decode((await get("dest", "tpl/2-b.png")).body);
    expect([green.width, green.pixel(0, 0)]).toEqual([9, [0, 250, 0]]);
    expect(taskOf(job, "dir").result.objects.map((o: any) => o.key)).toEqual(["dir/a.png", "dir/b.png", "dir/c.png"]);
  });
});

describe("large files", () => {
  it("uploads a 20 MB file in 8 MiB parts (multipart) and the object is byte-identical", async () => {
    const data = randomBytes(20 * 1024 * 1024);
    await put("source", "big/random.bin", data, "application/octet-stream");
    const before = s3.requests.length;
    const { job } = await runJob(server.api, {
      imp: { operation: "import/s3", ...connection(), bucket: "source", key: "big/random.bin" },
      exp: { operation: "export/s3", input: "imp", ...connection(), bucket: "dest", key: "big/copy.bin" },
    });
    expect(job.status, JSON.stringify(job)).toBe("completed");
    const sent = s3.requests.slice(before).filter((r) => r.includes("/dest/big/copy.bin"));
    expect(sent.filter((r) => r.startsWith("POST") && r.includes("uploads"))).toHaveLength(1);
    expect(sent.filter((r) => r.startsWith("PUT") && r.includes("partNumber="))).toHaveLength(3);
    expect(taskOf(job, "exp").result.objects[0]).toMatchObject({ key: "big/copy.bin", size: data.length, parts: 3 });
    const copy = (await get("dest", "big/copy.bin")).body;
    expect(createHash("sha256").update(copy).digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
  });
});

describe("failures", () => {
  it("refuses unknown credentials (import: download_failed, export: processing_failed) and never shows them", async () => {
    const secret = "very-secret-Sauce-4242";
    const keyId = "AKIAWRONGKEY0042";
    const bad = connection({ access_key_id: keyId, secret_access_key: secret, session_token: "token-Sesame-7777" });
    const { job } = await runJob(server.api, {
      imp: { operation: "import/s3", ...bad, bucket: "source", key: "in/photo.png" },
      exp: { operation: "export/s3", input: "ok", ...bad, bucket: "dest", key: "never.png" },
      ok: { operation: "import/s3", ...connection(), bucket: "source", key: "in/photo.png" },
    });
    const imp = taskOf(job, "imp");
    expectTaskFailed(imp, "download_failed");
    expect(imp.message).toMatch(/refused the credentials/i);
    const exp = taskOf(job, "exp");
    expectTaskFailed(exp, "processing_failed");
    expect(exp.message).toMatch(/refused the credentials/i);
    const views = [JSON.stringify(job), JSON.stringify((await server.api.get(`/v1/process/tasks/${imp.id}`)).body), JSON.stringify((await server.api.get(`/v1/process/tasks/${exp.id}`)).body)];
    for (const view of views) for (const hidden of [secret, keyId, "token-Sesame-7777"]) expect(view).not.toContain(hidden);
    expect(imp.payload).toMatchObject({ access_key_id: "*****", secret_access_key: "*****", session_token: "*****" });
    expect(await listKeys("dest", "never")).toEqual([]);
  });

  it("names a missing bucket and a missing key (download_failed)", async () => {
    const { job } = await runJob(server.api, {
      nobucket: { operation: "import/s3", ...connection(), bucket: "no-such-bucket-x", key: "in/photo.png" },
      nokey: { operation: "import/s3", ...connection(), bucket: "source", key: "in/nothing-here.png" },
      noprefix: { operation: "import/s3", ...connection(), bucket: "source", key_prefix: "empty/" },
    });
    expectTaskFailed(taskOf(job, "nobucket"), "download_failed");
    expect(taskOf(job, "nobucket").message).toContain("no-such-bucket-x");
    expectTaskFailed(taskOf(job, "nokey"), "download_failed");
    expect(taskOf(job, "nokey").message).toContain("in/nothing-here.png");
    expect(taskOf(job, "nokey").message).toContain("source");
    expectTaskFailed(taskOf(job, "noprefix"), "download_failed");
    expect(taskOf(job, "noprefix").message).toContain("empty/");
  });

  it("refuses an endpoint the outbound policy refuses (outbound_refused), and the store sees no request", async () => {
    const before = s3.requests.length;
    const { job } = await runJob(closed.api, {
      imp: { operation: "import/s3", ...connection(), bucket: "source", key: "in/photo.png" },
    });
    const imp = taskOf(job, "imp");
    expectTaskFailed(imp, "outbound_refused");
    expect(imp.message).toContain("127.0.0.1");
    expect(s3.requests.length).toBe(before);
  });

  it("maps a store's SignatureDoesNotMatch (what AWS answers to a wrong secret) to refused credentials", async () => {
    // s3rver does not verify V4 signatures: this server answers as S3 does to a wrong secret.
    const store = await listen((_req, res) => {
      res.writeHead(403, { "content-type": "application/xml" });
      res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message></Error>`);
    });
    try {
      const { job } = await runJob(server.api, { imp: { operation: "import/s3", ...connection({ endpoint: store.url, secret_access_key: "wrong-Secret-9999" }), bucket: "source", key: "k.png" } });
      const imp = taskOf(job, "imp");
      expectTaskFailed(imp, "download_failed");
      expect(imp.message).toMatch(/refused the credentials.*SignatureDoesNotMatch/i);
      expect(JSON.stringify(job)).not.toContain("wrong-Secret-9999");
    } finally {
      await store.close();
    }
  });

  it("stops a store that never answers at the task's time limit (engine_timeout) and closes the connection", async () => {
    const sockets: Socket[] = [];
    const store = await listen(() => undefined);
    store.server.on("connection", (socket) => sockets.push(socket));
    try {
      const { job } = await runJob(server.api, { imp: { operation: "import/s3", ...connection({ endpoint: store.url }), bucket: "source", key: "k.png", timeout: 1 } });
      expectTaskFailed(taskOf(job, "imp"), "engine_timeout");
      expect(sockets.length).toBeGreaterThan(0);
      await eventually(() => sockets.every((s) => s.destroyed || s.readableEnded), 5000, "the client to close its connections");
    } finally {
      await store.close();
    }
  });
});

describe("cancel", () => {
  it("a canceled multipart export stops mid-part, aborts the multipart upload and closes its connections", async () => {
    const seen: string[] = [];
    const sockets: Socket[] = [];
    // Starts a multipart upload, then never answers a part: the export hangs until canceled.
    const store = await listen((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      if (req.method === "POST" && req.url?.includes("uploads")) {
        res.writeHead(200, { "content-type": "application/xml" });
        res.end(`<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult><Bucket>dest</Bucket><Key>big/never.bin</Key><UploadId>up-1</UploadId></InitiateMultipartUploadResult>`);
      } else if (req.method === "DELETE" && req.url?.includes("uploadId=up-1")) {
        req.resume();
        res.writeHead(204).end();
      } else {
        req.resume(); // the part's bytes are read, never answered
      }
    });
    store.server.on("connection", (socket) => sockets.push(socket));
    try {
      const data = randomBytes(20 * 1024 * 1024);
      await put("source", "big/cancel.bin", data, "application/octet-stream");
      const created = await server.api.post("/v1/process/jobs", {
        tasks: {
          imp: { operation: "import/s3", ...connection(), bucket: "source", key: "big/cancel.bin" },
          exp: { operation: "export/s3", input: "imp", ...connection({ endpoint: store.url }), bucket: "dest", key: "big/never.bin" },
        },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const exp = created.body.tasks.find((t: any) => t.name === "exp");
      await eventually(() => seen.some((r) => r.startsWith("PUT") && r.includes("partNumber=")), 20_000, "the first part to be sent");
      const canceledAt = Date.now();
      const res = await server.api.post(`/v1/process/tasks/${exp.id}/cancel`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const task = (await server.api.get(`/v1/process/tasks/${exp.id}/wait`)).body;
      expect(task.status).toBe("canceled");
      await eventually(() => seen.some((r) => r.startsWith("DELETE") && r.includes("uploadId=up-1")), 10_000, "the multipart upload to be aborted");
      await eventually(() => sockets.every((s) => s.destroyed || s.readableEnded), 10_000, "the client to close its connections");
      expect(Date.now() - canceledAt).toBeLessThan(10_000);
      // No part was sent again after the cancel (no retry on a fresh connection), none completed.
      const aborted = seen.findIndex((r) => r.startsWith("DELETE"));
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(seen.slice(aborted + 1), "requests after the abort").toEqual([]);
      expect(seen.some((r) => r.startsWith("POST") && r.includes("uploadId="))).toBe(false);
    } finally {
      await store.close();
    }
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
