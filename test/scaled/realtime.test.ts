/**
 * Socket.io realtime updates scaled out: two gateways and a worker as separate processes on one
 * database and Redis. A client on gateway A follows a job created through gateway B and run by
 * the worker, and receives each event exactly once; a client on B gets the same, once too.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCluster, type Cluster, type ServerProcess } from "../support/cluster.js";
import { connectRealtime, pause, type RealtimeClient } from "../support/realtime-client.js";
import { servicesAvailable } from "../support/services.js";
import { uploadLikeCurl } from "../e2e/helpers.js";
import { makeJpeg, printLogsOnFailure } from "./fixtures.js";

const available = await servicesAvailable();

describe.skipIf(!available)("scaled out: realtime across gateways", () => {
  let cluster: Cluster | undefined;
  let gatewayA: ServerProcess;
  let gatewayB: ServerProcess;
  let jpeg: Buffer;
  let accountId: string;
  const clients: RealtimeClient[] = [];
  printLogsOnFailure(() => cluster);

  beforeAll(async () => {
    cluster = await createCluster();
    const started = await Promise.all([
      cluster.start("gateway", { noWait: true }),
      cluster.start("gateway", { noWait: true }),
      cluster.start("worker", { noWait: true }),
    ]);
    jpeg = await makeJpeg(160, 100);
    await Promise.all(started.map((p) => cluster!.waitReady(p)));
    [gatewayA, gatewayB] = started as [ServerProcess, ServerProcess, ServerProcess];
    accountId = (await gatewayA.api!.get("/v1/account/me")).body.id;
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.close();
  });

  const connect = async (gateway: ServerProcess) => {
    const client = await connectRealtime(gateway.url!, cluster!.key);
    clients.push(client);
    return client;
  };

  it("a client on gateway A receives each event of a job created through B and run by the worker, once", async () => {
    const res = await gatewayB.api!.post("/v1/process/jobs", {
      tasks: {
        "import-1": { operation: "import/upload" },
        "convert-1": { operation: "convert", input: "import-1", input_format: "jpg", output_format: "png" },
        "export-1": { operation: "export/url", input: ["convert-1"] },
      },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const job = res.body;
    const onA = await connect(gatewayA);
    const onB = await connect(gatewayB);
    for (const client of [onA, onB]) {
      expect((await client.subscribe(`job.${job.id}`)).ok).toBe(true);
      for (const task of job.tasks) expect((await client.subscribe(`task.${task.id}`)).ok).toBe(true);
      // The user channels too: a socket in several matching channels still gets each event once.
      expect((await client.subscribe(`user.${accountId}.jobs`)).ok).toBe(true);
      expect((await client.subscribe(`user.${accountId}.tasks`)).ok).toBe(true);
    }
    const upload = job.tasks.find((t: any) => t.name === "import-1");
    expect((await uploadLikeCurl(upload.result.form, jpeg, "in.jpg")).status).toBeLessThan(300);

    for (const client of [onA, onB]) expect((await client.waitFor("job_completed", job.id, 30_000)).data).toMatchObject({ id: job.id, status: "completed" });
    // Time for any duplicate to arrive.
    await pause(1000);
    const expected = [
      "job_completed:job",
      "task_completed:convert-1",
      "task_completed:export-1",
      "task_completed:import-1",
      "task_started:convert-1",
      "task_started:export-1",
    ];
    for (const client of [onA, onB]) {
      const seen = client.events.filter((e) => e.event !== "job_started").map((e) => `${e.event}:${e.data.name ?? "job"}`);
      expect(seen.sort()).toEqual(expected);
      expect(client.events.filter((e) => e.event === "job_started").length).toBeLessThanOrEqual(1);
    }
    const exported = onA.events.find((e) => e.event === "task_completed" && e.data.name === "export-1")!.data;
    expect(exported.result.url).toContain("/v1/files/");
    // The worker in the other process ran the tasks.
    expect(exported.server).toBeTruthy();
  });

  it("subscribing on A after the job ended through B still sends job_completed, and other accounts' channels are refused", async () => {
    const res = await gatewayB.api!.post("/v1/process/jobs", {
      tasks: { up: { operation: "import/base64", file: jpeg.toString("base64"), filename: "a.jpg" } },
    });
    expect(res.status).toBe(201);
    expect((await gatewayB.api!.get(`/v1/process/jobs/${res.body.id}/wait`)).body.status).toBe("completed");
    const late = await connect(gatewayA);
    expect((await late.subscribe(`job.${res.body.id}`)).ok).toBe(true);
    expect((await late.waitFor("job_completed", res.body.id, 5000)).data.status).toBe("completed");
    const refused = await late.subscribe(`user.${crypto.randomUUID()}.jobs`);
    expect(refused.error.code).toBe("forbidden");
    const badKey = await connectRealtime(gatewayA.url!, "tk_nope").then(
      () => null,
      (err) => err,
    );
    expect(badKey?.data?.code).toBe("unauthorized");
  });
});
