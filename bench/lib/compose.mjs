/**
 * The compose workloads: merging 50 JPEGs into one PDF and zipping 100 files, through the API
 * (one job each: the inputs as import/base64 tasks, then merge -> export/url, or one export/url
 * with archive_multiple_files) and by pdf-lib and archiver directly in this process, the way
 * the server's handlers use them (packages/engines/src/merge-pdf.ts, export-url.ts).
 */
import { createWriteStream } from "node:fs";
import { rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { finished } from "node:stream/promises";
import archiver from "archiver";
import { PDFDocument } from "pdf-lib";

/** JPEGs merged per job. */
export const MERGE_IMAGES = 50;
/** Files zipped per job. */
export const ZIP_FILES = 100;

/** The zip inputs: text-like files of 4-12 KiB (they compress, as logs and documents do), the same every run. */
export function zipInputs() {
  return Array.from({ length: ZIP_FILES }, (_, i) => {
    const line = `row ${i}: ${"lorem ipsum dolor sit amet ".repeat(3)}\n`;
    return { name: `file-${String(i).padStart(3, "0")}.txt`, bytes: Buffer.from(line.repeat(Math.ceil((4096 + (i % 9) * 1024) / line.length))) };
  });
}

async function call(method, url, key, body) {
  const init = { method, headers: { authorization: `Bearer ${key}` } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(url, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${new URL(url).pathname} answered ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

const ms = (a, b) => (a && b ? Date.parse(b) - Date.parse(a) : NaN);

/**
 * One job of `files` (import/base64 each) into `step` (merge or export), waited for and its
 * output downloaded. Returns the client's wall time and the server's run time of the step.
 */
async function runComposeJob(base, key, files, step, check) {
  const tasks = {};
  files.forEach((f, i) => (tasks[`in${i}`] = { operation: "import/base64", file: f.bytes.toString("base64"), filename: f.name }));
  const inputs = files.map((_, i) => `in${i}`);
  if (step === "merge") {
    tasks.merge = { operation: "merge", input: inputs, output_format: "pdf", filename: "merged.pdf" };
    tasks.export = { operation: "export/url", input: "merge" };
  } else {
    tasks.export = { operation: "export/url", input: inputs, archive_multiple_files: true, filename: "files.zip" };
  }
  const t0 = performance.now();
  const job = await call("POST", `${base}/v1/process/jobs`, key, { tag: "bench-compose", tasks });
  const t1 = performance.now();
  const done = await call("GET", `${base}/v1/process/jobs/${job.id}/wait`, key);
  if (done.status !== "completed") {
    const failed = done.tasks.filter((t) => t.status !== "completed").map((t) => `${t.name}: ${t.status} ${t.code ?? ""} ${t.message ?? ""}`);
    throw new Error(`job ${job.id} ended ${done.status}: ${failed.join("; ")}`);
  }
  const exp = done.tasks.find((t) => t.name === "export");
  const res = await fetch(exp.result.url);
  const bytes = Buffer.from(await res.arrayBuffer());
  const t2 = performance.now();
  if (!res.ok || !check(bytes)) throw new Error(`the ${step} output is not what was asked (HTTP ${res.status}, ${bytes.length} B)`);
  const run = done.tasks.find((t) => t.name === step);
  return { total: t2 - t0, create: t1 - t0, run: ms(run.startedAt, run.endedAt), outputBytes: bytes.length };
}

const isPdf = (b) => b.subarray(0, 5).toString("latin1") === "%PDF-";
const isZip = (b) => b.readUInt32LE(0) === 0x04034b50;

/** Merges `photo` x MERGE_IMAGES through the API, `runs` times one after the other. */
export async function mergeThroughApi(base, key, photo, runs) {
  const files = Array.from({ length: MERGE_IMAGES }, (_, i) => ({ name: `photo-${i}.jpg`, bytes: photo.bytes }));
  const out = [];
  for (let i = 0; i < runs; i++) out.push(await runComposeJob(base, key, files, "merge", isPdf));
  return out;
}

/** Zips zipInputs() through the API, `runs` times one after the other. */
export async function zipThroughApi(base, key, runs) {
  const files = zipInputs();
  const out = [];
  for (let i = 0; i < runs; i++) out.push(await runComposeJob(base, key, files, "export", isZip));
  return out;
}

/** pdf-lib directly: each JPEG embedded as it is on a page of its size, as merge-pdf.ts does. */
export async function mergeDirect(photo, runs) {
  const times = [];
  let size = 0;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    const doc = await PDFDocument.create();
    for (let i = 0; i < MERGE_IMAGES; i++) {
      const image = await doc.embedJpg(photo.bytes);
      doc.addPage([image.width, image.height]).drawImage(image, { x: 0, y: 0, width: image.width, height: image.height });
    }
    const bytes = await doc.save({ useObjectStreams: true });
    times.push(performance.now() - t0);
    size = bytes.length;
  }
  return { times, outputBytes: size };
}

/** archiver directly: the same files to a zip file at level 6, one entry after the other. */
export async function zipDirect(dir, runs) {
  const files = zipInputs();
  const times = [];
  let size = 0;
  const path = join(dir, "direct.zip");
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    const zip = archiver("zip", { zlib: { level: 6 } });
    const out = createWriteStream(path);
    zip.pipe(out);
    for (const f of files) zip.append(f.bytes, { name: f.name });
    await zip.finalize();
    await finished(out);
    times.push(performance.now() - t0);
    size = (await stat(path)).size;
  }
  await rm(path, { force: true });
  return { times, outputBytes: size };
}
