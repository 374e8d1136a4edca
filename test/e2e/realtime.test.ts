/**
 * Socket.io realtime updates on an embedded server, with the official client library: a
 * three-task job followed live over its job and task channels, the late-subscribe rule, a bad
 * key refused at connect, other accounts' channels refused, and the user channels.
 */
import { createAccount } from "@transmute/jobs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, type ApiClient, type TestServer } from "../support/harness.js";
import { connectRealtime, pause, type RealtimeClient } from "../support/realtime-client.js";
import { createUpload, makePng, runJob, startServer, taskOf, uploadLikeCurl } from "./helpers.js";

let server: TestServer;
let png: Buffer;
let other: { key: string; accountId: string; api: ApiClient };
let accountId: string;
const clients: RealtimeClient[] = [];

/** Connects a test socket, closed after the file. */
async function connect(key: string): Promise<RealtimeClient> {
  const client = await connectRealtime(server.url, key);
  clients.push(client);
  return client;
}

/** A job of three tasks that waits for its upload: nothing runs before the test subscribes. */
async function createUploadJob(api: ApiClient): Promise<any> {
  const res = await api.post("/v1/process/jobs", {
    tasks: {
      "import-1": { operation: "import/upload" },
      "convert-1": { operation: "convert", input: "import-1", input_format: "png", output_format: "jpg" },
      "export-1": { operation: "export/url", input: ["convert-1"] },
    },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

const base64Job = (bytes: Buffer) => ({ up: { operation: "import/base64", file: bytes.toString("base64"), filename: "a.png" } });

beforeAll(async () => {
  [server, png] = await Promise.all([startServer(), makePng(24, 16, [10, 200, 30])]);
  const created = await createAccount(server.app.engine.prisma, `realtime-${crypto.randomUUID()}@example.test`, "other");
  other = { key: created.key, accountId: created.accountId, api: apiClient(server.url, created.key) };
  accountId = (await server.api.get("/v1/account/me")).body.id;
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.close();
});

describe("realtime: following a job", () => {
  it("sends task_started, task_completed and job_completed for a three-task job, each once", async () => {
    const job = await createUploadJob(server.api);
    const client = await connect(server.key);
    expect(await client.subscribe(`job.${job.id}`)).toEqual({ ok: true, channel: `job.${job.id}` });
    for (const task of job.tasks) expect((await client.subscribe(`task.${task.id}`)).ok).toBe(true);

    const upload = taskOf(job, "import-1");
    expect((await uploadLikeCurl(upload.result.form, png, "in.png")).status).toBeLessThan(300);
    const done = await client.waitFor("job_completed", job.id);
    expect(done.data).toMatchObject({ id: job.id, status: "completed" });
    expect(done.data.tasks.map((t: any) => t.status)).toEqual(["completed", "completed", "completed"]);
    await pause(300);

    const ids = Object.fromEntries(job.tasks.map((t: any) => [t.name, t.id]));
    const seen = client.events.map((e) => `${e.event}:${e.data.name ?? "job"}`);
    // The upload task is never "started" by a worker: the upload completes it.
    expect(seen.filter((s) => s.startsWith("task_started")).sort()).toEqual(["task_started:convert-1", "task_started:export-1"]);
    expect(seen.filter((s) => s.startsWith("task_completed")).sort()).toEqual(["task_completed:convert-1", "task_completed:export-1", "task_completed:import-1"]);
    expect(seen.filter((s) => s === "job_completed:job")).toHaveLength(1);
    expect(seen.filter((s) => s.startsWith("task_failed") || s.startsWith("job_failed"))).toEqual([]);
    // Each task ends after it started, and the job after its last task.
    for (const name of ["convert-1", "export-1"]) expect(seen.indexOf(`task_started:${name}`)).toBeLessThan(seen.indexOf(`task_completed:${name}`));
    expect(seen.indexOf("task_completed:export-1")).toBeLessThan(seen.indexOf("job_completed:job"));
    // Payloads are the REST views: id, name, status, and the export's download link.
    const exported = client.events.find((e) => e.event === "task_completed" && e.data.id === ids["export-1"])!.data;
    expect(exported).toMatchObject({ id: ids["export-1"], name: "export-1", operation: "export/url", status: "completed", job: job.id });
    expect(exported.result.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\/files\//);
    const started = client.events.find((e) => e.event === "task_started")!.data;
    expect(started).toHaveProperty("id");
    expect(started).toHaveProperty("name");
    expect(started).toHaveProperty("status");
  });

  it("sends the final event at once when the job or task already ended", async () => {
    const { job } = await runJob(server.api, base64Job(png));
    const task = job.tasks[0];
    const client = await connect(server.key);
    expect((await client.subscribe(`job.${job.id}`)).ok).toBe(true);
    expect((await client.waitFor("job_completed", job.id, 5000)).data).toMatchObject({ id: job.id, status: "completed" });
    expect((await client.subscribe(`task.${task.id}`)).ok).toBe(true);
    expect((await client.waitFor("task_completed", task.id, 5000)).data).toMatchObject({ id: task.id, name: "up", status: "completed" });
    // Subscribing again does not repeat it; unsubscribing and subscribing again does.
    await client.subscribe(`job.${job.id}`);
    await pause(200);
    expect(client.events.filter((e) => e.event === "job_completed")).toHaveLength(1);
    expect(await client.unsubscribe(`job.${job.id}`)).toEqual({ ok: true, channel: `job.${job.id}` });
    await client.subscribe(`job.${job.id}`);
    await pause(200);
    expect(client.events.filter((e) => e.event === "job_completed")).toHaveLength(2);
  });

  it("sends job_failed and task_failed for a failed job, live and late", async () => {
    const res = await server.api.post("/v1/process/jobs", { tasks: { bad: { operation: "import/url", url: "http://127.0.0.1:1/nothing.png" } } });
    expect(res.status).toBe(201);
    const job = res.body;
    const live = await connect(server.key);
    await live.subscribe(`job.${job.id}`);
    await live.subscribe(`task.${job.tasks[0].id}`);
    expect((await live.waitFor("job_failed", job.id)).data).toMatchObject({ id: job.id, status: "failed" });
    expect((await live.waitFor("task_failed", job.tasks[0].id)).data).toMatchObject({ name: "bad", status: "failed" });

    const late = await connect(server.key);
    await late.subscribe(`job.${job.id}`);
    await late.subscribe(`task.${job.tasks[0].id}`);
    await late.waitFor("job_failed", job.id, 5000);
    await late.waitFor("task_failed", job.tasks[0].id, 5000);
  });
});

describe("realtime: a lost bus event", () => {
  it("still sends the final event, from the gateway's sweep, within seconds", async () => {
    const job = await createUploadJob(server.api);
    const task = taskOf(job, "import-1");
    const client = await connect(server.key);
    await client.subscribe(`job.${job.id}`);
    await client.subscribe(`task.${task.id}`);
    // The rows end without any event on the bus, as when a Redis subscriber missed it.
    const endedAt = new Date(Date.now() - 10_000);
    await server.app.engine.prisma.task.updateMany({ where: { jobId: job.id }, data: { status: "failed", endedAt, code: "upload_timeout", message: "gone" } });
    await server.app.engine.prisma.job.update({ where: { id: job.id }, data: { status: "failed", endedAt } });
    const started = Date.now();
    expect((await client.waitFor("job_failed", job.id, 8000)).data).toMatchObject({ id: job.id, status: "failed" });
    expect((await client.waitFor("task_failed", task.id, 8000)).data).toMatchObject({ id: task.id, status: "failed" });
    expect(Date.now() - started).toBeLessThan(6000);
    // Sent once: later sweeps do not repeat it.
    await pause(2500);
    expect(client.events.filter((e) => e.event === "job_failed")).toHaveLength(1);
  });
});

describe("realtime: authentication and ownership", () => {
  it("refuses a bad or missing key at connect, and accepts the key with or without Bearer", async () => {
    const refused = await connectRealtime(server.url, "not-a-key").then(
      () => null,
      (err) => err,
    );
    expect(refused?.message).toBe("Invalid API key.");
    expect(refused?.data).toEqual({ code: "unauthorized", message: "Invalid API key." });
    const missing = await connectRealtime(server.url, undefined).then(
      () => null,
      (err) => err,
    );
    expect(missing?.data?.code).toBe("unauthorized");
    const bare = await connectRealtime(server.url, server.key, { bearer: false });
    clients.push(bare);
    expect(bare.socket.connected).toBe(true);
  });

  it("refuses another account's job, task and user channels, answering as for unknown ids", async () => {
    const { job } = await runJob(server.api, base64Job(png));
    const stranger = await connect(other.key);
    const refusedJob = await stranger.subscribe(`job.${job.id}`);
    expect(refusedJob).toEqual({ ok: false, channel: `job.${job.id}`, error: { code: "not_found", message: `No job with id "${job.id}".` } });
    const unknown = crypto.randomUUID();
    expect((await stranger.subscribe(`job.${unknown}`)).error).toEqual({ code: "not_found", message: `No job with id "${unknown}".` });
    expect((await stranger.subscribe(`job.not-an-id`)).error.code).toBe("not_found");
    const refusedTask = await stranger.subscribe(`task.${job.tasks[0].id}`);
    expect(refusedTask.error).toEqual({ code: "not_found", message: `No task with id "${job.tasks[0].id}".` });
    for (const channel of [`user.${accountId}.jobs`, `user.${accountId}.tasks`, `user.${unknown}.jobs`]) {
      const answer = await stranger.subscribe(channel);
      expect(answer.ok).toBe(false);
      expect(answer.error.code).toBe("forbidden");
      expect(answer.error.message).toContain("GET /v1/account/me");
    }
    const malformed = await stranger.subscribe("jobs.everything");
    expect(malformed.error.code).toBe("invalid_request");
    expect(malformed.error.message).toContain("job.{jobId}, task.{taskId}, user.{userId}.jobs, user.{userId}.tasks");
    // Refusals also come as subscribe_error events (clients that emit without an ack see them).
    await pause(100);
    const errors = stranger.events.filter((e) => e.event === "subscribe_error").map((e) => e.data);
    expect(errors).toHaveLength(8);
    expect(errors[0]).toEqual({ channel: `job.${job.id}`, code: "not_found", message: `No job with id "${job.id}".` });
    // Nothing of the job reached the stranger.
    expect(stranger.events.filter((e) => e.event !== "subscribe_error")).toEqual([]);
  });

  it("user.{id}.jobs and user.{id}.tasks carry the account's events and nothing of another account's", async () => {
    const mine = await connect(server.key);
    const theirs = await connect(other.key);
    expect((await mine.subscribe(`user.${accountId}.jobs`)).ok).toBe(true);
    expect((await mine.subscribe(`user.${accountId}.tasks`)).ok).toBe(true);
    expect((await theirs.subscribe(`user.${other.accountId}.jobs`)).ok).toBe(true);

    const [{ job: myJob }, { job: theirJob }] = await Promise.all([runJob(server.api, base64Job(png)), runJob(other.api, base64Job(png))]);
    await mine.waitFor("job_completed", myJob.id);
    await mine.waitFor("task_completed", myJob.tasks[0].id);
    await theirs.waitFor("job_completed", theirJob.id);
    await pause(300);
    const jobIdsOf = (c: RealtimeClient) => new Set(c.events.filter((e) => e.event.startsWith("job_")).map((e) => e.data.id));
    expect(jobIdsOf(mine)).toEqual(new Set([myJob.id]));
    expect(jobIdsOf(theirs)).toEqual(new Set([theirJob.id]));
    expect(mine.events.some((e) => e.data?.job === theirJob.id || e.data?.id === theirJob.id)).toBe(false);
    // Only the jobs channel was joined: no task events for the other account.
    expect(theirs.events.filter((e) => e.event.startsWith("task_"))).toEqual([]);
    expect(mine.events.filter((e) => e.event === "job_completed")).toHaveLength(1);
  });
});

describe("realtime: closing", () => {
  it("disconnects the sockets when the gateway closes", async () => {
    const own = await startServer();
    try {
      const client = await connectRealtime(own.url, own.key);
      const disconnected = new Promise<string>((resolve) => client.socket.once("disconnect", resolve));
      const started = Date.now();
      await own.close();
      expect(await disconnected).toBeTruthy();
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await own.close().catch(() => undefined);
    }
  });
});
