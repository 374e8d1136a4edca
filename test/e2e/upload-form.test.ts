/**
 * The import/upload form exactly as the reference's clients post to it: curl's field order with
 * a trailing slash and -L, the Python sample's (file first, only the signature, an
 * `Authorization: Bearer<key>` header), a browser's CORS preflight. Every refusal leaves nothing
 * in storage and the slot usable; expiry answers 400 and the reconciler fails the task later.
 * Also the /wait bound: a task that cannot end is answered with its current state.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { download, serveFiles, type TestServer } from "../support/harness.js";
import {
  createUpload,
  decode,
  expectError,
  expectTaskFailed,
  makePng,
  postForm,
  startServer,
  storedFiles,
  tempFiles,
  uploadLikeCurl,
  waitTask,
  type UploadForm,
} from "./helpers.js";

const SIZE_LIMIT = 10_000;
let server: TestServer;
let files: Awaited<ReturnType<typeof serveFiles>>;
let png: Buffer;

beforeAll(async () => {
  png = await makePng(24, 16, [10, 200, 90]);
  expect(png.length).toBeLessThan(SIZE_LIMIT);
  [server, files] = await Promise.all([
    startServer({ TRANSMUTE_UPLOAD_SIZE_LIMIT: String(SIZE_LIMIT), TRANSMUTE_WAIT_TIMEOUT_SECONDS: "2" }),
    serveFiles({ "/thanks": { body: "thank you", type: "text/plain" } }),
  ]);
});

afterAll(async () => {
  await Promise.all([server?.close(), files?.close()]);
});

/** The upload task as GET shows it. */
async function getTask(id: string): Promise<any> {
  const res = await server.api.get(`/v1/process/tasks/${id}`);
  expect(res.status).toBe(200);
  return res.body;
}

/** Asserts the task still waits for its file, with its form, and nothing of it is stored. */
async function expectStillWaiting(id: string, form: UploadForm): Promise<void> {
  const task = await getTask(id);
  expect(task.status).toBe("processing");
  expect(task.result.form).toEqual(form);
  expect(storedFiles(server.dataDir, id)).toEqual([]);
  expect(tempFiles(server.dataDir)).toEqual([]);
}

/** Exports an upload task's file and downloads it (the bytes the server kept). */
async function exportedBytes(uploadTaskId: string): Promise<Buffer> {
  const exported = await server.api.post("/v1/process/export/url", { input: uploadTaskId });
  expect(exported.status, JSON.stringify(exported.body)).toBe(201);
  let task = exported.body;
  for (let i = 0; i < 10 && task.status !== "completed" && task.status !== "failed"; i++) task = await waitTask(server.api, task.id);
  expect(task.status).toBe("completed");
  return (await download(task.result.url)).bytes;
}

const pythonSample = (form: UploadForm, data: Buffer, signature = form.parameters.signature) =>
  postForm(
    form.url,
    [
      { name: "file", filename: "green.png", type: "audio/mpeg", data },
      { name: "signature", value: signature },
    ],
    { headers: { authorization: `Bearer${server.key}` } },
  );

describe("uploads as the reference's samples send them", () => {
  it("curl: every form parameter, then the file, to the form URL with a trailing slash, following redirects", async () => {
    const { task, form } = await createUpload(server.api);
    expect(task.status).toBe("processing");
    expect(form.url).toBe(`${server.url}/v1/upload/${form.url.split("/").pop()}`);
    expect(form.parameters).toEqual({ expires: expect.any(Number), size_limit: SIZE_LIMIT, max_file_count: 1, signature: expect.any(String) });

    const res = await uploadLikeCurl(form, png, "photo.png");
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ id: task.id, operation: "import/upload", status: "completed" });
    expect(res.body.result.files).toEqual([{ filename: "photo.png", size: png.length, content_type: "image/png" }]);
    expect(res.body.result.form).toBeUndefined();
    expect((await exportedBytes(task.id)).equals(png)).toBe(true);
  });

  it("Python: the file part first, only the signature, an Authorization: Bearer<key> header", async () => {
    const { task, form } = await createUpload(server.api);
    const res = await pythonSample(form, png);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ id: task.id, status: "completed" });
    // The type the client claimed (audio/mpeg) is not trusted: the bytes say PNG.
    expect(res.body.result.files).toEqual([{ filename: "green.png", size: png.length, content_type: "image/png" }]);
    const image = await decode(await exportedBytes(task.id));
    expect(image).toMatchObject({ format: "png", width: 24, height: 16 });
  });

  it("a form with `redirect` answers 303 to it, and a client following it lands there", async () => {
    const target = `${files.url}/thanks`;
    const { task, form } = await createUpload(server.api, { redirect: target });
    expect(task.payload).toEqual({ redirect: target });
    const res = await uploadLikeCurl(form, png, "r.png");
    // curl -L follows the 303 with a GET to the redirect target.
    expect(res.status).toBe(200);
    expect(res.body).toBe("thank you");
    expect(files.hits).toContain("/thanks");
    expect((await getTask(task.id)).status).toBe("completed");

    const second = await createUpload(server.api, { redirect: target });
    const manual = await postForm(second.form.url, [{ name: "file", filename: "r.png", data: png }]);
    expect(manual.status).toBe(303);
    expect(manual.headers.get("location")).toBe(target);
  });

  it("a browser's CORS preflight is answered, and the POST carries the CORS header, also on errors", async () => {
    const { form } = await createUpload(server.api);
    const preflight = await fetch(form.url, {
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
    });
    expect(preflight.status).toBeLessThan(300);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("*");
    expect(preflight.headers.get("access-control-allow-methods")).toContain("POST");
    expect(preflight.headers.get("access-control-allow-headers")).toMatch(/\*|content-type/i);

    const refused = await postForm(form.url, [{ name: "signature", value: "nope" }, { name: "file", filename: "a.png", data: png }], { headers: { origin: "https://app.example" } });
    expect(refused.status).toBe(403);
    expect(refused.headers.get("access-control-allow-origin")).toBe("*");
    const ok = await postForm(form.url, [{ name: "file", filename: "a.png", data: png }], { headers: { origin: "https://app.example" } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("access-control-allow-origin")).toBe("*");
  });
});

describe("refused uploads leave nothing behind", () => {
  it("a wrong signature before the file is a 403, nothing is stored, the task still waits", async () => {
    const { task, form } = await createUpload(server.api);
    const res = await uploadLikeCurl(form, png, "x.png", { signature: "0".repeat(form.parameters.signature.length) });
    expectError(res, 403, "invalid_signature");
    await expectStillWaiting(task.id, form);
  });

  it("a wrong signature after the file (the Python order) is a 403 and the streamed file is removed", async () => {
    const { task, form } = await createUpload(server.api);
    const res = await pythonSample(form, png, "not-the-signature");
    expectError(res, 403, "invalid_signature");
    await expectStillWaiting(task.id, form);
    // The slot is still good for the right file.
    expect((await pythonSample(form, png)).status).toBe(200);
    expect(storedFiles(server.dataDir, task.id)).toHaveLength(1);
  });

  it("a file over size_limit is a 413 and no partial bytes remain, whatever size_limit the form claims", async () => {
    const { task, form } = await createUpload(server.api);
    const big = Buffer.concat([png, Buffer.alloc(SIZE_LIMIT * 3, 7)]);
    const res = await postForm(`${form.url}/`, [
      { name: "size_limit", value: String(SIZE_LIMIT * 100) },
      { name: "signature", value: form.parameters.signature },
      { name: "file", filename: "big.png", data: big },
    ]);
    expectError(res, 413, "payload_too_large");
    await expectStillWaiting(task.id, form);

    const python = await pythonSample(form, big);
    expectError(python, 413, "payload_too_large");
    await expectStillWaiting(task.id, form);
  });

  it("a second file in the form is a 400 too_many_files and neither is kept", async () => {
    const { task, form } = await createUpload(server.api);
    const res = await postForm(form.url, [
      { name: "signature", value: form.parameters.signature },
      { name: "file", filename: "one.png", data: png },
      { name: "file", filename: "two.png", data: png },
    ]);
    expectError(res, 400, "too_many_files");
    await expectStillWaiting(task.id, form);
  });

  it("an upload to a slot that already has its file is a 409", async () => {
    const { task, form } = await createUpload(server.api);
    expect((await uploadLikeCurl(form, png, "first.png")).status).toBe(200);
    const again = await uploadLikeCurl(form, png, "second.png");
    expectError(again, 409, "upload_finished");
    const view = await getTask(task.id);
    expect(view.result.files).toEqual([{ filename: "first.png", size: png.length, content_type: "image/png" }]);
    expect(storedFiles(server.dataDir, task.id)).toHaveLength(1);
  });

  it("a POST that is not multipart is a 415", async () => {
    const { task, form } = await createUpload(server.api);
    const json = await fetch(form.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ file: "x" }) });
    expect(json.status).toBe(415);
    expect(await json.json()).toMatchObject({ code: "unsupported_media_type", message: expect.any(String) });
    const urlencoded = await fetch(form.url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "file=x" });
    expect(urlencoded.status).toBe(415);
    expect(await urlencoded.json()).toMatchObject({ code: "unsupported_media_type" });
    await expectStillWaiting(task.id, form);
  });

  it("an unknown slot is a 404", async () => {
    const res = await postForm(`${server.url}/v1/upload/no-such-slot`, [{ name: "file", filename: "a.png", data: png }]);
    expectError(res, 404, "not_found");
  });
});

describe("/wait is bounded", () => {
  it("answers 200 with the current state after TRANSMUTE_WAIT_TIMEOUT_SECONDS when the task cannot end", async () => {
    const { task, form } = await createUpload(server.api);
    const started = Date.now();
    const [taskWait, jobWait] = await Promise.all([server.api.get(`/v1/process/tasks/${task.id}/wait`), server.api.get(`/v1/process/jobs/${task.job}/wait`)]);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(1900);
    expect(elapsed).toBeLessThan(8000);
    expect(taskWait.status).toBe(200);
    expect(taskWait.body).toMatchObject({ id: task.id, status: "processing", result: { form } });
    expect(jobWait.status).toBe(200);
    expect(jobWait.body).toMatchObject({ id: task.job, status: "processing" });
    expect(jobWait.body.tasks.map((t: any) => t.id)).toEqual([task.id]);
  });
});

describe("expired upload forms", () => {
  let dataDir: string;
  let first: TestServer | undefined;
  let second: TestServer | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "transmute-e2e-expiry-"));
  });

  afterAll(async () => {
    await first?.close();
    await second?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("an upload after the form expired is a 400 upload_expired; the reconciler later fails the task with upload_timeout", async () => {
    // First run: forms expire after 1 s and no periodic reconciler pass comes during the test,
    // so the late upload meets an expired slot that nothing has closed yet.
    first = await startServer({ TRANSMUTE_UPLOAD_EXPIRES_SECONDS: "1", TRANSMUTE_RECONCILE_SECONDS: "3600" }, { dataDir });
    const { task, form } = await createUpload(first.api);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const late = await uploadLikeCurl(form, png, "late.png");
    expectError(late, 400, "upload_expired");
    expect(storedFiles(dataDir, task.id)).toEqual([]);
    expect((await first.api.get(`/v1/process/tasks/${task.id}`)).body.status).toBe("processing");
    await first.close();
    first = undefined;

    // Second run on the same data: the reconciler (every second) fails the expired upload, and
    // a new form left unused fails the same way.
    second = await startServer({ TRANSMUTE_UPLOAD_EXPIRES_SECONDS: "1", TRANSMUTE_RECONCILE_SECONDS: "1" }, { dataDir });
    const old = await waitTask(second.api, task.id);
    expectTaskFailed(old, "upload_timeout");
    const oldJob = (await second.api.get(`/v1/process/jobs/${task.job}`)).body;
    expect(oldJob.status).toBe("failed");
    expect(oldJob.result.errorCode).toBe("upload_timeout");

    const fresh = await createUpload(second.api);
    const started = Date.now();
    const ended = await waitTask(second.api, fresh.task.id);
    expectTaskFailed(ended, "upload_timeout");
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(ended.result.form).toBeUndefined();

    // A late upload after the reconciler failed the task gets the same answer as before it did.
    const afterReconcile = await uploadLikeCurl(fresh.form, png, "late.png");
    expectError(afterReconcile, 400, "upload_expired");
  });
});
