/**
 * The Filewall facade end to end, as Filewall's reference client drives it: authorize with the
 * key in an `apikey` header, upload the raw file, poll the status link, download. Real embedded
 * servers on loopback; every error code of the contract; the upload link's expiry; the tombstone
 * after retention; an oversized upload leaving nothing behind.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createAccount } from "@transmute/jobs";
import { PDFDocument, StandardFonts } from "pdf-lib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { download, type TestServer } from "../support/harness.js";
import { decode, eventually, makePng, startServer, storedFiles, tempFiles } from "./helpers.js";

/** An answer with its JSON body (or text). */
interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

/** A request as a Filewall client makes it; `key: null` sends no key header. */
async function call(base: string, method: string, path: string, opts: { key?: string | null; header?: string; body?: string | Buffer | ReadableStream; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.key) headers[opts.header ?? "apikey"] = opts.key;
  const init: RequestInit & { duplex?: "half" } = { method, headers, body: opts.body as RequestInit["body"] };
  if (opts.body instanceof ReadableStream) init.duplex = "half";
  const res = await fetch(path.startsWith("http") ? path : base + path, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (res.headers.get("content-type") ?? "").includes("json") && text ? JSON.parse(text) : text };
}

/** Authorizes a file (asserting the 202) and returns the answer's body. */
async function authorize(server: TestServer, body?: string, header = "apikey"): Promise<any> {
  const res = await call(server.url, "POST", "/api/authorize", { key: server.key, header, ...(body === undefined ? {} : { body, headers: { "content-type": "application/json" } }) });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body;
}

/** Polls a status link until the file is past new/waiting/processing. */
async function pollDone(server: TestServer, self: string): Promise<any> {
  let last: any;
  await eventually(async () => {
    const res = await call(server.url, "GET", self, { key: server.key });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    last = res.body;
    expect(last.status).not.toBe("new");
    return !["waiting", "processing"].includes(last.status);
  }, 20_000, "the file to finish or fail");
  return last;
}

/** Whether a live worker registered the secure engine. */
async function secureEngineRuns(server: TestServer): Promise<boolean> {
  const workers = await server.app.engine.prisma.worker.findMany({ where: { stoppedAt: null } });
  return workers.some((w) => ((w.engines as { classes?: string[] })?.classes ?? []).includes("secure"));
}

/** The upload task's id of a file. */
async function uploadTaskOf(server: TestServer, uid: string): Promise<string> {
  const row = await server.app.engine.prisma.filewallFile.findUniqueOrThrow({ where: { uid } });
  return (await server.app.engine.prisma.task.findFirstOrThrow({ where: { jobId: row.jobId!, name: "upload" } })).id;
}

/** A PDF of `count` pages of `size` points, each with a line of text. */
async function pagesPdf(count: number, size: [number, number] = [300, 200]): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  for (let i = 1; i <= count; i++) doc.addPage(size).drawText(`Page ${i}`, { x: 30, y: 100, size: 24, font });
  return Buffer.from(await doc.save());
}

const run = promisify(execFile);
const SIZE_LIMIT = 64 * 1024;
let main: TestServer;
let limited: TestServer;
let retention: TestServer;

beforeAll(async () => {
  [main, limited, retention] = await Promise.all([
    startServer({ TRANSMUTE_UPLOAD_SIZE_LIMIT: String(SIZE_LIMIT) }),
    startServer({ TRANSMUTE_FILEWALL_QUOTA: "3", TRANSMUTE_FILEWALL_MAX_IN_PROGRESS: "2", TRANSMUTE_FILEWALL_UPLOAD_SECONDS: "2", TRANSMUTE_RECONCILE_SECONDS: "1" }),
    startServer({
      TRANSMUTE_FILE_RETENTION_SECONDS: "2",
      TRANSMUTE_TASK_RETENTION_SECONDS: "3",
      TRANSMUTE_SWEEP_SECONDS: "1",
      TRANSMUTE_FILEWALL_TOMBSTONE_SECONDS: "3",
    }),
  ]);
});

afterAll(async () => {
  await Promise.all([main, limited, retention].map((s) => s?.close()));
});

describe("the reference client flow", () => {
  it("authorize answers 202 with a new file and absolute links, with the key header in any case, and makes a filewall job", async () => {
    const a = await authorize(main);
    expect(a).toEqual({ uid: expect.any(String), status: "new", created: expect.any(String), source_name: "", source_size: 0, links: { self: `${main.url}/api/files/${a.uid}`, upload: expect.stringMatching(new RegExp(`^${main.url}/api/upload/[^/]+$`)) } });
    expect(Date.parse(a.created)).toBeGreaterThan(Date.now() - 60_000);
    const upper = await authorize(main, '{"max_width": 100, "max_dpi": 72}', "APIKEY");
    const get = await call(main.url, "GET", "/api/authorize", { key: main.key, header: "ApiKey" });
    expect(get.status).toBe(202);
    const status = await call(main.url, "GET", upper.links.self, { key: main.key });
    expect(status.body).toEqual({ ...upper, links: { self: upper.links.self, upload: upper.links.upload } });
    expect(status.body.error).toBeUndefined();
    // The job behind it: the normal pipeline, tagged, the limits as the secure task's options.
    const row = await main.app.engine.prisma.filewallFile.findUniqueOrThrow({ where: { uid: upper.uid } });
    const full = await main.api.get(`/v1/process/jobs/${row.jobId}`);
    expect(full.body.tag).toBe("filewall");
    expect(full.body.tasks.map((t: any) => t.operation)).toEqual(["import/upload", "secure", "export/url"]);
    expect(full.body.tasks[1].payload.options).toEqual({ max_width: 100, max_dpi: 72 });
  });

  it("takes the raw file (no Content-Type, or form-urlencoded), then the status never reads new again and ends finished", async () => {
    const png = await makePng(64, 48, [200, 30, 40]);
    // The secure engine rebuilds images with sharp alone: every worker has it.
    expect(await secureEngineRuns(main)).toBe(true);
    for (const contentType of [undefined, "application/x-www-form-urlencoded"]) {
      const a = await authorize(main);
      const up = await call(main.url, "POST", a.links.upload, { body: png, headers: { filename: "scan%20report.png", ...(contentType ? { "content-type": contentType } : {}) } });
      expect(up.status, JSON.stringify(up.body)).toBe(202);
      expect(up.body).toEqual({});
      const done = await pollDone(main, a.links.self);
      expect(done).toMatchObject({ uid: a.uid, created: a.created, source_name: "scan report.png", source_size: png.length });
      // A used link takes no second file.
      const again = await call(main.url, "POST", a.links.upload, { body: png, headers: { filename: "x.png" } });
      expect(again).toMatchObject({ status: 400, body: { error: "invalid_request" } });
      expect(done.status, JSON.stringify(done)).toBe("finished");
      expect(done.error).toBeUndefined();
      // The rebuilt image: same pixels' size, its type as the engine chose it.
      expect(done.type).toMatch(/^image\//);
      expect(done.name).toMatch(/^scan report\.[a-z]+$/);
      const file = await download(done.links.download);
      expect(file.status).toBe(200);
      const header = file.headers.get("content-disposition")!;
      // Filewall's Java client and its Python client read the name so.
      const javaName = header.split("; filename=")[1]!.replace(/"/g, "");
      const marker = '; filename="';
      const pythonName = header.slice(header.lastIndexOf(marker) + marker.length, header.lastIndexOf('"'));
      expect(javaName).toBe(done.name);
      expect(pythonName).toBe(done.name);
      expect(file.headers.get("content-type")).toBe(done.type);
      const image = await decode(file.bytes);
      expect([image.width, image.height]).toEqual([64, 48]);
      expect(`image/${image.format === "jpeg" ? "jpeg" : image.format}`).toBe(done.type);
    }
  });

  it("fails closed: a file that cannot be rebuilt ends failed with processing_failed, and no download ever appears", async () => {
    const dir = await mkdtemp(join(tmpdir(), "transmute-filewall-"));
    const plain = join(dir, "plain.pdf");
    const locked = join(dir, "locked.pdf");
    await writeFile(plain, await pagesPdf(1));
    await run("qpdf", ["--encrypt", "user", "owner", "256", "--", plain, locked]);
    const encrypted = await readFile(locked);
    await rm(dir, { recursive: true, force: true });
    for (const [name, bytes] of [
      ["broken.pdf", Buffer.from("%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\nnot really a pdf\n")],
      ["locked.pdf", encrypted],
      ["program.exe", Buffer.from([0x4d, 0x5a, 0x90, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0xff, 0xff])],
    ] as const) {
      const a = await authorize(main);
      expect((await call(main.url, "POST", a.links.upload, { body: bytes, headers: { filename: name } })).status).toBe(202);
      const done = await pollDone(main, a.links.self);
      expect(done.status, `${name}: ${JSON.stringify(done)}`).toBe("failed");
      expect(done.error).toBe("processing_failed");
      expect(done.links.download).toBeUndefined();
      expect(done.name).toBeUndefined();
    }
  });
});

describe("timeouts", () => {
  it("a rebuild past the task's time limit reads failed with timeout_processing, and no download appears", async () => {
    const slow = await startServer({ TRANSMUTE_TASK_TIMEOUT_SECONDS: "1" });
    try {
      const a = await authorize(slow, '{"max_dpi": 600}');
      expect((await call(slow.url, "POST", a.links.upload, { body: await pagesPdf(60, [595, 842]), headers: { filename: "long.pdf" } })).status).toBe(202);
      const done = await pollDone(slow, a.links.self);
      expect(done.status, JSON.stringify(done)).toBe("failed");
      expect(done.error).toBe("timeout_processing");
      expect(done.links.download).toBeUndefined();
    } finally {
      await slow.close();
    }
  });
});

describe("errors", () => {
  it("authorize: 400 without a key or with a bad body, 403 for an unknown key, 406 for a bad limit", async () => {
    const expectError = (res: Answer, status: number, error: string) => {
      expect(res.status, JSON.stringify(res.body)).toBe(status);
      expect(res.headers.get("content-type")).toContain("application/json");
      expect(res.body).toEqual({ error });
    };
    const post = (body: string, key: string | null = main.key) => call(main.url, "POST", "/api/authorize", { key, body, headers: { "content-type": "application/json" } });
    expectError(await call(main.url, "POST", "/api/authorize", { key: null }), 400, "invalid_request");
    expectError(await call(main.url, "POST", "/api/authorize", { key: "not-a-key" }), 403, "auth_failed");
    for (const body of ["[1]", '"x"', "{not json", '{"max_pixels": 5}']) expectError(await post(body), 400, "invalid_request");
    for (const value of ["-1", '"abc"', "1.5", "0", "true"]) expectError(await post(`{"max_dpi": ${value}}`), 406, "value_error");
    // A limit as plain text with no Content-Type is still read as JSON.
    expect((await call(main.url, "POST", "/api/authorize", { key: main.key, body: '{"max_pages_per_document": 3}' })).status).toBe(202);
  });

  it("status: another account's uid, an unknown uid and a malformed one are the same 404", async () => {
    const a = await authorize(main);
    const other = await createAccount(main.app.engine.prisma, "filewall-other@example.test");
    for (const [path, key] of [[`/api/files/${a.uid}`, other.key], [`/api/files/${crypto.randomUUID()}`, main.key], ["/api/files/nope", main.key]] as const) {
      const res = await call(main.url, "GET", path, { key });
      expect(res).toMatchObject({ status: 404, body: { error: "not_found" } });
    }
    expect((await call(main.url, "GET", `/api/files/${a.uid}`, { key: null })).body).toEqual({ error: "invalid_request" });
    expect((await call(main.url, "POST", `/api/upload/unknown-token`, { body: "x" })).body).toEqual({ error: "invalid_request" });
  });

  it("an upload over the size limit is 413, stored nowhere, and the link still takes a file afterwards", async () => {
    const a = await authorize(main);
    const taskId = await uploadTaskOf(main, a.uid);
    const big = Buffer.alloc(SIZE_LIMIT * 3, 7);
    // Announced by Content-Length: refused before a byte is read.
    const declared = await call(main.url, "POST", a.links.upload, { body: big, headers: { filename: "big.bin" } });
    expect(declared).toMatchObject({ status: 413, body: { error: "invalid_request" } });
    // Streamed (chunked, no length): stopped at the limit, the partial bytes removed.
    const chunks = Array.from({ length: 12 }, () => new Uint8Array(SIZE_LIMIT / 4).fill(9));
    const stream = new ReadableStream<Uint8Array>({ pull: (c) => (chunks.length ? c.enqueue(chunks.shift()!) : c.close()) });
    const streamed = await call(main.url, "POST", a.links.upload, { body: stream, headers: { filename: "big.bin", "content-type": "application/octet-stream" } });
    expect(streamed).toMatchObject({ status: 413, body: { error: "invalid_request" } });
    expect(tempFiles(main.dataDir)).toEqual([]);
    expect(storedFiles(main.dataDir, taskId)).toEqual([]);
    expect((await call(main.url, "GET", a.links.self, { key: main.key })).body.status).toBe("new");
    const ok = await call(main.url, "POST", a.links.upload, { body: Buffer.from("hello filewall\n"), headers: { filename: "note.txt" } });
    expect(ok.status, JSON.stringify(ok.body)).toBe(202);
    expect(storedFiles(main.dataDir, taskId)).toHaveLength(1);
  });

  it("429 past the files in progress of a key; an expired link is 400 and reads failed/timeout_new; 402 past the quota", async () => {
    const s = limited;
    const first = await authorize(s);
    await authorize(s);
    const third = await call(s.url, "POST", "/api/authorize", { key: s.key });
    expect(third).toMatchObject({ status: 429, body: { error: "too_many_requests" } });
    // The links live 2 s; the reconciler then fails the uploads that never came.
    await new Promise((r) => setTimeout(r, 2200));
    const late = await call(s.url, "POST", first.links.upload, { body: Buffer.from("late"), headers: { filename: "late.txt" } });
    expect(late).toMatchObject({ status: 400, body: { error: "invalid_request" } });
    const done = await pollDone(s, first.links.self);
    expect(done).toMatchObject({ status: "failed", error: "timeout_new", source_name: "", source_size: 0 });
    expect(done.links).toEqual({ self: first.links.self });
    // The foundation's own record of it: the upload task fails with upload_timeout.
    const uploadTask = await uploadTaskOf(s, first.uid);
    await eventually(async () => (await s.api.get(`/v1/process/tasks/${uploadTask}`)).body.code === "upload_timeout", 5000, "the upload task to time out");
    expect((await call(s.url, "GET", first.links.self, { key: s.key })).body).toMatchObject({ status: "failed", error: "timeout_new" });
    await eventually(async () => (await call(s.url, "POST", "/api/authorize", { key: s.key })).status === 202, 5000, "a place to free up");
    const over = await call(s.url, "POST", "/api/authorize", { key: s.key });
    expect(over).toMatchObject({ status: 402, body: { error: "payment_required" } });
  });
});

describe("retention", () => {
  it("after retention deleted the job the uid reads archived (and its download 410) for the tombstone time, then 404", async () => {
    const s = retention;
    const a = await authorize(s);
    const png = await makePng(32, 32, [10, 200, 10]);
    expect((await call(s.url, "POST", a.links.upload, { body: png, headers: { filename: "keep.png" } })).status).toBe(202);
    const done = await pollDone(s, a.links.self);
    const link: string | undefined = done.links.download;
    const row = await s.app.engine.prisma.filewallFile.findUniqueOrThrow({ where: { uid: a.uid } });
    await eventually(async () => (await s.app.engine.prisma.job.findUnique({ where: { id: row.jobId! } })) === null, 15_000, "the job to be deleted");
    const archived = await call(s.url, "GET", a.links.self, { key: s.key });
    expect(archived.status).toBe(200);
    expect(archived.body).toEqual({ uid: a.uid, status: "archived", created: a.created, source_name: "keep.png", source_size: png.length, links: { self: a.links.self } });
    if (link) expect((await download(link)).status).toBe(410);
    await eventually(async () => (await call(s.url, "GET", a.links.self, { key: s.key })).status === 404, 10_000, "the tombstone to end");
    expect((await call(s.url, "GET", a.links.self, { key: s.key })).body).toEqual({ error: "not_found" });
  });
});
