/**
 * The conversion engines end to end, as FreeConvert's official example clients use them: mp4 ->
 * mp3 through both upload flows, a web page captured, rendered to PNG and merged with two images
 * into a PDF, a thumbnail and its PDF zipped by an export of an export; PDF pages as files,
 * archives unpacked, the per-task timeout, and a pair no running worker converts (201, then a
 * failed task naming the pair, and never listed by the options endpoint).
 */
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { crc32, gzipSync } from "node:zlib";
import { isSealedSecrets, openSecrets } from "@transmute/core";
import { PDFDocument, rgb, StandardFonts } from "pdf-lib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { download, serveFiles, type TestServer } from "../support/harness.js";
import { engineAvailable } from "../support/engine-tools.js";
import {
  createUpload,
  decode,
  expectColor,
  expectError,
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
} from "./helpers.js";

const run = promisify(execFile);
const tools = ["ffmpeg", "ffprobe", "soffice", "pdftoppm", "chromium", "7zz"];
const haveTools = await engineAvailable("external tools (ffmpeg, LibreOffice, poppler, Chromium, 7-Zip)", async () => {
  const missing: string[] = [];
  for (const tool of tools) await run("sh", ["-c", `command -v ${tool}`]).catch(() => missing.push(tool));
  return missing.length === 0 ? { available: true } : { available: false, missing: `not found: ${missing.join(", ")}` };
});

let server: TestServer;
let work: string;
let mp4: Buffer;

/** Duration and codec names of a media file, by ffprobe. */
async function probe(bytes: Buffer, name: string): Promise<{ duration: number; codecs: string[] }> {
  const path = join(work, name);
  await writeFile(path, bytes);
  const { stdout } = await run("ffprobe", ["-v", "error", "-show_entries", "format=duration:stream=codec_name", "-of", "json", path]);
  const info = JSON.parse(stdout) as { format: { duration: string }; streams: Array<{ codec_name: string }> };
  return { duration: Number(info.format.duration), codecs: info.streams.map((s) => s.codec_name) };
}

/** A PDF of `pages` pages, each with its number as text. */
async function makePdf(pages: number): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  for (let i = 1; i <= pages; i++) {
    const page = doc.addPage([300, 200]);
    page.drawText(`Page number ${i}`, { x: 20, y: 100, size: 18, font, color: rgb(0, 0, 0) });
  }
  return Buffer.from(await doc.save());
}

describe.skipIf(!haveTools)("engines end to end (embedded)", () => {
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "transmute-engines-e2e-"));
    const video = join(work, "clip.mp4");
    await run("ffmpeg", [
      "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=15:duration=2", "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
      "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", video,
    ]);
    [server, mp4] = await Promise.all([startServer(), readFile(video)]);
  });

  afterAll(async () => {
    await server?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("mp4 -> mp3 with the upload task inside the job (official example)", async () => {
    const created = await server.api.post("/v1/process/jobs", {
      tasks: {
        upload: { operation: "import/upload" },
        convert: { operation: "convert", input: "upload", input_format: "mp4", output_format: "mp3" },
        export: { operation: "export/url", input: ["convert"] },
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const upload = (created.body.tasks as any[]).find((t) => t.name === "upload");
    expect((await uploadLikeCurl(upload.result.form, mp4, "clip.mp4")).status).toBeLessThan(400);
    const job = await waitJob(server.api, created.body.id);
    expect(job.status, JSON.stringify(job)).toBe("completed");
    const audio = await download(taskOf(job, "export").result.url);
    const info = await probe(audio.bytes, "a.mp3");
    expect(info.codecs).toEqual(["mp3"]);
    expect(info.duration).toBeGreaterThan(1.8);
    expect(info.duration).toBeLessThan(2.3);
    expect(taskOf(job, "convert").result.files[0].filename).toBe("clip.mp3");
  });

  it("mp4 -> mp3 with a standalone upload task, then a job that names it", async () => {
    const { task, form } = await createUpload(server.api);
    expect((await uploadLikeCurl(form, mp4, "movie.mp4")).status).toBeLessThan(400);
    expect((await waitTask(server.api, task.id)).status).toBe("completed");
    const { job } = await runJob(server.api, {
      convert: { operation: "convert", input: task.id, output_format: "mp3", options: { audio_bitrate: "96k" } },
      export: { operation: "export/url", input: "convert" },
    });
    expect(job.status, JSON.stringify(job)).toBe("completed");
    const info = await probe((await download(taskOf(job, "export").result.url)).bytes, "b.mp3");
    expect(info.codecs).toEqual(["mp3"]);
  });

  it("captures a web page, renders it to PNG and merges it with two images into a PDF (official example)", async () => {
    const site = await serveFiles({
      "/": { status: 302, body: "", headers: { location: "/page" } },
      "/page": { type: "text/html", body: '<html><head><link rel="stylesheet" href="/s.css"></head><body><div id="box"></div><p>Hello</p></body></html>' },
      // Sent gzip-encoded: the capture hands Chromium the decoded stylesheet.
      "/s.css": { type: "text/css", body: gzipSync("body{margin:0;background:#fff} #box{width:400px;height:300px;background:rgb(20,40,220)}"), headers: { "content-encoding": "gzip" } },
    });
    try {
      const [jpeg, png] = await Promise.all([makeJpeg(200, 100, [200, 30, 40]), makePng(100, 200, [32, 192, 64])]);
      const { job } = await runJob(server.api, {
        page: { operation: "import/webpage", url: `${site.url}/` },
        shot: { operation: "convert", input: "page", output_format: "png", options: { viewport_width: 1024 } },
        one: { operation: "import/base64", file: jpeg.toString("base64"), filename: "one.jpg" },
        two: { operation: "import/base64", file: png.toString("base64"), filename: "two.png" },
        merge: { operation: "merge", input: ["shot", "one", "two"], output_format: "pdf" },
        export: { operation: "export/url", input: "merge" },
        shotExport: { operation: "export/url", input: "shot" },
      });
      expect(job.status, JSON.stringify(job)).toBe("completed");
      expect(taskOf(job, "page").result.files[0].filename).toMatch(/\.mhtml$/);
      expect(site.hits).toEqual(expect.arrayContaining(["/", "/page", "/s.css"]));
      const shot = await decode((await download(taskOf(job, "shotExport").result.url)).bytes);
      expect(shot.format).toBe("png");
      expect(shot.width).toBe(1024);
      expectColor(shot.pixel(100, 100), [20, 40, 220]);
      const pdf = await PDFDocument.load((await download(taskOf(job, "export").result.url)).bytes);
      expect(pdf.getPageCount()).toBe(3);
    } finally {
      await site.close();
    }
  });

  it("zips a thumbnail and its PDF through an export of an export (official example)", async () => {
    const html = "<html><body><h1>Quarterly report</h1><p>Text of the report.</p></body></html>";
    const { job } = await runJob(server.api, {
      doc: { operation: "import/base64", file: Buffer.from(html).toString("base64"), filename: "report.html" },
      pdf: { operation: "convert", input: "doc", output_format: "pdf" },
      thumb: { operation: "convert", input: "pdf", output_format: "jpg", options: { dpi: 30, page_range: "1" } },
      exportPdf: { operation: "export/url", input: "pdf" },
      bundle: { operation: "export/url", input: ["thumb", "exportPdf"], archive_multiple_files: true, filename: "bundle.zip" },
    });
    expect(job.status, JSON.stringify(job)).toBe("completed");
    const entries = readZip((await download(taskOf(job, "bundle").result.url)).bytes);
    expect(entries.map((e) => e.name).sort()).toEqual(["report.jpg", "report.pdf"]);
    const thumb = await decode(entries.find((e) => e.name === "report.jpg")!.data);
    expect(thumb.format).toBe("jpeg");
    const pdf = await PDFDocument.load(entries.find((e) => e.name === "report.pdf")!.data);
    expect(pdf.getPageCount()).toBeGreaterThanOrEqual(1);
  });

  it("gives one file per PDF page, and a zip of them through archive_multiple_files", async () => {
    const { job } = await runJob(server.api, {
      doc: { operation: "import/base64", file: (await makePdf(3)).toString("base64"), filename: "three.pdf" },
      pages: { operation: "convert", input: "doc", output_format: "png", options: { dpi: 72 } },
      zip: { operation: "export/url", input: "pages", archive_multiple_files: true },
    });
    expect(job.status, JSON.stringify(job)).toBe("completed");
    const pages = taskOf(job, "pages");
    expect(pages.result.files.map((f: any) => f.filename)).toEqual(["three-1.png", "three-2.png", "three-3.png"]);
    const entries = readZip((await download(taskOf(job, "zip").result.url)).bytes);
    expect(entries).toHaveLength(3);
    for (const entry of entries) expect(await decode(entry.data)).toMatchObject({ format: "png", width: 300, height: 200 });
  });

  it("unpacks an archive into the task's files", async () => {
    const zipPath = join(work, "in.zip");
    await writeFile(join(work, "a.txt"), "alpha");
    await writeFile(join(work, "b.txt"), "beta");
    await run("7zz", ["a", "-tzip", zipPath, join(work, "a.txt"), join(work, "b.txt")]);
    const { job } = await runJob(server.api, {
      zip: { operation: "import/base64", file: (await readFile(zipPath)).toString("base64"), filename: "in.zip" },
      unpack: { operation: "extract", input: "zip" },
      export: { operation: "export/url", input: "unpack" },
    });
    expect(job.status, JSON.stringify(job)).toBe("completed");
    const files = taskOf(job, "export").result.files as Array<{ filename: string; url: string }>;
    expect(files.map((f) => f.filename).sort()).toEqual(["a.txt", "b.txt"]);
    const texts = await Promise.all(files.map(async (f) => (await download(f.url)).bytes.toString()));
    expect(texts.sort()).toEqual(["alpha", "beta"]);
  });

  it("fails a task past its own timeout with engine_timeout, refuses a timeout above the maximum, and keeps converting", async () => {
    const long = join(work, "long.mp4");
    await run("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=120", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "40", "-pix_fmt", "yuv420p", long]);
    const started = Date.now();
    const { job } = await runJob(server.api, {
      clip: { operation: "import/base64", file: (await readFile(long)).toString("base64"), filename: "long.mp4" },
      slow: { operation: "convert", input: "clip", output_format: "webm", timeout: 2 },
    });
    expectTaskFailed(taskOf(job, "slow"), "engine_timeout");
    expect(Date.now() - started).toBeLessThan(30_000);
    expectError(
      await server.api.post("/v1/process/jobs", { tasks: { t: { operation: "import/url", url: "http://127.0.0.1/x", timeout: 999_999 } } }),
      400,
      "invalid_payload",
    );
    const again = await runJob(server.api, {
      clip: { operation: "import/base64", file: mp4.toString("base64"), filename: "clip.mp4" },
      gif: { operation: "convert", input: "clip", output_format: "gif" },
    });
    expect(again.job.status).toBe("completed");
  });

  it("opens an encrypted PDF only with its password, which no answer ever shows", async () => {
    const plain = join(work, "plain.pdf");
    const locked = join(work, "locked.pdf");
    await writeFile(plain, await makePdf(2));
    await run("qpdf", ["--encrypt", "open-sesame", "owner-pw", "256", "--", plain, locked]);
    const file = (await readFile(locked)).toString("base64");
    const without = await runJob(server.api, {
      doc: { operation: "import/base64", file, filename: "locked.pdf" },
      pages: { operation: "convert", input: "doc", output_format: "png", options: { dpi: 36 } },
    });
    expectTaskFailed(taskOf(without.job, "pages"), "password_protected");
    const withPassword = await runJob(server.api, {
      doc: { operation: "import/base64", file, filename: "locked.pdf" },
      pages: { operation: "convert", input: "doc", output_format: "png", options: { dpi: 36, password: "open-sesame" } },
    });
    const pages = taskOf(withPassword.job, "pages");
    expect(pages.status, JSON.stringify(pages)).toBe("completed");
    expect(pages.result.files).toHaveLength(2);
    expect(pages.payload.options).toEqual({ dpi: 36, password: "*****" });
    const shown = JSON.stringify([withPassword.created, withPassword.job, (await server.api.get(`/v1/process/tasks/${pages.id}`)).body]);
    expect(shown).not.toContain("open-sesame");
    // Ended: the secrets are gone from the database.
    expect((await server.app.engine.prisma.task.findUniqueOrThrow({ where: { id: pages.id } })).secrets).toBeNull();
  });

  it("stores a waiting task's password sealed, never in clear", async () => {
    const created = await server.api.post("/v1/process/jobs", {
      tasks: {
        up: { operation: "import/upload" },
        pages: { operation: "convert", input: "up", output_format: "png", options: { password: "open-sesame" } },
      },
    });
    expect(created.status).toBe(201);
    const id = (created.body.tasks as any[]).find((t) => t.name === "pages").id;
    const row = await server.app.engine.prisma.task.findUniqueOrThrow({ where: { id } });
    expect(JSON.stringify(row)).not.toContain("open-sesame");
    expect(isSealedSecrets(row.secrets)).toBe(true);
    expect(openSecrets(server.app.engine.settings.secret, row.secrets)).toEqual({ "options.password": "open-sesame" });
    expect((await server.api.request("DELETE", `/v1/process/jobs/${created.body.id}`)).status).toBeLessThan(300);
  });

  it("refuses a zip-slip entry and a tar symlink, leaves no scratch file, and takes the next task", async () => {
    const evil = join(work, "evil");
    await run("sh", ["-c", `mkdir -p ${evil}/a && cd ${evil}/a && echo x > ok.txt && ln -sf /etc/passwd link && tar -cf ../links.tar ok.txt link`]);
    const slip = Buffer.from(
      // A stored zip with one entry named "../evil.txt" (local header, data, central directory, end record).
      (() => {
        const name = Buffer.from("../evil.txt");
        const data = Buffer.from("pwned");
        const crc = crc32(data);
        const local = Buffer.alloc(30);
        local.writeUInt32LE(0x04034b50, 0); local.writeUInt16LE(20, 4); local.writeUInt32LE(crc, 14);
        local.writeUInt32LE(data.length, 18); local.writeUInt32LE(data.length, 22); local.writeUInt16LE(name.length, 26);
        const central = Buffer.alloc(46);
        central.writeUInt32LE(0x02014b50, 0); central.writeUInt16LE(20, 4); central.writeUInt16LE(20, 6); central.writeUInt32LE(crc, 16);
        central.writeUInt32LE(data.length, 20); central.writeUInt32LE(data.length, 24); central.writeUInt16LE(name.length, 28);
        const centralAt = local.length + name.length + data.length;
        const end = Buffer.alloc(22);
        end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(1, 8); end.writeUInt16LE(1, 10);
        end.writeUInt32LE(central.length + name.length, 12); end.writeUInt32LE(centralAt, 16);
        return Buffer.concat([local, name, data, central, name, end]);
      })(),
    );
    const { job } = await runJob(server.api, {
      slip: { operation: "import/base64", file: slip.toString("base64"), filename: "slip.zip" },
      links: { operation: "import/base64", file: (await readFile(join(evil, "links.tar"))).toString("base64"), filename: "links.tar" },
      a: { operation: "extract", input: "slip", ignore_error: true },
      b: { operation: "convert", input: "links", output_format: "zip", ignore_error: true },
    });
    for (const name of ["a", "b"]) {
      expectTaskFailed(taskOf(job, name), "unsafe_archive");
    }
    expect(taskOf(job, "a").message).toContain("../evil.txt");
    expect(await readdir(join(server.dataDir, "scratch")).catch(() => [])).toEqual([]);
    const next = await runJob(server.api, {
      clip: { operation: "import/base64", file: mp4.toString("base64"), filename: "clip.mp4" },
      wav: { operation: "convert", input: "clip", output_format: "wav" },
    });
    expect(next.job.status).toBe("completed");
  });

  it("answers 201 for a pair no engine converts, then fails the task naming the pair", async () => {
    // runJob asserts the 201; the task fails when it becomes ready (here at once: its input is inline).
    const { job } = await runJob(server.api, {
      img: { operation: "import/base64", file: (await makePng(8, 8, [1, 2, 3])).toString("base64"), filename: "x.png" },
      audio: { operation: "convert", input: "img", output_format: "mp3" },
    });
    const task = taskOf(job, "audio");
    expectTaskFailed(task, "unsupported_conversion");
    expect(task.message).toContain("png to mp3");
  });

  it("lists the engines' targets in /query/view/options", async () => {
    const docx = await server.api.get("/v1/query/view/options?operation=convert&input_format=docx");
    expect(docx.status).toBe(200);
    const docTargets = JSON.stringify(docx.body);
    for (const ext of ["pdf", "odt"]) expect(docTargets).toContain(`"ext":"${ext}"`);
    const mp4Options = JSON.stringify((await server.api.get("/v1/query/view/options?operation=convert&input_format=mp4")).body);
    for (const ext of ["mp3", "webm", "gif"]) expect(mp4Options).toContain(`"ext":"${ext}"`);
  });
});

describe.skipIf(!haveTools)("a worker without the office and media engines", () => {
  let small: TestServer;
  beforeAll(async () => {
    small = await startServer({ TRANSMUTE_ENGINES: "io,image" });
  });
  afterAll(async () => {
    await small?.close();
  });

  it("takes the job (201), fails the task with unsupported_conversion naming the pair, and never lists it", async () => {
    const { job } = await runJob(small.api, {
      doc: { operation: "import/base64", file: Buffer.from("<p>hi</p>").toString("base64"), filename: "a.html" },
      pdf: { operation: "convert", input: "doc", input_format: "html", output_format: "pdf" },
    });
    const task = taskOf(job, "pdf");
    expectTaskFailed(task, "unsupported_conversion");
    expect(task.message).toContain("html to pdf");
    const options = await small.api.get("/v1/query/view/options?operation=convert&input_format=mp4");
    expect(options.status).toBe(200);
    expect(JSON.stringify(options.body)).not.toContain('"ext":"mp3"');
  });
});
