import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ProcessPool, ProcessPoolOptions } from "../dist/index.js";
import { createProcessPool } from "../dist/index.js";

type Request = { action: string; [key: string]: unknown };
type Response = { pid: number; value?: unknown; keys?: string[] };

const FIXTURE = new URL("./fixtures/test-child.mjs", import.meta.url);
const BROKEN = new URL("./fixtures/broken-child.mjs", import.meta.url);
const pools: ProcessPool<Request, Response>[] = [];
let scratch: string;

function makePool(options: Partial<ProcessPoolOptions> = {}): ProcessPool<Request, Response> {
  const pool = createProcessPool<Request, Response>({ size: 1, modulePath: FIXTURE, timeoutMs: 5_000, ...options });
  pools.push(pool);
  return pool;
}

/** Whether a process still runs. A killed orphan stays a zombie until init reaps it, which in a container can take seconds. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return !/^State:\s+Z/m.test(readFileSyncOrEmpty(`/proc/${pid}/status`));
}

function readFileSyncOrEmpty(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

async function waitUntilDead(pid: number, withinMs = 1_000): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return !isAlive(pid);
}

async function waitFor(condition: () => boolean, withinMs = 3_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function rejection(promise: Promise<unknown>): Promise<{ code: string; message: string; detail?: string; retryable: boolean }> {
  try {
    await promise;
  } catch (err) {
    return err as { code: string; message: string; detail?: string; retryable: boolean };
  }
  throw new Error("expected a rejection");
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "transmute-pool-"));
});

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("process pool", () => {
  it("keeps children warm: consecutive requests run in the same process", async () => {
    const pool = makePool();
    const first = await pool.run({ action: "echo", value: 1 });
    const second = await pool.run({ action: "echo", value: { nested: ["x"] } });
    expect(second.value).toEqual({ nested: ["x"] });
    expect(second.pid).toBe(first.pid);
    expect(first.pid).not.toBe(process.pid);
    expect(pool.stats()).toEqual({ children: 1, busy: 0, queued: 0, pids: [first.pid] });
  });

  it("runs up to `size` requests in parallel and queues the rest", async () => {
    const pool = makePool({ size: 2 });
    const started = Date.now();
    const runs = [0, 1, 2, 3].map(() => pool.run({ action: "sleep", ms: 300 }));
    await waitFor(() => pool.stats().busy === 2);
    expect(pool.stats()).toMatchObject({ children: 2, busy: 2, queued: 2 });
    const results = await Promise.all(runs);
    const elapsed = Date.now() - started;
    expect(new Set(results.map((r) => r.pid)).size).toBe(2);
    // Two rounds of 300 ms: never more than `size` at once.
    expect(elapsed).toBeGreaterThanOrEqual(590);
  });

  it("kills a child that overruns its timeout with engine_timeout, and the next request succeeds", async () => {
    const pool = makePool({ timeoutMs: 300 });
    const { pid } = await pool.run({ action: "echo" });
    const started = Date.now();
    const err = await rejection(pool.run({ action: "spin" }));
    expect(err.code).toBe("engine_timeout");
    expect(err.message).toBe("the conversion took longer than 0.3 s and was stopped");
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await waitUntilDead(pid)).toBe(true);
    const next = await pool.run({ action: "echo", value: "after" });
    expect(next.value).toBe("after");
    expect(next.pid).not.toBe(pid);
  });

  it("takes a per-request timeout over the pool's", async () => {
    const pool = makePool({ timeoutMs: 10_000 });
    const started = Date.now();
    expect((await rejection(pool.run({ action: "sleep", ms: 5_000 }, { timeoutMs: 200 }))).code).toBe("engine_timeout");
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it("kills what the child spawned too (its whole process group)", async () => {
    const pool = makePool({ timeoutMs: 1_000 });
    const pidFile = join(scratch, "grandchild.pid");
    const err = await rejection(pool.run({ action: "grandchild", pidFile }));
    expect(err.code).toBe("engine_timeout");
    const grandchild = Number(await readFile(pidFile, "utf8"));
    expect(grandchild).toBeGreaterThan(0);
    expect(await waitUntilDead(grandchild)).toBe(true);
  });

  it("cancels a running request on abort, killing its child", async () => {
    const pool = makePool();
    const { pid } = await pool.run({ action: "echo" });
    const controller = new AbortController();
    const running = pool.run({ action: "spin" }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    const started = Date.now();
    expect((await rejection(running)).code).toBe("canceled");
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await waitUntilDead(pid)).toBe(true);
    expect((await pool.run({ action: "echo", value: 2 })).value).toBe(2);
  });

  it("cancels a queued request without touching the busy child", async () => {
    const pool = makePool();
    const busy = pool.run({ action: "sleep", ms: 300 });
    const controller = new AbortController();
    const queued = pool.run({ action: "echo" }, { signal: controller.signal });
    controller.abort();
    expect((await rejection(queued)).code).toBe("canceled");
    const { pid } = await busy;
    expect((await pool.run({ action: "echo" })).pid).toBe(pid);
  });

  it("refuses an already-aborted signal without spawning anything", async () => {
    const pool = makePool();
    expect((await rejection(pool.run({ action: "echo" }, { signal: AbortSignal.abort() }))).code).toBe("canceled");
    expect(pool.stats().children).toBe(0);
  });

  it.each([
    ["exits", { action: "exit", code: 9 }, "exit code 9"],
    ["segfaults", { action: "segv" }, "SIGSEGV"],
  ])("fails the request with processing_failed when the child %s, and recovers", async (_label, request, detail) => {
    const pool = makePool();
    const { pid } = await pool.run({ action: "echo" });
    const err = await rejection(pool.run(request));
    expect(err.code).toBe("processing_failed");
    expect(err.message).toBe("the conversion process stopped unexpectedly");
    expect(err.detail).toContain(detail);
    expect(await waitUntilDead(pid)).toBe(true);
    const next = await pool.run({ action: "echo", value: "recovered" });
    expect(next.value).toBe("recovered");
    expect(next.pid).not.toBe(pid);
  });

  it("passes an AppError thrown in the child through with its code", async () => {
    const pool = makePool();
    const err = await rejection(pool.run({ action: "throw-app", code: "corrupt_file", message: "the file is damaged" }));
    expect(err).toMatchObject({ code: "corrupt_file", message: "the file is damaged", detail: "operator-only detail" });
    expect(err.constructor.name).toBe("AppError");
  });

  it("hides other errors' text from the caller but keeps it for the operator", async () => {
    const pool = makePool();
    const { pid } = await pool.run({ action: "echo" });
    const err = await rejection(pool.run({ action: "throw" }));
    expect(err.code).toBe("processing_failed");
    expect(err.message).not.toContain("/secret");
    expect(err.detail).toContain("boom at /secret/scratch/path");
    expect((await pool.run({ action: "echo" })).pid).toBe(pid);
  });

  it("retires a child after maxRequestsPerChild", async () => {
    const pool = makePool({ maxRequestsPerChild: 2 });
    const a = await pool.run({ action: "echo" });
    const b = await pool.run({ action: "echo" });
    const c = await pool.run({ action: "echo" });
    expect(b.pid).toBe(a.pid);
    expect(c.pid).not.toBe(a.pid);
    expect(await waitUntilDead(a.pid)).toBe(true);
  });

  it("gives children an empty environment unless told otherwise", async () => {
    const pool = makePool();
    const { keys } = await pool.run({ action: "env" });
    expect(keys?.filter((k) => !k.startsWith("NODE_CHANNEL"))).toEqual([]);
    const withEnv = makePool({ env: { TRANSMUTE_TEST: "1" } });
    expect((await withEnv.run({ action: "env" })).keys).toContain("TRANSMUTE_TEST");
  });

  it("fails requests when the handler module cannot load, without respawning in a loop", async () => {
    const pool = makePool({ modulePath: BROKEN });
    const errors = await Promise.all([rejection(pool.run({ action: "echo" })), rejection(pool.run({ action: "echo" }))]);
    for (const err of errors) {
      expect(err.code).toBe("processing_failed");
      expect(err.message).toBe("the conversion process could not start");
      expect(err.detail).toContain("broken on purpose");
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(pool.stats().children).toBe(0);
  });

  it("close() kills every child, fails running work with worker_lost, and refuses new work", async () => {
    const pool = makePool({ size: 3 });
    const pids = (await Promise.all([0, 1, 2].map(() => pool.run({ action: "sleep", ms: 50 })))).map((r) => r.pid);
    const running = pool.run({ action: "spin" });
    const queuedBehind = [pool.run({ action: "spin" }), pool.run({ action: "spin" }), pool.run({ action: "echo" })];
    const settled = Promise.all([running, ...queuedBehind].map(rejection));
    await waitFor(() => pool.stats().busy === 3);
    const live = pool.stats().pids;
    expect(live.length).toBe(3);
    await pool.close();
    for (const pid of new Set([...pids, ...live])) expect(isAlive(pid), `pid ${pid}`).toBe(false);
    const errors = await settled;
    expect(errors.map((e) => e.code)).toEqual(["worker_lost", "worker_lost", "worker_lost", "worker_lost"]);
    expect(errors[0]?.retryable).toBe(true);
    expect((await rejection(pool.run({ action: "echo" }))).code).toBe("service_unavailable");
    expect(pool.stats()).toEqual({ children: 0, busy: 0, queued: 0, pids: [] });
  });
});
