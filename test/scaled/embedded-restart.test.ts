/**
 * The embedded mode killed with SIGKILL: its queue lived in memory, so after a restart on the
 * same data directory the queued work must be rebuilt from the database (the boot reconciler)
 * and the task that was running must be taken back once its heartbeat is stale.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CLUSTER_API_KEY, childEnv, spawnNode, until, type SpawnedProcess } from "../support/cluster.js";
import { apiClient, freePort } from "../support/harness.js";
import { createGate, makeJpeg, referenceJob, startSourceServer, type SourceServer } from "./fixtures.js";

describe("embedded: restart after SIGKILL", () => {
  let dataDir: string;
  let source: SourceServer;
  const started: SpawnedProcess[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "transmute-embedded-"));
    source = await startSourceServer();
  });
  afterEach((ctx) => {
    if (ctx.task.result?.state === "fail") for (const p of started) console.error(`----- ${p.name} -----\n${p.output()}`);
  });
  afterAll(async () => {
    await Promise.all(started.map((p) => p.stop(3000)));
    await source?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** Starts `transmute` (gateway and worker in one process) on the data dir; resolves when /healthz answers. */
  async function startEmbedded(name: string) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const proc = spawnNode(
      name,
      ["all"],
      childEnv({
        TRANSMUTE_DATA_DIR: dataDir,
        PORT: String(port),
        PUBLIC_URL: url,
        TRANSMUTE_API_KEY: CLUSTER_API_KEY,
        TRANSMUTE_OUTBOUND_ALLOW: "127.0.0.1/32",
        // One task at a time: a second job stays queued behind a held download.
        TRANSMUTE_WORKER_CONCURRENCY: "1",
        TRANSMUTE_HEARTBEAT_SECONDS: "1",
        TRANSMUTE_STALE_AFTER_SECONDS: "4",
        TRANSMUTE_RECONCILE_SECONDS: "1",
        LOG_LEVEL: "warn",
      }),
    );
    started.push(proc);
    await until(`${name} to answer /healthz`, async () => {
      if (proc.hasExited()) throw new Error(`${name} exited:\n${proc.output()}`);
      return (await fetch(`${url}/healthz`).catch(() => null))?.ok;
    }, 60_000);
    return { proc, api: apiClient(url, CLUSTER_API_KEY) };
  }

  it("finishes the running and the queued job after a restart on the same data dir", async () => {
    const gate = createGate();
    source.route("/held.jpg", { body: await makeJpeg(200, 100), type: "image/jpeg", gate });
    source.route("/photo.jpg", { body: await makeJpeg(120, 90), type: "image/jpeg" });

    const first = await startEmbedded("embedded-1");
    const running = await first.api.post("/v1/process/jobs", referenceJob(`${source.url}/held.jpg`, "png", "running"));
    expect(running.status).toBe(201);
    await gate.requested; // the only worker slot is busy with this download
    const queued = await first.api.post("/v1/process/jobs", referenceJob(`${source.url}/photo.jpg`, "webp", "queued"));
    expect(queued.status).toBe(201);
    const before = await first.api.get(`/v1/process/jobs/${queued.body.id}`);
    expect(before.body.tasks.map((t: any) => t.status)).toEqual(["created", "created", "created"]);
    expect(source.hits.filter((h) => h === "/photo.jpg")).toHaveLength(0);

    await first.proc.kill();
    const killedAt = Date.now();
    gate.release();

    const second = await startEmbedded("embedded-2");
    const restartedAt = Date.now();
    const [doneRunning, doneQueued] = await Promise.all([
      second.api.get(`/v1/process/jobs/${running.body.id}/wait`),
      second.api.get(`/v1/process/jobs/${queued.body.id}/wait`),
    ]);
    console.log(
      `restart took ${restartedAt - killedAt} ms; the queued job ended ${Date.parse(doneQueued.body.endedAt) - killedAt} ms and the running one ${Date.parse(doneRunning.body.endedAt) - killedAt} ms after the kill`,
    );
    expect(doneQueued.body.status).toBe("completed");
    expect(doneRunning.body.status).toBe("completed");
    // The held download ran twice: the killed attempt and the one after the restart.
    expect(gate.count).toBe(2);
    const png = await fetch(doneRunning.body.tasks.find((t: any) => t.name === "export-my-file").result.url);
    expect(png.status).toBe(200);
  });
});
