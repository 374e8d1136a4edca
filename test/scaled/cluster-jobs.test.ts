/**
 * Two gateways and two workers as separate OS processes on one fresh Postgres database and Redis
 * prefix, all started at once: the reference job, jobs spread over both workers, fan-out/fan-in,
 * and events reaching /wait across processes.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCluster, REPO_ROOT, type Cluster, type ServerProcess } from "../support/cluster.js";
import { download } from "../support/harness.js";
import { servicesAvailable } from "../support/services.js";
import { createGate, makeJpeg, pidOfServer, printLogsOnFailure, referenceJob, startSourceServer, type SourceServer } from "./fixtures.js";

const available = await servicesAvailable();

describe.skipIf(!available)("scaled out: two gateways and two workers", () => {
  let cluster: Cluster | undefined;
  let gateway: ServerProcess;
  let otherGateway: ServerProcess;
  let workers: ServerProcess[];
  let source: SourceServer;
  let jpeg: Buffer;
  printLogsOnFailure(() => cluster);

  beforeAll(async () => {
    [source, jpeg] = await Promise.all([startSourceServer(), makeJpeg(320, 200)]);
    source.route("/photo.jpg", { body: jpeg, type: "image/jpeg" });
    cluster = await createCluster();
    // All four at the same moment on the fresh database: their migrations and first-boot rows
    // (the link secret, the default account and key) race.
    const started = await Promise.all([
      cluster.start("gateway", { noWait: true }),
      cluster.start("gateway", { noWait: true }),
      cluster.start("worker", { noWait: true }),
      cluster.start("worker", { noWait: true }),
    ]);
    await Promise.all(started.map((p) => cluster!.waitReady(p)));
    [gateway, otherGateway, ...workers] = started as [ServerProcess, ServerProcess, ServerProcess, ServerProcess];
  });

  afterAll(async () => {
    await cluster?.close();
    await source?.close();
  });

  const api = () => gateway.api!;
  /** The registered workers: id -> pid. */
  const registeredWorkers = async () => new Map((await cluster!.sql<{ id: string; pid: number }>(`SELECT id, pid FROM "Worker"`)).map((w) => [w.id, w.pid]));

  it("booted four processes together: each migration applied once, one default account", async () => {
    const shipped = (await readdir(join(REPO_ROOT, "prisma/migrations"), { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
    const rows = await cluster!.sql<{ migration_name: string; finished_at: Date | null }>(`SELECT migration_name, finished_at FROM "_prisma_migrations"`);
    expect(rows.map((r) => r.migration_name).sort()).toEqual(shipped.sort());
    expect(rows.every((r) => r.finished_at !== null)).toBe(true);
    const registered = await registeredWorkers();
    expect([...registered.values()].sort()).toEqual(workers.map((w) => w.pid).sort());
    expect(await cluster!.sql(`SELECT email FROM "Account"`)).toEqual([{ email: "admin@localhost" }]);
    expect(await cluster!.sql(`SELECT key FROM "Setting" WHERE key = 'link_secret'`)).toHaveLength(1);
  });

  it("runs the reference job: import/url -> convert jpg to png -> export/url, on a worker", async () => {
    const created = await api().post("/v1/process/jobs", referenceJob(`${source.url}/photo.jpg`));
    expect(created.status).toBe(201);
    const done = await api().get(`/v1/process/jobs/${created.body.id}/wait`);
    expect(done.status).toBe(200);
    expect(done.body.status).toBe("completed");

    const registered = await registeredWorkers();
    for (const task of done.body.tasks) {
      expect(task.status).toBe("completed");
      expect(registered.has(task.server), `task ${task.name} ran on ${task.server}`).toBe(true);
      expect(workers.map((w) => w.pid)).toContain(pidOfServer(task.server));
    }
    const exported = done.body.tasks.find((t: any) => t.name === "export-my-file");
    expect(exported.result.files).toHaveLength(1);
    const file = await download(exported.result.url);
    expect(file.status).toBe(200);
    const meta = await sharp(file.bytes).metadata();
    expect(meta.format).toBe("png");
    expect([meta.width, meta.height]).toEqual([320, 200]);
  });

  it("spreads ten concurrent jobs over both workers", async () => {
    // Each download takes 300 ms and a worker runs two tasks at once, so one worker cannot take them all.
    source.route("/slow.jpg", { body: jpeg, type: "image/jpeg", delayMs: 300 });
    const created = await Promise.all(Array.from({ length: 10 }, (_, i) => api().post("/v1/process/jobs", referenceJob(`${source.url}/slow.jpg`, "webp", `spread-${i}`))));
    expect(created.map((c) => c.status)).toEqual(Array(10).fill(201));
    const done = await Promise.all(created.map((c) => api().get(`/v1/process/jobs/${c.body.id}/wait`)));
    expect(done.map((d) => d.body.status)).toEqual(Array(10).fill("completed"));

    const registered = await registeredWorkers();
    const servers = done.flatMap((d) => d.body.tasks.map((t: any) => t.server as string));
    for (const server of servers) expect(registered.has(server)).toBe(true);
    const byWorker = new Map<string, number>();
    for (const server of servers) byWorker.set(server, (byWorker.get(server) ?? 0) + 1);
    expect(byWorker.size, `tasks per worker: ${JSON.stringify(Object.fromEntries(byWorker))}`).toBe(2);
  });

  it("fans out to four conversions and back in to one export across workers", async () => {
    const created = await api().post("/v1/process/jobs", {
      tasks: {
        source: { operation: "import/url", url: `${source.url}/photo.jpg` },
        "to-png": { operation: "convert", input: "source", output_format: "png" },
        "to-webp": { operation: "convert", input: "source", output_format: "webp" },
        "to-avif": { operation: "convert", input: "source", output_format: "avif" },
        "to-tiff": { operation: "convert", input: "source", output_format: "tiff" },
        export: { operation: "export/url", input: ["to-png", "to-webp", "to-avif", "to-tiff"] },
      },
    });
    expect(created.status).toBe(201);
    // Created on one gateway, awaited and downloaded on the other: links are signed alike everywhere.
    const done = await otherGateway.api!.get(`/v1/process/jobs/${created.body.id}/wait`);
    expect(done.body.status).toBe("completed");
    const tasks = new Map<string, any>(done.body.tasks.map((t: any) => [t.name, t]));
    const registered = await registeredWorkers();
    for (const t of tasks.values()) expect(registered.has(t.server)).toBe(true);

    // The export started after the last conversion ended: the fan-in waited for all four.
    const exported = tasks.get("export");
    const lastConversionEnd = Math.max(...["to-png", "to-webp", "to-avif", "to-tiff"].map((n) => Date.parse(tasks.get(n).endedAt)));
    expect(Date.parse(exported.startedAt)).toBeGreaterThanOrEqual(lastConversionEnd);
    expect(exported.result.files.map((f: any) => f.filename)).toEqual(["photo.png", "photo.webp", "photo.avif", "photo.tiff"]);
    const formats = [];
    for (const f of exported.result.files) {
      const got = await download(f.url);
      expect(got.status).toBe(200);
      const meta = await sharp(got.bytes).metadata();
      expect([meta.width, meta.height]).toEqual([320, 200]);
      formats.push(meta.format);
    }
    expect(formats).toEqual(["png", "webp", "heif", "tiff"]);
  });

  it("wakes /wait on a gateway as soon as a worker in another process ends the job", async () => {
    // The download is held half-sent until released, so the job ends when the test says.
    const gate = createGate();
    const jpegHeld = await makeJpeg(64, 64);
    source.route("/held.jpg", { body: jpegHeld, type: "image/jpeg", gate });
    const created = await api().post("/v1/process/jobs", { tasks: { only: { operation: "import/url", url: `${source.url}/held.jpg` } } });
    expect(created.status).toBe(201);
    await gate.requested; // a worker claimed the task and is downloading

    const waitStarted = Date.now();
    // Waited on the other gateway: the event crosses from the worker through Redis to it.
    const waiting = otherGateway.api!.get(`/v1/process/jobs/${created.body.id}/wait`);
    setTimeout(() => gate.release(), 300);
    const done = await waiting;
    const waitReturned = Date.now();
    expect(done.body.status).toBe("completed");

    // The gateway polls the database every 2 s when no event comes: answering well before the
    // first poll, and within moments of the job's end, means the worker's event reached it.
    const endedAt = Date.parse(done.body.endedAt);
    const latency = waitReturned - endedAt;
    console.log(`/wait answered ${latency} ms after the job ended in the worker (${waitReturned - waitStarted} ms after it was sent)`);
    expect(endedAt).toBeGreaterThanOrEqual(waitStarted);
    expect(latency).toBeLessThan(1000);
    // When the job ended before the first poll was due (the usual case, unless the machine is
    // very slow), the answer came before it too: only the event can have woken the wait.
    if (endedAt < waitStarted + 1500) expect(waitReturned - waitStarted).toBeLessThan(1950);
  });
});
