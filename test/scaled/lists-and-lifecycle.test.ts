/**
 * Lists, cursors, include, cancel and delete on separate gateway and worker processes over one
 * fresh Postgres database and Redis prefix: the scenarios of the embedded suite
 * (test/e2e/lists-and-lifecycle-scenarios.ts and -cancel-delete-scenarios.ts). Here a cancel crosses processes (gateway, Redis
 * pub/sub, worker) and the concurrent cursor walk races real concurrent transactions on two gateways.
 */
import { join } from "node:path";
import { createDatabase } from "@transmute/db";
import { createAccount } from "@transmute/jobs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCluster, type Cluster, type ServerProcess } from "../support/cluster.js";
import { apiClient } from "../support/harness.js";
import { servicesAvailable } from "../support/services.js";
import {
  checkCancelRunning,
  checkCancelWaiting,
  checkDeleteJob,
  checkDeleteSharedFiles,
  checkDeleteTask,
  makeNoisyJpeg,
} from "../e2e/lists-and-lifecycle-cancel-delete-scenarios.js";
import {
  checkBadInput,
  checkConcurrentWalk,
  checkCursorBasics,
  checkFilters,
  checkInclude,
  checkJobList,
  checkPaging,
  seedLists,
  type ListSeed,
  type Target,
} from "../e2e/lists-and-lifecycle-scenarios.js";
import { printLogsOnFailure } from "./fixtures.js";

const available = await servicesAvailable();

describe.skipIf(!available)("lists and lifecycle, scaled out", () => {
  let cluster: Cluster | undefined;
  let gateways: ServerProcess[];
  let target: Target;
  let otherKey: string;
  let seed: ListSeed;
  let noisy: Buffer;
  printLogsOnFailure(() => cluster);

  beforeAll(async () => {
    // One conversion at a time, and a heartbeat too slow to explain a prompt stop: only the
    // task.canceled event crossing Redis can.
    cluster = await createCluster({ env: { TRANSMUTE_HEARTBEAT_SECONDS: "30", TRANSMUTE_STALE_AFTER_SECONDS: "90" } });
    const started = await Promise.all([
      cluster.start("gateway", { noWait: true }),
      cluster.start("gateway", { noWait: true }),
      cluster.start("worker", { noWait: true, env: { TRANSMUTE_WORKER_CONCURRENCY: "1" } }),
    ]);
    noisy = await makeNoisyJpeg(800);
    await Promise.all(started.map((p) => cluster!.waitReady(p)));
    gateways = started.slice(0, 2);
    const worker = started[2]!;
    const db = await createDatabase({ url: cluster.databaseUrl });
    const other = await createAccount(db.prisma, "other@example.test", "other").finally(() => db.close());
    otherKey = other.key;
    target = {
      api: gateways[0]!.api!,
      other: apiClient(gateways[0]!.url!, other.key),
      otherAccountId: other.accountId,
      sql: <T,>(text: string, params?: unknown[]) => cluster!.sql(text, params) as unknown as Promise<T[]>,
      store: cluster.store,
      scratchDir: join(cluster.root, worker.name, "scratch"),
      workerPid: worker.pid,
    };
    seed = await seedLists(target);
  });

  afterAll(async () => {
    await cluster?.close();
  });

  it("pages, filters, include and the job list", async () => {
    await checkPaging(target, seed);
    await checkFilters(target, seed);
    await checkInclude(target, seed);
    await checkJobList(target, seed);
    await checkBadInput(target);
  });

  it("walks with cursors, also while two gateways create tasks concurrently, skipping and repeating none", async () => {
    await checkCursorBasics(target, seed);
    const via = gateways.map((g) => apiClient(g.url!, otherKey));
    const walk = await checkConcurrentWalk(target, { initial: 40, added: 90, creators: 4, via });
    expect(walk.tasks).toBeGreaterThan(130);
  });

  it("cancels waiting, upload and running tasks; the running conversion stops at once across processes", async () => {
    await checkCancelWaiting(target);
    const figures = await checkCancelRunning(target, noisy);
    console.info(`cancel (scaled out): uncanceled ${figures.uncanceledMs} ms; canceled after ${figures.canceledAfterMs} ms; next started ${figures.nextStartedAfterCancelMs} ms after the cancel`);
  });

  it("deletes tasks and jobs: files, shared export objects, dependents in other jobs, a running conversion", async () => {
    await checkDeleteTask(target);
    await checkDeleteSharedFiles(target);
    await checkDeleteJob(target, noisy);
  });
});
