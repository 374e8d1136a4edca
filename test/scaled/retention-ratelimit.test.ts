/**
 * Retention, download metadata, the options query and rate limits in the scaled-out mode: two
 * gateways and two workers as OS processes on Postgres and Redis. The workers' sweepers (one at a
 * time) delete the files from the shared directory and then the job; the download maximum and
 * base64 encoding work across gateways; two gateways draw on one bucket in Redis; the options
 * query follows the live worker registrations (none alive: nothing listed).
 */
import { createApiKey, hashApiKey } from "@transmute/core";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCluster, storedKeys, until, type Cluster, type ServerProcess } from "../support/cluster.js";
import { apiClient, type ApiAnswer } from "../support/harness.js";
import { servicesAvailable } from "../support/services.js";
import { makeJpeg, printLogsOnFailure } from "./fixtures.js";

const available = await servicesAvailable();

// Long enough for the first test's downloads to finish before the file expires, on a busy machine.
const FILE_RETENTION = 8;
const TASK_RETENTION = 10;
const WRITE_LIMIT = 4;
const ANONYMOUS_LIMIT = 4;

describe.skipIf(!available)("scaled out: retention, downloads, options and rate limits", () => {
  let cluster: Cluster | undefined;
  let gateways: ServerProcess[];
  let workers: ServerProcess[];
  let jpeg: Buffer;
  printLogsOnFailure(() => cluster);

  beforeAll(async () => {
    jpeg = await makeJpeg(48, 32);
    cluster = await createCluster({
      env: {
        TRANSMUTE_FILE_RETENTION_SECONDS: String(FILE_RETENTION),
        TRANSMUTE_TASK_RETENTION_SECONDS: String(TASK_RETENTION),
        TRANSMUTE_SWEEP_SECONDS: "1",
        TRANSMUTE_MAX_DOWNLOADS: "2",
        TRANSMUTE_RATE_LIMIT_WRITE: String(WRITE_LIMIT),
        TRANSMUTE_RATE_LIMIT_ANONYMOUS: String(ANONYMOUS_LIMIT),
      },
    });
    const started = await Promise.all([
      cluster.start("gateway", { noWait: true }),
      cluster.start("gateway", { noWait: true }),
      cluster.start("worker", { noWait: true }),
      cluster.start("worker", { noWait: true }),
    ]);
    await Promise.all(started.map((p) => cluster!.waitReady(p)));
    gateways = started.slice(0, 2);
    workers = started.slice(2);
  });

  afterAll(async () => {
    await cluster?.close();
  });

  /** Every object stored under a task, in the cluster's file store. */
  const storedFiles = (taskId: string): Promise<string[]> => storedKeys(cluster!.store, `tasks/${taskId}`);

  /** `url` on `gateway`: a link signed by one gateway works on every one. */
  const on = (gateway: ServerProcess, url: string): string => {
    const moved = new URL(url);
    const base = new URL(gateway.url!);
    moved.host = base.host;
    return moved.toString();
  };

  /** A new account with a key, straight into the shared database. */
  const createKey = async (): Promise<string> => {
    const accountId = crypto.randomUUID();
    const key = createApiKey();
    await cluster!.sql(`INSERT INTO "Account" (id, email, name) VALUES ($1, $2, '')`, [accountId, `${accountId}@example.com`]);
    await cluster!.sql(`INSERT INTO "ApiKey" (id, "accountId", "keyHash", prefix) VALUES ($1, $2, $3, $4)`, [crypto.randomUUID(), accountId, hashApiKey(key), key.slice(0, 8)]);
    return key;
  };

  it("downloads across gateways: base64 and plain GETs count, HEAD does not; the maximum makes the file overuse (410)", async () => {
    const [one, two] = gateways as [ServerProcess, ServerProcess];
    const created = await one.api!.post("/v1/process/jobs", {
      tasks: {
        import: { operation: "import/base64", file: jpeg.toString("base64"), filename: "photo.jpg" },
        convert: { operation: "convert", input: "import", output_format: "png" },
        export: { operation: "export/url", input: "convert" },
      },
    });
    expect(created.status).toBe(201);
    const done = await two.api!.get(`/v1/process/jobs/${created.body.id}/wait`);
    expect(done.body.status).toBe("completed");
    const exportTask = done.body.tasks.find((t: any) => t.name === "export");
    const file = exportTask.result.files[0];
    expect(file).toMatchObject({ filename: "photo.png", content_type: "image/png", status: "enabled", downloads_counter: 0, checksum: expect.stringMatching(/^[0-9a-f]{32}$/) });

    const encoded = await fetch(on(one, `${file.url}&encoding=base64`));
    expect(encoded.headers.get("content-length")).toBe(String(4 * Math.ceil(file.size / 3)));
    const bytes = Buffer.from(await encoded.text(), "base64");
    expect(bytes.length).toBe(file.size);
    expect((await sharp(bytes).metadata()).format).toBe("png");
    expect((await fetch(on(two, file.url), { method: "HEAD" })).status).toBe(200);
    expect((await fetch(on(two, file.url))).status).toBe(200);
    const refused = await fetch(on(one, file.url));
    expect(refused.status).toBe(410);
    expect(await refused.json()).toMatchObject({ code: "overuse" });
    const shown = await one.api!.get(`/v1/process/tasks/${exportTask.id}`);
    expect(shown.body.result.files[0]).toMatchObject({ status: "overuse", downloads_counter: 2 });
  });

  it("retention: the files leave the shared directory (410 file_expired, status expired), then the job is gone on every gateway", async () => {
    const [one, two] = gateways as [ServerProcess, ServerProcess];
    const created = await one.api!.post("/v1/process/jobs", {
      tasks: {
        import: { operation: "import/base64", file: jpeg.toString("base64"), filename: "short.jpg" },
        export: { operation: "export/url", input: "import" },
      },
    });
    expect(created.status).toBe(201);
    const done = await one.api!.get(`/v1/process/jobs/${created.body.id}/wait`);
    expect(done.body.status).toBe("completed");
    const importId = done.body.tasks.find((t: any) => t.name === "import").id;
    const url = done.body.tasks.find((t: any) => t.name === "export").result.url;
    expect(await storedFiles(importId)).toHaveLength(1);

    await until("the file deleted from the shared directory", async () => (await storedFiles(importId)).length === 0, 20_000);
    for (const gateway of gateways) {
      const res = await fetch(on(gateway, url));
      expect(res.status).toBe(410);
      expect(await res.json()).toMatchObject({ code: "file_expired" });
    }
    const expired = await two.api!.get(`/v1/process/jobs/${created.body.id}`);
    for (const task of expired.body.tasks) expect(task.result.files[0].status, task.name).toBe("expired");

    await until("the job deleted", async () => (await two.api!.get(`/v1/process/jobs/${created.body.id}`)).status === 404, 20_000);
    expect((await one.api!.get(`/v1/process/tasks/${importId}`)).status).toBe(404);
    expect(await cluster!.sql(`SELECT id FROM "Task" WHERE "jobId" = $1`, [created.body.id])).toEqual([]);
    for (const w of workers) expect(w.output()).not.toContain("sweeper pass failed");
  });

  it("two gateways share one write bucket per key in Redis, with the headers and Retry-After", async () => {
    const key = await createKey();
    const clients = gateways.map((g) => apiClient(g.url!, key));
    const answers: ApiAnswer[] = [];
    for (let i = 0; i < WRITE_LIMIT; i++) answers.push(await clients[i % 2]!.post("/v1/process/import/upload"));
    expect(answers.map((a) => a.status)).toEqual(Array(WRITE_LIMIT).fill(201));
    expect(answers.map((a) => a.headers.get("x-ratelimit-remaining"))).toEqual(["3", "2", "1", "0"]);
    expect(answers.map((a) => a.headers.get("x-ratelimit-limit"))).toEqual(Array(WRITE_LIMIT).fill(String(WRITE_LIMIT)));
    for (const client of clients) {
      const refused = await client.post("/v1/process/import/upload");
      expect(refused.status).toBe(429);
      expect(refused.body).toEqual({ code: "too_many_requests", message: expect.any(String) });
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(14);
      expect(Number(refused.headers.get("retry-after"))).toBeLessThanOrEqual(15);
    }
    // Reads are another bucket, and the key is stored only as a hash.
    expect((await clients[0]!.get("/v1/account/me")).status).toBe(200);
    const keys = (await cluster!.redisKeys()).filter((k) => k.includes(":ratelimit:"));
    expect(keys.some((k) => k.startsWith(`${cluster!.prefix}:ratelimit:write:key:${hashApiKey(key).slice(0, 32)}`))).toBe(true);
    expect(keys.join()).not.toContain(key);
  });

  it("the options query: keyless and limited per address across gateways; computed from live registrations only", async () => {
    const answers: ApiAnswer[] = [];
    for (let i = 0; i <= ANONYMOUS_LIMIT; i++) answers.push(await apiClient(gateways[i % 2]!.url!, null).get("/v1/query/view/options?operation=convert&input_format=jpg"));
    expect(answers.map((a) => a.status)).toEqual([...Array(ANONYMOUS_LIMIT).fill(200), 429]);
    expect(answers[0]!.body.type).toBe("image");
    expect(answers[0]!.body.targets.image.map((t: any) => t.ext)).toEqual(expect.arrayContaining(["png", "webp", "jpg"]));
    expect(answers[ANONYMOUS_LIMIT]!.headers.get("retry-after")).toBe("15");

    // The gateways have sharp installed, but no worker is alive: nothing can be converted.
    await Promise.all(workers.map((w) => w.stop()));
    const keyed = gateways[1]!.api!;
    const empty = await until("no targets once the workers stopped", async () => {
      const res = await keyed.get("/v1/query/view/options?operation=convert&input_format=jpg");
      return res.status === 200 && Object.keys(res.body.targets).length === 0 ? res : null;
    }, 10_000);
    expect(empty.body).toEqual({ type: "image", targets: {} });
  });
});
