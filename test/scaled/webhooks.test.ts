/**
 * Webhooks scaled out: two gateways and two workers on one database. Management works through
 * either gateway at /webhooks and /v1/webhooks; each event of jobs created through both gateways
 * is delivered exactly once (one delivery id, one request), signed, through the BullMQ `webhook`
 * queue; and a delivery whose first
 * attempt failed survives killing every process and is retried by a worker started afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCluster, sleep, until, type Cluster, type ServerProcess } from "../support/cluster.js";
import { servicesAvailable } from "../support/services.js";
import { expectedSignature, startReceiver, type Receiver } from "../e2e/webhook-receiver.js";
import { makeJpeg, printLogsOnFailure } from "./fixtures.js";

const available = await servicesAvailable();

describe.skipIf(!available)("scaled out: webhooks", () => {
  let cluster: Cluster | undefined;
  let gateways: ServerProcess[];
  let receiver: Receiver;
  let jpeg: Buffer;
  printLogsOnFailure(() => cluster);

  beforeAll(async () => {
    [receiver, jpeg] = await Promise.all([startReceiver(), makeJpeg(16, 16)]);
    cluster = await createCluster({ env: { TRANSMUTE_WEBHOOK_RETRY_SECONDS: "3", TRANSMUTE_WEBHOOK_TIMEOUT_SECONDS: "2" } });
    const started = await Promise.all([
      cluster.start("gateway", { noWait: true }),
      cluster.start("gateway", { noWait: true }),
      cluster.start("worker", { noWait: true }),
      cluster.start("worker", { noWait: true }),
    ]);
    await Promise.all(started.map((p) => cluster!.waitReady(p)));
    gateways = started.slice(0, 2);
  }, 120_000);

  afterAll(async () => {
    await cluster?.close();
    await receiver?.close();
  });

  const job = () => ({ tasks: { up: { operation: "import/base64", file: jpeg.toString("base64"), filename: "a.jpg" } } });

  it("delivers each event once, signed, whichever gateway created the job", async () => {
    const [a, b] = gateways.map((g) => g.api!) as [NonNullable<ServerProcess["api"]>, NonNullable<ServerProcess["api"]>];
    const made = await a.request("POST", "/webhooks", { url: `${receiver.url}/once`, events: ["job.created", "job.success", "task.completed"] });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    expect((await b.get(`/v1/webhooks/${made.body.id}`)).body.signingSecret).toBe(made.body.signingSecret);

    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await (i % 2 ? b : a).post("/v1/process/jobs", job());
      expect(res.status).toBe(201);
      ids.push(res.body.id);
    }
    for (const id of ids) expect((await a.get(`/v1/process/jobs/${id}/wait`)).body.status).toBe("completed");
    await until("18 deliveries", async () => receiver.to("/once").length >= 18, 30_000);
    await sleep(2000);
    const got = receiver.to("/once");
    expect(got.length).toBe(18);
    expect(new Set(got.map((r) => r.headers["x-transmute-delivery"])).size).toBe(18);
    for (const id of ids) {
      expect(got.filter((r) => r.body.job.id === id).map((r) => r.body.event).sort()).toEqual(["job.created", "job.success", "task.completed"]);
    }
    for (const r of got) expect(r.headers["freeconvert-signature"]).toBe(expectedSignature(r.raw, made.body.signingSecret));
    // Scaled out, deliveries travel as BullMQ jobs on the `webhook` queue.
    expect((await cluster!.redisKeys()).some((k) => k.includes(":tasks-webhook:"))).toBe(true);
  });

  it("retries a failed delivery after every process was killed", async () => {
    receiver.script("/restart", [500, 200]);
    const api = gateways[0]!.api!;
    const made = await api.post("/v1/webhooks", { url: `${receiver.url}/restart`, events: ["job.created"] });
    expect(made.status).toBe(201);
    const res = await api.post("/v1/process/jobs", job());
    expect(res.status).toBe(201);
    await until("the first attempt", async () => receiver.to("/restart").length >= 1, 15_000);
    await Promise.all(cluster!.processes.filter((p) => !p.hasExited()).map((p) => p.kill()));
    const pending = await cluster!.sql<{ status: string }>(`SELECT status FROM "WebhookDelivery" WHERE "webhookId" = $1`, [made.body.id]);
    expect(pending.map((d) => d.status)).toEqual(["pending"]);
    // The retry (due 3 s after the first attempt) waits for a process to send it.
    await sleep(3500);
    expect(receiver.to("/restart").length).toBe(1);
    await cluster!.start("worker");
    await until("the retry after the restart", async () => receiver.to("/restart").length >= 2, 30_000);
    // The receiver answers before the attempt is recorded.
    const delivery = await until("recorded", async () => {
      const [d] = await cluster!.sql<{ status: string; attempts: number }>(`SELECT status, attempts FROM "WebhookDelivery" WHERE "webhookId" = $1`, [made.body.id]);
      return d?.status === "delivered" ? d : null;
    });
    expect(delivery.attempts).toBe(2);
    const requests = receiver.to("/restart");
    expect(requests[0]!.headers["x-transmute-delivery"]).toBe(requests[1]!.headers["x-transmute-delivery"]);
  }, 90_000);
});
