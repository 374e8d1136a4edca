/**
 * export/url zips 10,000 files in bounded memory and with a bounded number of open files. The
 * files are made without 10,000 imports: one import/base64 task through the API, then 9,999
 * more files of that task written through the real storage driver and recorded in the real
 * database (a test-only bulk path); the export itself is a normal job through the API.
 */
import { randomUUID } from "node:crypto";
import { readdirSync } from "node:fs";
import { get } from "node:http";
import { join } from "node:path";
import { createLocalDiskStore } from "@transmute/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestServer } from "../support/harness.js";
import { readZip, runJob, startServer, taskOf } from "./helpers.js";

const FILES = 10_000;
let server: TestServer;

beforeAll(async () => {
  server = await startServer();
});

afterAll(async () => {
  await server?.close();
});

const contentOf = (i: number) => Buffer.from(`file ${i}: ${"x".repeat(i % 50)}\n`);
const nameOf = (i: number) => `file-${String(i).padStart(5, "0")}.txt`;

/** Adds files 1..FILES-1 to `taskId` (file 0 came from the import): objects in the store, rows in the database. */
async function addFiles(taskId: string): Promise<void> {
  const prisma = server.app.engine.prisma;
  const seed = (await prisma.file.findFirstOrThrow({ where: { taskId } })) as { expiresAt: Date; createdAt: Date };
  const store = createLocalDiskStore({ root: server.app.config.storageDir });
  const rows: Array<Record<string, unknown>> = [];
  let next = 1;
  const writer = async () => {
    while (next < FILES) {
      const i = next++;
      const key = `tasks/${taskId}/0/${i}`;
      const { Readable } = await import("node:stream");
      const put = await store.put(key, Readable.from([contentOf(i)]));
      rows.push({
        id: randomUUID(), taskId, ordinal: i, name: nameOf(i), size: BigInt(put.size), contentType: "text/plain", format: "txt",
        sha256: put.sha256, md5: put.md5, storageKey: key, status: "enabled", expiresAt: seed.expiresAt, createdAt: seed.createdAt,
      });
    }
  };
  await Promise.all(Array.from({ length: 16 }, writer));
  for (let i = 0; i < rows.length; i += 1000) await prisma.file.createMany({ data: rows.slice(i, i + 1000) as never });
}

/** Downloads on a connection of its own, closed after the answer (none is left for the server's close to wait on). */
function downloadOnce(url: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`HTTP ${res.statusCode}`))));
      res.on("error", reject);
    }).on("error", reject);
  });
}

/** Samples this process's resident memory and open file descriptors until stopped (the server runs in-process). */
function sampleProcess() {
  const fds = () => readdirSync("/proc/self/fd").length;
  const peak = { rss: process.memoryUsage().rss, fds: fds() };
  const timer = setInterval(() => {
    peak.rss = Math.max(peak.rss, process.memoryUsage().rss);
    peak.fds = Math.max(peak.fds, fds());
  }, 20);
  return { peak, stop: () => clearInterval(timer) };
}

describe("export/url with archive_multiple_files", () => {
  it(`zips ${FILES} files appending one entry at a time`, async () => {
    const t0 = Date.now();
    const { job: seeded } = await runJob(server.api, { seed: { operation: "import/base64", file: contentOf(0).toString("base64"), filename: nameOf(0) } });
    const seedTask = taskOf(seeded, "seed");
    await addFiles(seedTask.id);
    const made = Date.now() - t0;

    global.gc?.();
    const before = { rss: process.memoryUsage().rss, fds: readdirSync("/proc/self/fd").length };
    const sampler = sampleProcess();
    const t1 = Date.now();
    const { job } = await runJob(server.api, { zip: { operation: "export/url", input: seedTask.id, archive_multiple_files: true, filename: "many" } });
    const zipped = Date.now() - t1;
    sampler.stop();
    const after = { rss: process.memoryUsage().rss, fds: readdirSync("/proc/self/fd").length };
    const task = taskOf(job, "zip");
    expect(task.status, JSON.stringify(task)).toBe("completed");
    expect(task.result.files).toEqual([expect.objectContaining({ filename: "many.zip", content_type: "application/zip" })]);

    const zip = await downloadOnce(task.result.url);
    const entries = readZip(zip);
    expect(entries).toHaveLength(FILES);
    for (const i of [0, 1, 2, Math.floor(FILES / 2), FILES - 2, FILES - 1]) {
      expect(entries[i]!.name).toBe(nameOf(i));
      expect(entries[i]!.data.equals(contentOf(i))).toBe(true);
    }
    const mb = (n: number) => (n / 2 ** 20).toFixed(0);
    console.log(
      `zip of ${FILES} files: made in ${made} ms, zipped in ${zipped} ms, ${zip.length} B; ` +
        `RSS before ${mb(before.rss)} MiB, peak ${mb(sampler.peak.rss)} MiB, after ${mb(after.rss)} MiB; ` +
        `open files before ${before.fds}, peak ${sampler.peak.fds}, after ${after.fds}`,
    );
    // One source stream at a time (plus the zip being written): never thousands.
    expect(sampler.peak.fds - before.fds).toBeLessThan(40);
    expect(sampler.peak.rss - before.rss).toBeLessThan(300 * 2 ** 20);
    expect(readdirSync(join(server.dataDir, "scratch")).length).toBe(0);
  });
});
