/**
 * Retention and download metadata in the embedded mode. A server with short retention periods:
 * files leave the disk and their links answer 410 file_expired, the task lists them `expired`,
 * then the job and its tasks are gone (404); the sweeper also removes dead workers' scratch
 * directories and stale temp files, never fresh ones. A server with a download maximum: the
 * counter (HEAD not counted), `overuse` (410, and the file's status), `?encoding=base64`; and a
 * stored object shared by two jobs outlives the first job's expiry and deletion.
 */
import { mkdir, utimes, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { download, type TestServer } from "../support/harness.js";
import { decode, eventually, expectError, makePng, runJob, startServer, storedFiles, taskOf } from "./helpers.js";

const FILE_RETENTION = 5;
const TASK_RETENTION = 7;

let short: TestServer;
let capped: TestServer;
let png: Buffer;

beforeAll(async () => {
  png = await makePng(16, 12, [10, 200, 90]);
  [short, capped] = await Promise.all([
    startServer({ TRANSMUTE_FILE_RETENTION_SECONDS: String(FILE_RETENTION), TRANSMUTE_TASK_RETENTION_SECONDS: String(TASK_RETENTION), TRANSMUTE_SWEEP_SECONDS: "1" }),
    startServer({ TRANSMUTE_MAX_DOWNLOADS: "2", TRANSMUTE_SWEEP_SECONDS: "1" }),
  ]);
});

afterAll(async () => {
  await Promise.all([short?.close(), capped?.close()]);
});

/** A download answer with its JSON body parsed (error answers). */
async function fetchAnswer(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text && (res.headers.get("content-type") ?? "").includes("json") ? JSON.parse(text) : text };
}

/** Imports `bytes` as base64 and exports them; returns the job and the exported file entry. */
async function publish(server: TestServer, bytes: Buffer, filename: string) {
  const { job } = await runJob(server.api, {
    import: { operation: "import/base64", file: bytes.toString("base64"), filename },
    export: { operation: "export/url", input: "import" },
  });
  expect(job.status, JSON.stringify(job)).toBe("completed");
  return { job, exportId: taskOf(job, "export").id as string, file: taskOf(job, "export").result.files[0] };
}

async function exportedFile(server: TestServer, exportId: string) {
  const res = await server.api.get(`/v1/process/tasks/${exportId}`);
  expect(res.status).toBe(200);
  return res.body.result.files[0];
}

describe("retention", () => {
  it("deletes the files at their expiry (410 file_expired, status expired), then the job and its tasks (404)", async () => {
    const { created, job } = await runJob(short.api, {
      import: { operation: "import/base64", file: png.toString("base64"), filename: "keep.png" },
      convert: { operation: "convert", input: "import", output_format: "jpg" },
      export: { operation: "export/url", input: "convert" },
    });
    expect(job.status, JSON.stringify(job)).toBe("completed");
    const createdAt = Date.parse(created.createdAt);
    const exported = taskOf(job, "export").result.files[0];
    // The link is valid until the file's expiry: the task's creation plus the file retention.
    expect(Number(new URL(exported.url).searchParams.get("expires"))).toBe(Date.parse(taskOf(job, "export").createdAt) + FILE_RETENTION * 1000);
    const fresh = await download(exported.url);
    expect(fresh.status, `downloaded ${Date.now() - createdAt} ms after creation`).toBe(200);
    expect((await decode(fresh.bytes)).format).toBe("jpeg");
    const taskIds = job.tasks.map((t: any) => t.id as string);
    expect(taskIds.flatMap((id: string) => storedFiles(short.dataDir, id)).length).toBe(2); // the import's and the convert's

    await eventually(() => taskIds.every((id: string) => storedFiles(short.dataDir, id).length === 0), 15_000, "files deleted from disk");
    expect(Date.now()).toBeGreaterThanOrEqual(createdAt + FILE_RETENTION * 1000);
    expectError(await fetchAnswer(exported.url), 410, "file_expired");
    const expired = await short.api.get(`/v1/process/jobs/${job.id}`);
    expect(expired.status).toBe(200);
    expect(expired.body.status).toBe("completed");
    for (const name of ["import", "convert", "export"]) {
      const files = taskOf(expired.body, name).result.files;
      expect(files, name).toHaveLength(1);
      expect(files[0].status, name).toBe("expired");
    }
    expect(taskOf(expired.body, "export").result.files[0]).toMatchObject({ filename: "keep.jpg", url: exported.url, downloads_counter: 1 });

    await eventually(async () => (await short.api.get(`/v1/process/jobs/${job.id}`)).status === 404, 15_000, "job deleted");
    expect(Date.now()).toBeGreaterThanOrEqual(createdAt + TASK_RETENTION * 1000);
    expectError(await short.api.get(`/v1/process/jobs/${job.id}`), 404, "not_found");
    for (const id of taskIds) expectError(await short.api.get(`/v1/process/tasks/${id}`), 404, "not_found");
    const prisma = short.app.engine.prisma;
    expect(await prisma.task.count({ where: { id: { in: taskIds } } })).toBe(0);
    expect(await prisma.file.count({ where: { taskId: { in: taskIds } } })).toBe(0);
    expect(existsSync(join(short.dataDir, "files", "tasks", taskIds[0]!))).toBe(false);
    expectError(await fetchAnswer(exported.url), 410, "file_expired");
  });

  it("removes scratch directories and temp files a killed process left, never fresh ones or others'", async () => {
    const scratch = join(short.dataDir, "scratch");
    const tmp = join(short.dataDir, "files", ".tmp");
    const dead = join(scratch, "scratch-killed-task-abc123");
    const foreign = join(scratch, "not-a-scratch-dir");
    const live = join(scratch, "scratch-running-task-def456");
    for (const dir of [dead, foreign, live, tmp]) await mkdir(dir, { recursive: true });
    await writeFile(join(dead, "input-0.png"), png);
    await writeFile(join(live, "input-0.png"), png);
    await writeFile(join(tmp, "old.part"), "half an upload");
    await writeFile(join(tmp, "fresh.part"), "an upload being written");
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
    for (const path of [dead, foreign, join(tmp, "old.part")]) await utimes(path, twoDaysAgo, twoDaysAgo);

    await eventually(() => !existsSync(dead) && !existsSync(join(tmp, "old.part")), 10_000, "stale scratch and temp files swept");
    expect(existsSync(join(live, "input-0.png"))).toBe(true);
    expect(existsSync(foreign)).toBe(true);
    expect(existsSync(join(tmp, "fresh.part"))).toBe(true);
  });
});

describe("download counter and maximum", () => {
  it("counts GETs, not HEADs; the download reaching the maximum makes the file overuse, then the link answers 410 overuse", async () => {
    const { exportId, file } = await publish(capped, png, "counted.png");
    expect(file).toMatchObject({ filename: "counted.png", size: png.length, content_type: "image/png", status: "enabled", downloads_counter: 0 });
    expect(file.checksum).toMatch(/^[0-9a-f]{32}$/);

    const head = await fetch(file.url, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(png.length));
    expect(await exportedFile(capped, exportId)).toMatchObject({ status: "enabled", downloads_counter: 0 });

    expect((await download(file.url)).bytes.equals(png)).toBe(true);
    expect(await exportedFile(capped, exportId)).toMatchObject({ status: "enabled", downloads_counter: 1 });
    expect((await download(file.url)).bytes.equals(png)).toBe(true);
    expect(await exportedFile(capped, exportId)).toMatchObject({ status: "overuse", downloads_counter: 2 });

    expectError(await fetchAnswer(file.url), 410, "overuse", "2 times");
    expect((await fetch(file.url, { method: "HEAD" })).status).toBe(410);
    expect(await exportedFile(capped, exportId)).toMatchObject({ status: "overuse", downloads_counter: 2 });
  });

  it("concurrent downloads never exceed the maximum", async () => {
    const { exportId, file } = await publish(capped, png, "raced.png");
    const answers = await Promise.all(Array.from({ length: 6 }, () => fetchAnswer(file.url)));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(2);
    for (const refused of answers.filter((a) => a.status !== 200)) expectError(refused, 410, "overuse");
    expect(await exportedFile(capped, exportId)).toMatchObject({ status: "overuse", downloads_counter: 2 });
  });
});

describe("?encoding=base64", () => {
  it("streams the base64 text of the file (Content-Length 4*ceil(n/3)) that decodes to the same bytes, for every n mod 3", async () => {
    // Sizes around a stream chunk (64 KiB) with each remainder mod 3, so chunk boundaries split groups.
    for (const size of [65_536 + 1, 65_536 + 2, 3 * 70_000]) {
      const bytes = Buffer.alloc(size);
      for (let i = 0; i < size; i++) bytes[i] = (i * 7919 + (i >> 8)) & 0xff;
      const { exportId, file } = await publish(capped, bytes, `blob-${size}.bin`);
      const res = await fetch(`${file.url}&encoding=base64`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
      expect(res.headers.get("content-length")).toBe(String(4 * Math.ceil(size / 3)));
      expect(res.headers.get("content-disposition")).toBe(`attachment; filename="blob-${size}.bin.b64"`);
      const text = await res.text();
      expect(text).toMatch(/^[A-Za-z0-9+/]*={0,2}$/);
      expect(text.length).toBe(4 * Math.ceil(size / 3));
      expect(Buffer.from(text, "base64").equals(bytes)).toBe(true);
      expect(await exportedFile(capped, exportId)).toMatchObject({ downloads_counter: 1 });
    }
  });

  it("HEAD gives the encoded length; the value is case-insensitive; another encoding is a 400 naming base64", async () => {
    const { file } = await publish(capped, png, "encoded.png");
    const head = await fetch(`${file.url}&encoding=base64`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(4 * Math.ceil(png.length / 3)));
    const upper = await fetch(`${file.url}&encoding=BASE64`);
    expect(Buffer.from(await upper.text(), "base64").equals(png)).toBe(true);
    expectError(await fetchAnswer(`${file.url}&encoding=hex`), 400, "invalid_request", '"hex"', "base64");
  });
});

describe("objects shared by two jobs", () => {
  it("an export of an earlier job's file keeps the object through that job's expiry and deletion, and frees it at its own expiry", async () => {
    const prisma = capped.app.engine.prisma;
    const first = await publish(capped, png, "shared.png");
    const importId = taskOf(first.job, "import").id as string;
    const { job: second } = await runJob(capped.api, { export: { operation: "export/url", input: importId } });
    const reexported = taskOf(second, "export").result.files[0];
    const object = storedFiles(capped.dataDir, importId);
    expect(object).toHaveLength(1);

    // The first job's files reach their expiry (moved into the past rather than waited for).
    await prisma.file.updateMany({ where: { task: { jobId: first.job.id } }, data: { expiresAt: new Date(Date.now() - 1000) } });
    await eventually(async () => (await capped.api.get(`/v1/process/tasks/${importId}`)).body.result.files[0].status === "expired", 10_000, "first job's files expired");
    expectError(await fetchAnswer(first.file.url), 410, "file_expired");
    expect(existsSync(object[0]!)).toBe(true);
    expect((await download(reexported.url)).bytes.equals(png)).toBe(true);

    // The first job reaches the task retention: its rows go, the object the second job uses stays.
    await prisma.job.update({ where: { id: first.job.id }, data: { createdAt: new Date(Date.now() - 2 * 86_400_000) } });
    await eventually(async () => (await capped.api.get(`/v1/process/jobs/${first.job.id}`)).status === 404, 10_000, "first job deleted");
    expect(existsSync(object[0]!)).toBe(true);
    expect((await download(reexported.url)).bytes.equals(png)).toBe(true);

    // The second job's file expires: nothing references the object any more.
    await prisma.file.updateMany({ where: { task: { jobId: second.id } }, data: { expiresAt: new Date(Date.now() - 1000) } });
    await eventually(() => !existsSync(object[0]!), 10_000, "shared object deleted");
    expect(storedFiles(capped.dataDir, importId)).toEqual([]);
  });
});
