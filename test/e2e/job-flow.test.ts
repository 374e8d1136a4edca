/**
 * Jobs end to end through real HTTP: the reference's job example, the wire shapes of jobs and
 * tasks, reusing an earlier task as input (jobs and standalone task endpoints), fan-out, fan-in
 * with a zip, and the ignore_error rule. Outputs are downloaded and decoded.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { download, serveFiles, type TestServer } from "../support/harness.js";
import {
  createUpload,
  decode,
  expectColor,
  expectTaskFailed,
  makeJpeg,
  makePng,
  readZip,
  runJob,
  startServer,
  taskOf,
  uploadLikeCurl,
  waitJob,
  waitTask,
  type Rgb,
} from "./helpers.js";

const RED: Rgb = [200, 30, 40];
const BLUE: Rgb = [20, 40, 220];

let server: TestServer;
let files: Awaited<ReturnType<typeof serveFiles>>;
let jpeg: Buffer;
let png: Buffer;

beforeAll(async () => {
  jpeg = await makeJpeg(64, 48, RED);
  png = await makePng(40, 30, BLUE);
  // Bytes that identify as JPEG (the header is intact) but do not decode.
  const broken = Buffer.concat([jpeg.subarray(0, 24), Buffer.alloc(600, 0x5a)]);
  [server, files] = await Promise.all([
    startServer(),
    serveFiles({
      "/some.jpg": { body: jpeg, type: "image/jpeg" },
      "/blue.png": { body: png, type: "image/png" },
      "/broken.jpg": { body: broken, type: "image/jpeg" },
    }),
  ]);
});

afterAll(async () => {
  await Promise.all([server?.close(), files?.close()]);
});

const TASK_FIELDS = ["id", "name", "operation", "status", "payload", "ignoreError", "job", "dependsOn", "result", "code", "message", "server", "createdAt", "updatedAt", "endedAt"];
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

describe("the reference's job example", () => {
  it("imports a JPEG by URL, converts it to PNG with png_compression_quality, exports it, and the download decodes", async () => {
    const { created, job } = await runJob(
      server.api,
      {
        import: { operation: "import/url", url: `${files.url}/some.jpg`, filename: "some.jpg" },
        convert: { operation: "convert", input: "import", output_format: "png", options: { png_compression_quality: 70 } },
        export: { operation: "export/url", input: "convert", filename: "some.zip" },
      },
      "conversion",
    );

    // The 201 answer lists every task, already resolved to ids.
    expect(created.tag).toBe("conversion");
    expect(created.tasks.map((t: any) => t.name).sort()).toEqual(["convert", "export", "import"]);
    const ids = Object.fromEntries(created.tasks.map((t: any) => [t.name, t.id]));
    expect(taskOf(created, "convert").dependsOn).toEqual([ids.import]);
    expect(taskOf(created, "export").dependsOn).toEqual([ids.convert]);
    for (const t of created.tasks) expect(["created", "processing", "completed"]).toContain(t.status);

    expect(job.status).toBe("completed");
    expect(job.tasks.map((t: any) => t.status)).toEqual(["completed", "completed", "completed"]);
    expect(taskOf(job, "import").result.files).toEqual([{ filename: "some.jpg", size: jpeg.length, content_type: "image/jpeg" }]);
    expect(taskOf(job, "convert").result.files[0]).toMatchObject({ filename: "some.png", content_type: "image/png" });

    const exported = taskOf(job, "export");
    expect(exported.result.url).toBe(exported.result.files[0].url);
    expect(exported.result.files).toHaveLength(1);
    const file = exported.result.files[0];
    expect(file).toMatchObject({ content_type: "image/png", size: expect.any(Number), url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/v1\/files\//) });
    // The caller asked for "some.zip", but the file is a PNG (nothing asked for an archive): it
    // keeps the caller's name with the extension of what it is, so a saved download opens.
    expect(file.filename).toBe("some.png");

    const got = await download(exported.result.url);
    expect(got.status).toBe(200);
    expect(got.headers.get("content-type")).toBe("image/png");
    expect(got.headers.get("content-disposition")).toBe('attachment; filename="some.png"');
    expect(got.bytes.length).toBe(file.size);
    const image = await decode(got.bytes);
    expect(image).toMatchObject({ format: "png", width: 64, height: 48 });
    expectColor(image.pixel(32, 24), RED, 16);
  });

  it("shows jobs and tasks in FreeConvert's wire shape, with links.self that answer the same object", async () => {
    const { job } = await runJob(server.api, {
      "import-1": { operation: "import/url", url: `${files.url}/blue.png` },
      "convert-1": { operation: "convert", input: ["import-1"], output_format: "jpg" },
      "export-1": { operation: "export/url", input: "convert-1" },
    });
    expect(job).toMatchObject({ id: expect.any(String), status: "completed", createdAt: expect.stringMatching(ISO), endedAt: expect.stringMatching(ISO) });
    expect(job.links.self).toBe(`${server.url}/v1/process/jobs/${job.id}`);
    for (const task of job.tasks) {
      for (const field of TASK_FIELDS) expect(task, `${task.name}.${field}`).toHaveProperty(field);
      expect(task.job).toBe(job.id);
      expect(task.ignoreError).toBe(false);
      expect(task.code).toBeNull();
      expect(task.message).toBeNull();
      expect(task.server).toEqual(expect.any(String));
      expect(task.createdAt).toMatch(ISO);
      expect(task.updatedAt).toMatch(ISO);
      expect(task.endedAt).toMatch(ISO);
      expect(task.links.self).toBe(`${server.url}/v1/process/tasks/${task.id}`);
      for (const f of task.result.files) expect(Object.keys(f)).toEqual(expect.arrayContaining(["filename", "size", "content_type"]));
    }
    expect(taskOf(job, "import-1").payload).toEqual({ url: `${files.url}/blue.png` });
    expect(taskOf(job, "convert-1").payload).toEqual({ output_format: "jpg" });
    expect(taskOf(job, "convert-1").dependsOn).toEqual([taskOf(job, "import-1").id]);
    expect(taskOf(job, "export-1").result.files[0]).toMatchObject({ filename: "blue.jpg", content_type: "image/jpeg", url: expect.any(String) });
    // Only exported files carry links.
    expect(taskOf(job, "convert-1").result.files[0].url).toBeUndefined();

    const self = await server.api.get(new URL(job.links.self).pathname);
    expect(self.status).toBe(200);
    expect(self.body.id).toBe(job.id);
    expect(self.body.tasks.map((t: any) => t.id)).toEqual(job.tasks.map((t: any) => t.id));
    const exportView = await server.api.get(new URL(taskOf(job, "export-1").links.self).pathname);
    expect(exportView.status).toBe(200);
    expect(exportView.body).toMatchObject({ id: taskOf(job, "export-1").id, name: "export-1", operation: "export/url", status: "completed" });
    const image = await decode((await download(exportView.body.result.url)).bytes);
    expect(image).toMatchObject({ format: "jpeg", width: 40, height: 30 });
    expectColor(image.pixel(20, 15), BLUE, 20);
  });

  it("a failed job carries result.errorCode and msg naming the task that failed", async () => {
    const { job } = await runJob(server.api, {
      fetch: { operation: "import/url", url: `${files.url}/missing.jpg` },
      convert: { operation: "convert", input: "fetch", output_format: "png" },
    });
    expect(job.status).toBe("failed");
    expect(job.endedAt).toMatch(ISO);
    expect(job.result.errorCode).toBe("download_failed");
    expect(job.result.msg).toContain('"fetch"');
    expectTaskFailed(taskOf(job, "fetch"), "download_failed");
    expect(taskOf(job, "fetch").message).toContain("404");
    const convert = taskOf(job, "convert");
    expectTaskFailed(convert, "upstream_failed");
    expect(convert.message).toContain('"fetch"');
    expect(convert.message).toContain(taskOf(job, "fetch").id);
  });
});

describe("reusing earlier tasks", () => {
  it("a job takes an upload task's id as input, created before the file arrives", async () => {
    const { task: upload, form } = await createUpload(server.api);
    const res = await server.api.post("/v1/process/jobs", {
      tasks: {
        convert: { operation: "convert", input: upload.id, output_format: "webp" },
        export: { operation: "export/url", input: "convert" },
      },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(taskOf(res.body, "convert").dependsOn).toEqual([upload.id]);
    expect(res.body.status).not.toMatch(/completed|failed/);

    const sent = await uploadLikeCurl(form, png, "photo.png");
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    const job = await waitJob(server.api, res.body.id);
    expect(job.status).toBe("completed");
    expect(taskOf(job, "export").result.files[0]).toMatchObject({ filename: "photo.webp", content_type: "image/webp" });
    const image = await decode((await download(taskOf(job, "export").result.url)).bytes);
    expect(image).toMatchObject({ format: "webp", width: 40, height: 30 });
    expectColor(image.pixel(5, 5), BLUE, 20);
  });

  it("a job takes a finished upload's id as input", async () => {
    const { task: upload, form } = await createUpload(server.api);
    expect((await uploadLikeCurl(form, jpeg, "later.jpg")).status).toBe(200);
    const { job } = await runJob(server.api, {
      convert: { operation: "convert", input: [upload.id], output_format: "png" },
      export: { operation: "export/url", input: "convert" },
    });
    expect(job.status).toBe("completed");
    const image = await decode((await download(taskOf(job, "export").result.url)).bytes);
    expect(image).toMatchObject({ format: "png", width: 64, height: 48 });
  });

  it("standalone task endpoints chain by id: POST /process/convert answers 201 with links.self, then tasks/{id}/wait", async () => {
    const imported = await server.api.post("/v1/process/import/url", { url: `${files.url}/some.jpg` });
    expect(imported.status, JSON.stringify(imported.body)).toBe(201);
    expect(imported.body).toMatchObject({ operation: "import/url", links: { self: `${server.url}/v1/process/tasks/${imported.body.id}` } });

    const converted = await server.api.post("/v1/process/convert", { input: imported.body.id, output_format: "png", options: { image_custom_width: 32 } });
    expect(converted.status, JSON.stringify(converted.body)).toBe(201);
    expect(converted.body).toMatchObject({ operation: "convert", dependsOn: [imported.body.id], payload: { output_format: "png" } });
    expect(converted.body.links.self).toBe(`${server.url}/v1/process/tasks/${converted.body.id}`);
    expect(converted.body.job).not.toBe(imported.body.job);

    const done = await waitTask(server.api, converted.body.id);
    expect(done.status).toBe("completed");
    expect(done.result).toMatchObject({ width: 32, height: 24 });

    const exported = await server.api.post("/v1/process/export/url", { input: [done.id] });
    expect(exported.status, JSON.stringify(exported.body)).toBe(201);
    const published = await waitTask(server.api, exported.body.id);
    expect(published.status).toBe("completed");
    const image = await decode((await download(published.result.url)).bytes);
    expect(image).toMatchObject({ format: "png", width: 32, height: 24 });
    expectColor(image.pixel(16, 12), RED, 16);
  });
});

describe("fan-out and fan-in", () => {
  it("one upload feeds two conversions, each exported on its own", async () => {
    const { task: upload, form } = await createUpload(server.api);
    expect((await uploadLikeCurl(form, jpeg, "pic.jpg")).status).toBe(200);
    const { job } = await runJob(server.api, {
      "to-png": { operation: "convert", input: upload.id, output_format: "png", options: { image_custom_width: 16 } },
      "to-webp": { operation: "convert", input: upload.id, output_format: "webp" },
      "export-png": { operation: "export/url", input: "to-png" },
      "export-webp": { operation: "export/url", input: "to-webp" },
    });
    expect(job.status).toBe("completed");
    const a = await decode((await download(taskOf(job, "export-png").result.url)).bytes);
    const b = await decode((await download(taskOf(job, "export-webp").result.url)).bytes);
    expect(a).toMatchObject({ format: "png", width: 16, height: 12 });
    expect(b).toMatchObject({ format: "webp", width: 64, height: 48 });
    expectColor(a.pixel(8, 6), RED, 16);
    expectColor(b.pixel(8, 6), RED, 20);
  });

  it("two imports fan in to one export/url with archive_multiple_files: a zip holding both", async () => {
    const { job } = await runJob(server.api, {
      one: { operation: "import/url", url: `${files.url}/some.jpg` },
      two: { operation: "import/url", url: `${files.url}/blue.png` },
      three: { operation: "import/url", url: `${files.url}/blue.png` },
      bundle: { operation: "export/url", input: ["one", "two", "three"], filename: "bundle", archive_multiple_files: true },
    });
    expect(job.status).toBe("completed");
    const bundle = taskOf(job, "bundle");
    expect(bundle.result.files).toHaveLength(1);
    expect(bundle.result.files[0]).toMatchObject({ filename: "bundle.zip", content_type: "application/zip" });
    const got = await download(bundle.result.url);
    expect(got.status).toBe(200);
    expect(got.headers.get("content-type")).toBe("application/zip");
    const entries = readZip(got.bytes);
    // Two inputs with the same name are both kept, under distinct entry names.
    expect(entries.map((e) => e.name)).toEqual(["some.jpg", "blue.png", "2-blue.png"]);
    expect(entries[0]!.data.equals(jpeg)).toBe(true);
    expect(entries[1]!.data.equals(png)).toBe(true);
    const second = await decode(entries[2]!.data);
    expect(second).toMatchObject({ format: "png", width: 40, height: 30 });
  });
});

describe("ignore_error", () => {
  const failingJob = (opts: { exportIgnores: boolean; failedIgnores: boolean }) => ({
    good: { operation: "import/url", url: `${files.url}/blue.png` },
    bad: { operation: "import/url", url: `${files.url}/broken.jpg` },
    "convert-good": { operation: "convert", input: "good", output_format: "jpg" },
    "convert-bad": { operation: "convert", input: "bad", output_format: "png", ...(opts.failedIgnores ? { ignore_error: true } : {}) },
    export: { operation: "export/url", input: ["convert-good", "convert-bad"], ...(opts.exportIgnores ? { ignore_error: true } : {}) },
  });

  it("an export/url with ignore_error runs on the survivor, and the job completes when the failed task is ignored too", async () => {
    const { job } = await runJob(server.api, failingJob({ exportIgnores: true, failedIgnores: true }));
    expectTaskFailed(taskOf(job, "convert-bad"), "corrupt_file");
    const exported = taskOf(job, "export");
    expect(exported.status).toBe("completed");
    expect(exported.ignoreError).toBe(true);
    expect(exported.result.files).toHaveLength(1);
    expect(exported.result.files[0].filename).toBe("blue.jpg");
    expect(job.status).toBe("completed");
    const image = await decode((await download(exported.result.url)).bytes);
    expect(image).toMatchObject({ format: "jpeg", width: 40, height: 30 });
    expectColor(image.pixel(1, 1), BLUE, 20);
  });

  it("ignore_error on the export alone: it still runs on the survivor, but the failed task fails the job", async () => {
    const { job } = await runJob(server.api, failingJob({ exportIgnores: true, failedIgnores: false }));
    expect(taskOf(job, "export").status).toBe("completed");
    expect(taskOf(job, "export").result.files).toHaveLength(1);
    expect(job.status).toBe("failed");
    expect(job.result.errorCode).toBe("corrupt_file");
    expect(job.result.msg).toContain('"convert-bad"');
  });

  it("without ignore_error the export fails with upstream_failed naming the failed task, and so does the job", async () => {
    const { job } = await runJob(server.api, failingJob({ exportIgnores: false, failedIgnores: false }));
    const bad = taskOf(job, "convert-bad");
    expectTaskFailed(bad, "corrupt_file");
    const exported = taskOf(job, "export");
    expectTaskFailed(exported, "upstream_failed");
    expect(exported.message).toContain('"convert-bad"');
    expect(exported.message).toContain(bad.id);
    expect(exported.result.files).toBeUndefined();
    expect(taskOf(job, "convert-good").status).toBe("completed");
    expect(job.status).toBe("failed");
    expect(job.result).toMatchObject({ errorCode: "corrupt_file", msg: expect.stringContaining('"convert-bad"') });
  });
});
