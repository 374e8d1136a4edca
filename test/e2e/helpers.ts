/**
 * Helpers of the end-to-end suite: real images made and decoded with sharp, multipart bodies
 * built byte by byte (so the part order is exactly what a given client sends), a zip reader,
 * and small assertions on the API's answers. No mocks: everything goes through real HTTP.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { cp, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { inflateRawSync } from "node:zlib";
import { applyMigrations, createDatabase } from "@transmute/db";
import sharp from "sharp";
import { expect } from "vitest";
import { startEmbedded, type ApiAnswer, type ApiClient, type TestServer } from "../support/harness.js";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const TEMPLATE_PREFIX = "transmute-e2e-db-";
let template: Promise<string> | null = null;

/**
 * A migrated, empty embedded database, made once by the boot code itself (createDatabase and
 * applyMigrations) and kept in the temp directory under a key of the migrations and the lock
 * file. Creating a PGlite database is most of a server's start (3-6 s on a busy 2-core machine);
 * copying this one takes well under a second. Each server still runs its migrations at boot (a
 * no-op here); a real first boot is what builds the template, and packages/db tests it too.
 */
function databaseTemplate(): Promise<string> {
  template ??= (async () => {
    const hash = createHash("sha256");
    const migrations = join(REPO, "prisma", "migrations");
    for (const entry of (await readdir(migrations, { recursive: true, withFileTypes: true })).filter((e) => e.isFile())) {
      const path = join(entry.parentPath, entry.name);
      hash.update(path.slice(migrations.length)).update(await readFile(path));
    }
    hash.update(await readFile(join(REPO, "package-lock.json")));
    const dir = join(tmpdir(), `${TEMPLATE_PREFIX}${hash.digest("hex").slice(0, 16)}`);
    if (existsSync(join(dir, "ready"))) return dir;
    const building = await mkdtemp(join(tmpdir(), "transmute-e2e-building-"));
    const db = await createDatabase({ dataDir: building });
    await applyMigrations(db);
    await db.close();
    await writeFile(join(building, "ready"), "");
    // Another test process may have made it meanwhile: theirs is as good as ours.
    await rename(building, dir).catch(() => rm(building, { recursive: true, force: true }));
    await removeStaleTemplates(dir);
    return dir;
  })();
  return template;
}

/** Removes templates of older migrations or lock files (a day old: nothing still copies them). */
async function removeStaleTemplates(current: string): Promise<void> {
  for (const name of await readdir(tmpdir()).catch(() => [] as string[])) {
    const path = join(tmpdir(), name);
    if (!name.startsWith(TEMPLATE_PREFIX) || path === current) continue;
    const info = await stat(path).catch(() => null);
    if (info && Date.now() - info.mtimeMs > 24 * 3600_000) await rm(path, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * Starts an embedded server (startEmbedded) on a data directory seeded with the template
 * database. With `dataDir`, that directory is used and kept (a restart on the same data).
 */
export async function startServer(env: Record<string, string> = {}, opts: { dataDir?: string } = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), "transmute-e2e-")));
  if (!existsSync(join(dataDir, "db"))) await cp(join(await databaseTemplate(), "db"), join(dataDir, "db"), { recursive: true });
  const server = await startEmbedded({ ...env, TRANSMUTE_DATA_DIR: dataDir });
  return {
    ...server,
    async close() {
      await server.close();
      if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** An RGB colour, 0..255 channels. */
export type Rgb = [number, number, number];

/** A solid-colour JPEG. */
export function makeJpeg(width: number, height: number, rgb: Rgb): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).jpeg({ quality: 95 }).toBuffer();
}

/** A solid-colour PNG. */
export function makePng(width: number, height: number, rgb: Rgb): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toBuffer();
}

/** What a decoded image is: format, size, and the colour of one pixel. */
export interface Decoded {
  format: string | undefined;
  width: number;
  height: number;
  pixel(x: number, y: number): Rgb;
}

/** Decodes an image with sharp (rejects when the bytes are no image). */
export async function decode(bytes: Buffer): Promise<Decoded> {
  const meta = await sharp(bytes).metadata();
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return {
    format: meta.format,
    width: info.width,
    height: info.height,
    pixel(x, y) {
      const at = (y * info.width + x) * info.channels;
      return [data[at]!, data[at + 1]!, data[at + 2]!];
    },
  };
}

/** Asserts two colours are within `tolerance` on every channel. */
export function expectColor(actual: Rgb, expected: Rgb, tolerance = 12): void {
  actual.forEach((channel, i) => expect(Math.abs(channel - expected[i]!), `${actual.join(",")} vs ${expected.join(",")}`).toBeLessThanOrEqual(tolerance));
}

/** One part of a multipart body: a field, or a file. */
export type Part = { name: string; value: string } | { name: string; filename: string; type?: string; data: Buffer };

/** Builds a multipart/form-data body with the parts in exactly this order. */
export function multipart(parts: Part[], boundary = `----transmute${Math.random().toString(16).slice(2)}`): { body: Buffer; contentType: string } {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    if ("value" in part) {
      chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"\r\n\r\n${part.value}\r\n`, "utf8"));
    } else {
      const head = `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"; filename="${part.filename}"\r\nContent-Type: ${part.type ?? "application/octet-stream"}\r\n\r\n`;
      chunks.push(Buffer.from(head, "utf8"), part.data, Buffer.from("\r\n"));
    }
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** Posts a multipart body built by `multipart`; `redirect: "follow"` as curl -L does. */
export async function postForm(
  url: string,
  parts: Part[],
  opts: { headers?: Record<string, string>; redirect?: "follow" | "manual" } = {},
): Promise<ApiAnswer> {
  const { body, contentType } = multipart(parts);
  const res = await fetch(url, { method: "POST", body, headers: { "content-type": contentType, ...(opts.headers ?? {}) }, redirect: opts.redirect ?? "manual" });
  const text = await res.text();
  const json = (res.headers.get("content-type") ?? "").includes("json") && text.length > 0;
  return { status: res.status, headers: res.headers, body: json ? JSON.parse(text) : text };
}

/** The form of an import/upload task, as its view shows it. */
export interface UploadForm {
  url: string;
  parameters: { expires: number; size_limit: number; max_file_count: number; signature: string };
}

/** Creates a standalone import/upload task and returns it with its form. */
export async function createUpload(api: ApiClient, body: Record<string, unknown> = {}): Promise<{ task: any; form: UploadForm }> {
  const created = await api.post("/v1/process/import/upload", body);
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return { task: created.body, form: created.body.result.form as UploadForm };
}

/** Uploads `data` to a form as the reference's curl does (every parameter, then the file). */
export function uploadLikeCurl(form: UploadForm, data: Buffer, filename = "file.bin", opts: { signature?: string } = {}): Promise<ApiAnswer> {
  const p = form.parameters;
  return postForm(
    `${form.url}/`,
    [
      { name: "expires", value: String(p.expires) },
      { name: "max_file_count", value: String(p.max_file_count) },
      { name: "size_limit", value: String(p.size_limit) },
      { name: "signature", value: opts.signature ?? p.signature },
      { name: "file", filename, data },
    ],
    { redirect: "follow" },
  );
}

/** Waits for a job through the API and returns its view (asserting a 200). */
export async function waitJob(api: ApiClient, jobId: string): Promise<any> {
  const res = await api.get(`/v1/process/jobs/${jobId}/wait`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

/** Waits for a task through the API and returns its view (asserting a 200). */
export async function waitTask(api: ApiClient, taskId: string): Promise<any> {
  const res = await api.get(`/v1/process/tasks/${taskId}/wait`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

/** Creates a job (asserting the 201) and waits for it to end. */
export async function runJob(api: ApiClient, tasks: Record<string, unknown>, tag?: string): Promise<{ created: any; job: any }> {
  const res = await api.post("/v1/process/jobs", { ...(tag ? { tag } : {}), tasks });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { created: res.body, job: await waitJob(api, res.body.id) };
}

/** The task named `name` of a job view. */
export function taskOf(job: any, name: string): any {
  const task = (job.tasks as any[]).find((t) => t.name === name);
  expect(task, `task "${name}" in ${JSON.stringify(job.tasks?.map((t: any) => t.name))}`).toBeDefined();
  return task;
}

/** Asserts an error answer: the status, the `{code, message}` body, and optionally message parts. */
export function expectError(res: ApiAnswer, status: number, code: string, ...messageParts: string[]): void {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers.get("content-type") ?? "").toContain("application/json");
  expect(res.body).toEqual({ code, message: expect.any(String) });
  expect(res.body.message.length).toBeGreaterThan(0);
  for (const part of messageParts) expect(res.body.message).toContain(part);
}

/** Asserts a task failed with `code` (on the task and in its `result`). */
export function expectTaskFailed(task: any, code: string): void {
  expect(task.status, JSON.stringify(task)).toBe("failed");
  expect(task.code).toBe(code);
  expect(task.result.errorCode).toBe(code);
  expect(typeof task.result.msg).toBe("string");
  expect(task.result.msg.trim().length).toBeGreaterThan(0);
  expect(task.message).toBe(task.result.msg);
}

/** Files stored for a task under the local-disk store (every attempt), and stray temp files. */
export function storedFiles(dataDir: string, taskId: string): string[] {
  const dir = join(dataDir, "files", "tasks", taskId);
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/** Temp files of the local-disk store (partial writes). */
export function tempFiles(dataDir: string): string[] {
  const dir = join(dataDir, "files", ".tmp");
  return existsSync(dir) ? readdirSync(dir) : [];
}

/** One entry of a zip archive. */
export interface ZipEntry {
  name: string;
  data: Buffer;
}

/** Reads a zip archive through its central directory (stored and deflated entries). */
export function readZip(zip: Buffer): ZipEntry[] {
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 65_535); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error("not a zip: no end of central directory record");
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  const entries: ZipEntry[] = [];
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error(`bad central directory entry at ${at}`);
    const method = zip.readUInt16LE(at + 10);
    const compressedSize = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const localOffset = zip.readUInt32LE(at + 42);
    const name = zip.subarray(at + 46, at + 46 + nameLength).toString("utf8");
    at += 46 + nameLength + extraLength + commentLength;
    if (zip.readUInt32LE(localOffset) !== 0x04034b50) throw new Error(`bad local header of ${name}`);
    const dataStart = localOffset + 30 + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28);
    const raw = zip.subarray(dataStart, dataStart + compressedSize);
    const data = method === 0 ? Buffer.from(raw) : method === 8 ? inflateRawSync(raw) : null;
    if (!data) throw new Error(`entry ${name}: compression method ${method} not supported`);
    entries.push({ name, data });
  }
  return entries;
}

export { makeHugePng } from "../support/huge-png.js";

/** Polls `check` until it returns true or `ms` pass. */
export async function eventually(check: () => Promise<boolean> | boolean, ms = 10_000, what = "condition"): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
