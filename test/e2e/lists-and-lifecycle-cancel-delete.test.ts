/**
 * Cancel and delete on an embedded server with one conversion at a time and a slow heartbeat, so
 * that a conversion stopping at once can only be the cancel event's doing. The scenarios are
 * shared with the scaled-out suite (lists-and-lifecycle-cancel-delete-scenarios.ts).
 */
import { createAccount } from "@transmute/jobs";
import { createLocalDiskStore } from "@transmute/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, type TestServer } from "../support/harness.js";
import { startServer } from "./helpers.js";
import {
  checkCancelRunning,
  checkCancelWaiting,
  checkDeleteJob,
  checkDeleteSharedFiles,
  checkDeleteTask,
  makeNoisyJpeg,
} from "./lists-and-lifecycle-cancel-delete-scenarios.js";
import type { Target } from "./lists-and-lifecycle-scenarios.js";

let server: TestServer;
let target: Target;
let noisy: Buffer;

beforeAll(async () => {
  [server, noisy] = await Promise.all([
    startServer({ TRANSMUTE_WORKER_CONCURRENCY: "1", TRANSMUTE_HEARTBEAT_SECONDS: "30", TRANSMUTE_STALE_AFTER_SECONDS: "90" }),
    makeNoisyJpeg(800),
  ]);
  const prisma = server.app.engine.prisma;
  const other = await createAccount(prisma, `lifecycle-${crypto.randomUUID()}@example.com`, "other");
  target = {
    api: server.api,
    other: apiClient(server.url, other.key),
    otherAccountId: other.accountId,
    sql: (text, params = []) => prisma.$queryRawUnsafe(text, ...params),
    store: createLocalDiskStore({ root: server.app.config.storageDir }),
    scratchDir: server.app.config.scratchDir,
    workerPid: process.pid,
  };
});

afterAll(async () => {
  await server?.close();
});

describe("cancel and delete, embedded", () => {
  it("cancels waiting and upload tasks: dependents follow ignore_error, the form closes, ended tasks are 409", () => checkCancelWaiting(target));

  it("a canceled conversion stops at once: the next queued one starts before it would have ended, its child killed, scratch empty", async () => {
    const figures = await checkCancelRunning(target, noisy);
    console.info(`cancel (embedded): uncanceled ${figures.uncanceledMs} ms; canceled after ${figures.canceledAfterMs} ms; next started ${figures.nextStartedAfterCancelMs} ms after the cancel`);
    expect(figures.nextStartedAfterCancelMs).toBeLessThan(figures.uncanceledMs);
  });

  it("deletes a task: empty 200, 404 after, files gone, a dependent in another job fails with user_deleted_task", () => checkDeleteTask(target));
  it("deleting an export leaves the file it publishes downloadable through the other exports", () => checkDeleteSharedFiles(target));
  it("deletes a job with a running conversion: stopped, files gone, a dependent in another job fails", () => checkDeleteJob(target, noisy));
});
