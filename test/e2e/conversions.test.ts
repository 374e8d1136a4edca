/**
 * Conversions end to end and the ways they fail at run time: SVG with a background and a custom
 * width, import/base64 (whose `file` never comes back in any answer), bytes that lie about
 * their format, corrupt, truncated and decompression-bomb images, and a pair no engine converts.
 * A failed task never stops the worker: a good job runs right after.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { download, type TestServer } from "../support/harness.js";
import {
  decode,
  expectColor,
  expectError,
  expectTaskFailed,
  makeHugePng,
  makeJpeg,
  makePng,
  runJob,
  startServer,
  taskOf,
  waitTask,
  type Rgb,
} from "./helpers.js";

const GREEN: Rgb = [32, 192, 64];
const BLUE: Rgb = [20, 40, 220];
const RED: Rgb = [200, 30, 40];

let server: TestServer;
let png: Buffer;
let jpeg: Buffer;

beforeAll(async () => {
  [server, png, jpeg] = await Promise.all([startServer(), makePng(40, 30, BLUE), makeJpeg(120, 80, RED)]);
});

afterAll(async () => {
  await server?.close();
});

const b64 = (bytes: Buffer) => bytes.toString("base64");

/** import/base64 -> convert -> export/url of `bytes`, waited for. */
function convertBytes(bytes: Buffer, filename: string, convert: Record<string, unknown>) {
  return runJob(server.api, {
    import: { operation: "import/base64", file: b64(bytes), filename },
    convert: { operation: "convert", input: "import", ...convert },
    export: { operation: "export/url", input: "convert" },
  });
}

/** Runs a good conversion and checks its output: the worker is still taking tasks. */
async function expectWorkerStillConverts(): Promise<void> {
  const { job } = await convertBytes(png, "after.png", { output_format: "webp" });
  expect(job.status).toBe("completed");
  const image = await decode((await download(taskOf(job, "export").result.url)).bytes);
  expect(image).toMatchObject({ format: "webp", width: 40, height: 30 });
}

describe("the per-task timeout", () => {
  it("a conversion past its `timeout` fails with engine_timeout, its process is killed, nothing is left in scratch", async () => {
    const sharp = (await import("sharp")).default;
    // 16 megapixels of noise: AVIF takes libaom many seconds, far past a 1 s budget.
    const noisy = await sharp({ create: { width: 4000, height: 4000, channels: 3, background: "#808080", noise: { type: "gaussian", mean: 128, sigma: 40 } } })
      .jpeg({ quality: 80 })
      .toBuffer();
    const started = Date.now();
    const { job } = await convertBytes(noisy, "noise.jpg", { output_format: "avif", timeout: 1 });
    const convert = taskOf(job, "convert");
    expectTaskFailed(convert, "engine_timeout");
    expect(convert.message).toContain("1 s");
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(readdirSync(join(server.dataDir, "scratch"))).toEqual([]);
    await expectWorkerStillConverts();
  });
});

describe("conversions", () => {
  it("svg -> jpg with background and image_custom_width: the size scales and the background fills the canvas", async () => {
    const svg = Buffer.from(
      `<svg xmlns="http://www.w3.org/2000/svg" width="100" height="50" viewBox="0 0 100 50"><rect x="25" y="10" width="50" height="30" fill="#1428dc"/></svg>`,
    );
    const { job } = await convertBytes(svg, "shape.svg", { output_format: "jpg", options: { background: "#20c040", image_custom_width: 200 } });
    expect(job.status, JSON.stringify(job)).toBe("completed");
    expect(taskOf(job, "import").result.files[0]).toMatchObject({ content_type: "image/svg+xml" });
    expect(taskOf(job, "convert").result).toMatchObject({ width: 200, height: 100 });
    const got = await download(taskOf(job, "export").result.url);
    expect(got.headers.get("content-type")).toBe("image/jpeg");
    const image = await decode(got.bytes);
    expect(image).toMatchObject({ format: "jpeg", width: 200, height: 100 });
    expectColor(image.pixel(4, 4), GREEN, 16);
    expectColor(image.pixel(195, 95), GREEN, 16);
    expectColor(image.pixel(100, 50), BLUE, 24);
  });

  it("a convert `filename` keeps the caller's name, with the extension of the output format", async () => {
    const { job } = await runJob(server.api, {
      import: { operation: "import/base64", file: b64(png), filename: "in.png" },
      plain: { operation: "convert", input: "import", output_format: "jpg", filename: "thumb" },
      alias: { operation: "convert", input: "import", output_format: "jpg", filename: "photo.jpeg" },
      wrong: { operation: "convert", input: "import", output_format: "webp", filename: "picture.png" },
    });
    expect(job.status).toBe("completed");
    expect(taskOf(job, "plain").result.files[0].filename).toBe("thumb.jpg");
    expect(taskOf(job, "alias").result.files[0].filename).toBe("photo.jpeg");
    expect(taskOf(job, "wrong").result.files[0].filename).toBe("picture.webp");
  });
});

describe("import/base64", () => {
  it("converts and exports, and the base64 `file` appears in no answer: not at creation, not in the job, task or wait views", async () => {
    const encoded = b64(png);
    const created = await server.api.post("/v1/process/jobs", {
      tasks: {
        upload: { operation: "import/base64", file: encoded, filename: "blue.png" },
        convert: { operation: "convert", input: "upload", output_format: "jpg" },
        export: { operation: "export/url", input: "convert" },
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const upload = taskOf(created.body, "upload");
    expect(upload.status).toBe("completed");
    expect(upload.payload).toEqual({ filename: "blue.png" });
    expect(upload.result.files).toEqual([{ filename: "blue.png", size: png.length, content_type: "image/png" }]);

    const waited = await server.api.get(`/v1/process/jobs/${created.body.id}/wait`);
    const jobView = await server.api.get(`/v1/process/jobs/${created.body.id}`);
    const taskView = await server.api.get(`/v1/process/tasks/${upload.id}`);
    const taskWait = await server.api.get(`/v1/process/tasks/${upload.id}/wait`);
    for (const res of [created, waited, jobView, taskView, taskWait]) {
      expect(res.status).toBe(200 + (res === created ? 1 : 0));
      const text = JSON.stringify(res.body);
      expect(text).not.toContain(encoded.slice(0, 40));
      expect(text).not.toContain('"file"');
    }
    expect(waited.body.status).toBe("completed");
    const image = await decode((await download(taskOf(waited.body, "export").result.url)).bytes);
    expect(image).toMatchObject({ format: "jpeg", width: 40, height: 30 });
    expectColor(image.pixel(20, 15), BLUE, 20);

    const standalone = await server.api.post("/v1/process/import/base64", { file: `data:image/png;base64,${encoded}`, filename: "data-url.png" });
    expect(standalone.status).toBe(201);
    expect(standalone.body).toMatchObject({ operation: "import/base64", status: "completed", payload: { filename: "data-url.png" } });
    expect(JSON.stringify(standalone.body)).not.toContain(encoded.slice(0, 40));
  });

  it("invalid base64 is a 400 naming the field, and no job is made", async () => {
    const res = await server.api.post("/v1/process/jobs", { tasks: { up: { operation: "import/base64", file: "not base64 at all!!", filename: "x.png" } } });
    expectError(res, 400, "invalid_payload", '"file"');
    const standalone = await server.api.post("/v1/process/import/base64", { file: "%%%", filename: "x.png" });
    expectError(standalone, 400, "invalid_payload", '"file"');
  });
});

describe("failures at run time", () => {
  it("a declared input_format of another family is accepted, then the task fails with format_mismatch", async () => {
    const { created, job } = await convertBytes(png, "blue.png", { input_format: "pdf", output_format: "jpg" });
    expect(taskOf(created, "convert").payload).toMatchObject({ input_format: "pdf" });
    const convert = taskOf(job, "convert");
    expectTaskFailed(convert, "format_mismatch");
    expect(convert.message).toContain("pdf");
    expect(convert.message).toContain("png");
    expect(job.status).toBe("failed");
  });

  it("corrupt and truncated images fail with corrupt_file, and the worker takes the next task", async () => {
    const corrupt = Buffer.concat([png.subarray(0, 33), Buffer.alloc(400, 0xee)]);
    const truncated = jpeg.subarray(0, Math.floor(jpeg.length / 2));
    const [a, b] = await Promise.all([
      convertBytes(corrupt, "corrupt.png", { output_format: "jpg" }),
      convertBytes(truncated, "truncated.jpg", { output_format: "png" }),
    ]);
    expect(taskOf(a.job, "import").result.files[0].content_type).toBe("image/png");
    expect(taskOf(b.job, "import").result.files[0].content_type).toBe("image/jpeg");
    expectTaskFailed(taskOf(a.job, "convert"), "corrupt_file");
    expectTaskFailed(taskOf(b.job, "convert"), "corrupt_file");
    expectTaskFailed(taskOf(a.job, "export"), "upstream_failed");
    await expectWorkerStillConverts();
  });

  it("a valid 50000 x 50000 PNG of a few hundred KB fails quickly with image_too_large", async () => {
    const huge = await makeHugePng(50_000, 50_000);
    expect(huge.length).toBeLessThan(2_000_000);
    const started = Date.now();
    const { job } = await convertBytes(huge, "bomb.png", { output_format: "jpg" });
    expect(Date.now() - started).toBeLessThan(15_000);
    const convert = taskOf(job, "convert");
    expectTaskFailed(convert, "image_too_large");
    expect(convert.message).toContain("50000");
    expect(Date.parse(convert.endedAt) - Date.parse(convert.startedAt)).toBeLessThan(5_000);
    await expectWorkerStillConverts();
  });

  it("a pair no engine converts is accepted, then fails with unsupported_conversion", async () => {
    const pdf = Buffer.from("%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n", "latin1");
    // runJob asserts the 201: the pair is known only from the bytes, so creation accepts it.
    const { job } = await convertBytes(pdf, "doc.pdf", { output_format: "mp3" });
    expect(taskOf(job, "import").result.files[0].content_type).toBe("application/pdf");
    const convert = taskOf(job, "convert");
    expectTaskFailed(convert, "unsupported_conversion");
    expect(convert.message).toContain("pdf to mp3");
    expect(job.result.errorCode).toBe("unsupported_conversion");
  });

  it("the standalone convert endpoint reports a run-time failure on the task's /wait", async () => {
    const imported = await server.api.post("/v1/process/import/base64", { file: b64(Buffer.from("just some text, not an image")), filename: "notes.png" });
    expect(imported.status).toBe(201);
    const convert = await server.api.post("/v1/process/convert", { input: imported.body.id, output_format: "jpg" });
    expect(convert.status).toBe(201);
    const ended = await waitTask(server.api, convert.body.id);
    expect(ended.status).toBe("failed");
    expect(["unsupported_format", "unsupported_conversion"]).toContain(ended.code);
    expect(ended.result.errorCode).toBe(ended.code);
  });
});
