/**
 * Webhooks through the API, against a real receiver on loopback: management at /webhooks and
 * /v1/webhooks, the signature over the raw body, retries on 500 until a 200, 410 disabling,
 * a hanging receiver timing out without delaying the job, a 100 MB answer cut short, the
 * job.finished alias delivered under the subscriber's name, a job's own webhook_url, the
 * validation 400s and another account's 404.
 */
import { createAccount, pruneWebhookDeliveries } from "@transmute/jobs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../support/cluster.js";
import { apiClient, type ApiClient, type TestServer } from "../support/harness.js";
import { expectError, makePng, runJob, startServer } from "./helpers.js";
import { expectedSignature, startReceiver, type Receiver } from "./webhook-receiver.js";

let server: TestServer;
let receiver: Receiver;
let png: Buffer;

beforeAll(async () => {
  png = await makePng(4, 4, [10, 20, 30]);
  [server, receiver] = await Promise.all([
    startServer({ TRANSMUTE_WEBHOOK_RETRY_SECONDS: "1", TRANSMUTE_WEBHOOK_TIMEOUT_SECONDS: "1" }),
    startReceiver(),
  ]);
});

afterAll(async () => {
  await Promise.all([server?.close(), receiver?.close()]);
});

/** A fresh account, so each scenario's webhooks see only its own jobs. */
async function newAccount(): Promise<ApiClient> {
  const made = await createAccount(server.app.engine.prisma, `hooks-${crypto.randomUUID()}@example.com`, "hooks");
  return apiClient(server.url, made.key);
}

async function addHook(api: ApiClient, path: string, events: string[], prefix = "/v1/webhooks"): Promise<any> {
  const res = await api.request("POST", prefix, { url: receiver.url + path, events, name: path });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

const quickJob = () => ({ up: { operation: "import/base64", file: png.toString("base64"), filename: "a.png" } });

describe("management", () => {
  it("creates, lists, filters, patches and deletes at both /webhooks and /v1/webhooks", async () => {
    const api = await newAccount();
    const a = await addHook(api, "/m1", ["job.created"], "/webhooks");
    expect(a).toMatchObject({ name: "/m1", status: "active", events: ["job.created"], url: `${receiver.url}/m1`, lastErrorAt: null, lastResponseCode: null });
    expect(a.signingSecret).toMatch(/^[0-9a-f]{48}$/);
    await addHook(api, "/m2", ["job.failed", "task.completed"]);

    const all = await api.get("/v1/webhooks?per_page=1");
    expect(all.body).toMatchObject({ totalDocs: 2, limit: 1, totalPages: 2, page: 1, hasNextPage: true });
    const filtered = await api.get(`/webhooks?url=${encodeURIComponent(receiver.url + "/m2")}`);
    expect(filtered.body.docs.map((d: any) => d.name)).toEqual(["/m2"]);

    const patched = await api.request("PATCH", `/webhooks/${a.id}`, { events: ["job.finished"], name: "renamed" });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ events: ["job.finished"], name: "renamed", signingSecret: a.signingSecret });

    const deleted = await api.request("DELETE", `/v1/webhooks/${a.id}`);
    expect(deleted.status).toBe(204);
    expect((await api.get(`/webhooks/${a.id}`)).status).toBe(404);
    expect((await api.get("/webhooks")).body.totalDocs).toBe(1);
  });

  it("answers 400 for a bad URL or event and 404 for another account's webhook", async () => {
    const api = await newAccount();
    expectError(await api.post("/v1/webhooks", { url: "ftp://127.0.0.1/x", events: ["job.created"] }), 400, "invalid_request", "url", "http");
    expectError(await api.post("/v1/webhooks", { url: "not a url", events: ["job.created"] }), 400, "invalid_request", "url");
    expectError(await api.post("/v1/webhooks", { url: "http://10.1.2.3/hook", events: ["job.created"] }), 400, "invalid_request", "url", "TRANSMUTE_OUTBOUND_ALLOW");
    expectError(await api.post("/v1/webhooks", { url: receiver.url, events: ["job.done"] }), 400, "invalid_request", "job.done", "job.created, job.success, job.finished, job.failed, task.completed, task.failed");
    expectError(await api.post("/v1/webhooks", { url: receiver.url, events: [] }), 400, "invalid_request", "events");
    expectError(await api.post("/v1/process/jobs", { webhook_url: "http://169.254.169.254/", tasks: quickJob() }), 400, "invalid_request", "webhook_url", "TRANSMUTE_OUTBOUND_ALLOW");

    const mine = await addHook(api, "/mine", ["job.created"]);
    const other = await newAccount();
    expectError(await other.request("DELETE", `/webhooks/${mine.id}`), 404, "not_found");
    expectError(await other.request("PATCH", `/v1/webhooks/${mine.id}`, { status: "active" }), 404, "not_found");
    expectError(await other.get(`/v1/webhooks/${mine.id}/attempts`), 404, "not_found");
    expectError(await other.request("DELETE", "/webhooks/5ff3e22059136b0023424b20"), 404, "not_found");
    expect((await other.get("/webhooks")).body.totalDocs).toBe(0);
  });
});

describe("delivery", () => {
  it("signs the raw body, sends the job as GET /jobs/{id} shows it, under the subscriber's event names", async () => {
    const api = await newAccount();
    const hook = await addHook(api, "/signed", ["job.created", "job.finished", "task.completed"]);
    const { job } = await runJob(api, quickJob());
    const got = await until("three deliveries", async () => (receiver.to("/signed").length >= 3 ? receiver.to("/signed") : null), 15_000);
    expect(got.map((r) => r.body.event).sort()).toEqual(["job.created", "job.finished", "task.completed"]);
    for (const r of got) {
      expect(r.headers["content-type"]).toBe("application/json");
      expect(r.headers["freeconvert-signature"]).toBe(expectedSignature(r.raw, hook.signingSecret));
      expect(r.headers["x-transmute-delivery"]).toMatch(/^[0-9a-f-]{36}$/);
      expect(r.body.job.id).toBe(job.id);
    }
    expect(new Set(got.map((r) => r.headers["x-transmute-delivery"])).size).toBe(3);
    const finished = got.find((r) => r.body.event === "job.finished")!;
    const shown = (await api.get(`/v1/process/jobs/${job.id}`)).body;
    expect(finished.body.job).toEqual(shown);
    // A tampered body does not verify.
    expect(expectedSignature(finished.raw + " ", hook.signingSecret)).not.toBe(finished.headers["freeconvert-signature"]);
    // The receiver answers before the attempt is recorded.
    const attempts = await until("three attempts logged", async () => {
      const res = await api.get(`/webhooks/${hook.id}/attempts`);
      return res.body.totalDocs >= 3 ? res : null;
    });
    expect(attempts.body.totalDocs).toBe(3);
    expect(attempts.body.docs.every((a: any) => a.responseCode === "200")).toBe(true);
  });

  it("retries a 500 until the 200, and keeps lastResponseCode", async () => {
    const api = await newAccount();
    receiver.script("/flaky", [500, 500, 200]);
    const hook = await addHook(api, "/flaky", ["job.success"]);
    await runJob(api, quickJob());
    await until("the third attempt", async () => receiver.to("/flaky").length >= 3, 20_000);
    await new Promise((r) => setTimeout(r, 2500));
    expect(receiver.to("/flaky").length).toBe(3);
    expect(receiver.to("/flaky").map((r) => r.body.event)).toEqual(["job.success", "job.success", "job.success"]);
    expect(new Set(receiver.to("/flaky").map((r) => r.headers["x-transmute-delivery"])).size).toBe(1);
    const shown = (await api.get(`/webhooks/${hook.id}`)).body;
    expect(shown).toMatchObject({ status: "active", lastResponseCode: "500" });
    expect(shown.lastErrorAt).not.toBeNull();
    const log = (await api.get(`/webhooks/${hook.id}/attempts`)).body.docs.map((a: any) => a.responseCode);
    expect(log).toEqual(["200", "500", "500"]);
  });

  it("gives up after 3 retries", async () => {
    const api = await newAccount();
    receiver.script("/down", [503]);
    await addHook(api, "/down", ["job.created"]);
    await runJob(api, quickJob());
    await until("four attempts", async () => receiver.to("/down").length >= 4, 20_000);
    await new Promise((r) => setTimeout(r, 2500));
    expect(receiver.to("/down").length).toBe(4);
  });

  it("disables the webhook on a 410, and PATCH re-enables it", async () => {
    const api = await newAccount();
    receiver.script("/gone", [410, 200]);
    const hook = await addHook(api, "/gone", ["job.created"]);
    await runJob(api, quickJob());
    const disabled = await until("inactive", async () => {
      const h = (await api.get(`/webhooks/${hook.id}`)).body;
      return h.status === "inactive" ? h : null;
    });
    expect(disabled.lastResponseCode).toBe("410");
    await runJob(api, quickJob());
    await new Promise((r) => setTimeout(r, 1500));
    expect(receiver.to("/gone").length).toBe(1);
    expect((await api.request("PATCH", `/webhooks/${hook.id}`, { status: "active" })).body.status).toBe("active");
    await runJob(api, quickJob());
    await until("delivered after re-enabling", async () => receiver.to("/gone").length >= 2);
  });

  it("times out a hanging receiver and retries, without delaying the job", async () => {
    const api = await newAccount();
    receiver.script("/hang", ["hang", 200]);
    const hook = await addHook(api, "/hang", ["job.created", "job.success"]);
    const { job } = await runJob(api, quickJob());
    await until("retried after the timeout", async () => receiver.to("/hang").length >= 3, 15_000);
    const attempts: any[] = await until("three attempts logged", async () => {
      const docs = (await api.get(`/webhooks/${hook.id}/attempts`)).body.docs;
      return docs.length >= 3 ? docs : null;
    });
    const log = attempts.map((a) => a.responseCode);
    expect(log).toContain("TIMEOUT");
    // The job ended while the hanging attempt was still waiting for its answer.
    const timedOut = attempts.find((a) => a.responseCode === "TIMEOUT");
    expect(timedOut.durationMs).toBeGreaterThanOrEqual(900);
    expect(Date.parse(job.endedAt)).toBeLessThan(Date.parse(timedOut.at));
    expect(log.filter((c: string) => c === "200").length).toBeGreaterThanOrEqual(2);
  });

  it("reads at most a small part of a 100 MB answer", async () => {
    const api = await newAccount();
    receiver.script("/huge", ["huge"]);
    const hook = await addHook(api, "/huge", ["job.created"]);
    await runJob(api, quickJob());
    const attempt = await until("the attempt", async () => (await api.get(`/webhooks/${hook.id}/attempts`)).body.docs[0]);
    expect(attempt.responseCode).toBe("200");
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.to("/huge").length).toBe(1);
    expect(receiver.hugeBytesWritten[0]).toBeLessThan(16 * 1024 * 1024);
  });

  it("sends a job's own webhook_url its job.finished", async () => {
    const api = await newAccount();
    const res = await api.post("/v1/process/jobs", { webhook_url: `${receiver.url}/own`, tasks: quickJob() });
    expect(res.status).toBe(201);
    const got = await until("the job's webhook", async () => receiver.to("/own")[0]);
    expect(got.body).toMatchObject({ event: "job.finished", job: { id: res.body.id, status: "completed" } });
    expect(got.headers["freeconvert-signature"]).toBeUndefined();
  });

  it("prunes ended deliveries and their attempts after a week, keeping pending ones", async () => {
    const api = await newAccount();
    const hook = await addHook(api, "/prune", ["job.created"]);
    await runJob(api, quickJob());
    await until("logged", async () => (await api.get(`/webhooks/${hook.id}/attempts`)).body.totalDocs === 1);
    const prisma = server.app.engine.prisma;
    expect(await pruneWebhookDeliveries(prisma, new Date(Date.now() + 6 * 86_400_000))).toBe(0);
    expect(await pruneWebhookDeliveries(prisma, new Date(Date.now() + 8 * 86_400_000))).toBeGreaterThanOrEqual(1);
    expect((await api.get(`/webhooks/${hook.id}/attempts`)).body.totalDocs).toBe(0);
    expect(await prisma.webhookDelivery.count({ where: { status: "pending", webhookId: hook.id } })).toBe(0);
  });
});
