/**
 * Work that was committed but never published is finished by other processes: a process killed
 * between its commit and the relay (the outbox keeps the enqueue), and a queued task whose
 * outbox row and queue message are both gone (the reconciler re-enqueues it).
 */
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { childEnv, createCluster, runNode, until, type Cluster, type ServerProcess } from "../support/cluster.js";
import { servicesAvailable } from "../support/services.js";
import { makeJpeg, printLogsOnFailure, referenceJob, startSourceServer, type SourceServer } from "./fixtures.js";

const available = await servicesAvailable();
const CREATE_AND_DIE = fileURLToPath(new URL("./fixtures/create-job-and-die.mjs", import.meta.url));

describe.skipIf(!available)("scaled out: recovering committed work", () => {
  let cluster: Cluster | undefined;
  let source: SourceServer;
  let gateway: ServerProcess;
  printLogsOnFailure(() => cluster);

  beforeAll(async () => {
    source = await startSourceServer();
    source.route("/photo.jpg", { body: await makeJpeg(120, 90), type: "image/jpeg" });
    cluster = await createCluster({ env: { TRANSMUTE_RECONCILE_SECONDS: "1" } });
  });

  afterAll(async () => {
    await cluster?.close();
    await source?.close();
  });

  it("publishes the outbox of a process killed right after its commit", async () => {
    // Nothing runs yet: the dying process is alone with the database.
    const died = await runNode([], childEnv({ DATABASE_URL: cluster!.databaseUrl, TRANSMUTE_API_KEY: cluster!.key, JOB_BODY: JSON.stringify(referenceJob(`${source.url}/photo.jpg`)) }), {
      script: CREATE_AND_DIE,
    });
    expect(died.signal, died.output).toBe("SIGKILL");
    const jobId = /created job ([0-9a-f-]{36})/.exec(died.output)?.[1];
    expect(jobId, died.output).toBeDefined();

    // The commit holds the job, its ready task, and the unpublished work.
    const [imp] = await cluster!.sql(`SELECT id, status FROM "Task" WHERE "jobId" = $1 AND name = 'import-my-file'`, [jobId]);
    expect(imp.status).toBe("queued");
    const outbox = await cluster!.sql<{ kind: string; payload: any }>(`SELECT kind, payload FROM "Outbox" ORDER BY id`);
    expect(outbox.filter((r) => r.kind === "enqueue").map((r) => r.payload.taskId)).toEqual([imp.id]);
    expect(await cluster!.redisKeys()).toEqual([]);

    [gateway] = await Promise.all([cluster!.start("gateway"), cluster!.start("worker")]);
    const done = await gateway.api!.get(`/v1/process/jobs/${jobId}/wait`);
    expect(done.body.status).toBe("completed");
    await until("an empty outbox", async () => (await cluster!.sql(`SELECT id FROM "Outbox"`)).length === 0, 10_000);
  });

  it("re-enqueues a queued task whose outbox row and queue message were lost", async () => {
    // Only the gateway runs: the task is published to Redis and waits there for a worker.
    await Promise.all(cluster!.processes.filter((p) => p.role === "worker").map((p) => p.stop()));
    const created = await gateway.api!.post("/v1/process/jobs", referenceJob(`${source.url}/photo.jpg`));
    expect(created.status).toBe(201);
    const importId = created.body.tasks.find((t: any) => t.name === "import-my-file").id as string;
    await until("the relay to publish the enqueue", async () => (await cluster!.sql(`SELECT id FROM "Outbox" WHERE kind = 'enqueue'`)).length === 0, 10_000);
    await until("the message in Redis", async () => (await cluster!.redisKeys()).some((k) => k.includes(importId)), 10_000);

    // Lose it: the outbox row is already gone, the queue message goes with every key of the prefix.
    await cluster!.sql(`DELETE FROM "Outbox"`);
    expect(await cluster!.deleteRedisKeys()).toBeGreaterThan(0);
    const [before] = await cluster!.sql(`SELECT status, attempt FROM "Task" WHERE id = $1`, [importId]);
    expect(before).toEqual({ status: "queued", attempt: 0 });

    // A worker's reconciler (every second here) finds the queued task and enqueues it again.
    await cluster!.start("worker");
    const done = await gateway.api!.get(`/v1/process/jobs/${created.body.id}/wait`);
    expect(done.body.status).toBe("completed");
    const [after] = await cluster!.sql(`SELECT status, attempt FROM "Task" WHERE id = $1`, [importId]);
    expect(after).toEqual({ status: "completed", attempt: 1 });
  });
});
