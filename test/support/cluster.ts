/**
 * A scaled-out Transmute as real OS processes, for the tests under test/scaled: a fresh
 * Postgres database and Redis prefix per cluster, one shared file store, and any number of
 * `transmute gateway|worker|all` processes spawned from the built `apps/server/dist/main.js`.
 * The file store is a shared directory, or with TRANSMUTE_TEST_STORAGE=s3 (the `scaled-s3`
 * project of vitest.config.ts) a bucket on an s3rver of the cluster's own: every process then
 * runs with TRANSMUTE_STORAGE=s3, and `cluster.store` reads the same bucket for the tests.
 * Every process's output is kept so a failing test can print it; `close()` kills every process
 * it started, drops the database and deletes the prefix's Redis keys.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import pg from "pg";
import { createLocalDiskStore, createS3Store, type BlobStore } from "@transmute/storage";
import { apiClient, freePort, type ApiClient } from "./harness.js";
import { S3RVER_CREDENTIALS, startS3Server, type TestS3Server } from "./s3-server.js";
import { TEST_DATABASE_URL, TEST_REDIS_URL } from "./services.js";

/** The repository root (where `apps/server/dist/main.js` lives). */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The `transmute` command, built. */
export const MAIN_JS = join(REPO_ROOT, "apps/server/dist/main.js");
/** The key every cluster's processes accept (TRANSMUTE_API_KEY: the default account's). */
export const CLUSTER_API_KEY = "tk_scaled_test_key_0123456789";

/** What a process runs: one role of `transmute`, or another command line of it (`accounts ...`). */
export type Role = "gateway" | "worker" | "all";

/** The variables a spawned process inherits from the test process; everything else is set explicitly. */
const INHERITED = ["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "LD_LIBRARY_PATH", "SYSTEMROOT"];

/** The environment of a spawned process: a few system variables plus `vars` (never the test's own TRANSMUTE_*). */
export function childEnv(vars: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of INHERITED) if (process.env[name] !== undefined) env[name] = process.env[name];
  for (const [name, value] of Object.entries(vars)) if (value !== undefined) env[name] = value;
  return env;
}

/** A random lowercase suffix for database names and prefixes. */
export function randomSuffix(): string {
  return randomBytes(6).toString("hex");
}

/** Every process spawned by this module, so a crashing test process still kills them. */
const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const proc of live) proc.kill("SIGKILL");
});

/** The live descendants of `pid` (children, their children...), from Linux's /proc; empty elsewhere. */
export async function descendantsOf(pid: number): Promise<number[]> {
  let entries: string[];
  try {
    entries = (await readdir("/proc")).filter((name) => /^\d+$/.test(name));
  } catch {
    return [];
  }
  const parentOf = new Map<number, number>();
  await Promise.all(
    entries.map(async (name) => {
      const stat = await readFile(`/proc/${name}/stat`, "utf8").catch(() => null);
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ")".
      const ppid = stat ? Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) : NaN;
      if (Number.isInteger(ppid)) parentOf.set(Number(name), ppid);
    }),
  );
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const [child, ppid] of parentOf) {
      if (ppid === parent && !found.includes(child)) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

/** Whether `pid` runs (a zombie, exited but not yet reaped by its new parent, does not). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return !existsSync("/proc/self"); // gone meanwhile; or no /proc, and kill(0) is all there is
  }
}

/** A spawned process with its output. */
export interface SpawnedProcess {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** Everything it printed so far (stdout and stderr, interleaved). */
  output(): string;
  /** Resolves when it exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Whether it has exited. */
  hasExited(): boolean;
  /**
   * SIGKILL, then waits for the exit and for the processes it had spawned (engine pool children)
   * to exit on their own; any still alive after 5 s is killed and listed in `orphans`.
   */
  kill(): Promise<void>;
  /** SIGTERM (a graceful stop), SIGKILL after `graceMs`; waits for the exit, and for its children as `kill` does. */
  stop(graceMs?: number): Promise<void>;
  /** The descendants it had when it was last killed or stopped. */
  descendants: number[];
  /** Descendants that outlived it (and were then killed by the harness). */
  orphans: number[];
}

/** Spawns `node apps/server/dist/main.js ...args` (or `node <script>` with `script`). */
export function spawnNode(name: string, args: string[], env: NodeJS.ProcessEnv, opts: { script?: string } = {}): SpawnedProcess {
  const proc = spawn(process.execPath, [opts.script ?? MAIN_JS, ...args], { cwd: REPO_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  live.add(proc);
  let out = "";
  const onData = (chunk: Buffer) => {
    out += chunk.toString();
    if (out.length > 2_000_000) out = out.slice(-1_000_000);
  };
  proc.stdout!.on("data", onData);
  proc.stderr!.on("data", onData);
  let ended = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once("close", (code, signal) => {
      ended = true;
      live.delete(proc);
      resolve({ code, signal });
    });
    proc.once("error", (err) => {
      out += `\n[spawn error] ${err.message}\n`;
    });
  });
  /** Records the descendants before `end` runs, then waits for them to go; kills and lists stragglers. */
  const reaping = async (end: () => Promise<void>) => {
    if (ended) return;
    const before = await descendantsOf(proc.pid!);
    self.descendants = before;
    await end();
    const deadline = Date.now() + 5000;
    while (before.some(isAlive) && Date.now() < deadline) await sleep(50);
    for (const pid of before.filter(isAlive)) {
      self.orphans.push(pid);
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
  };
  const self: SpawnedProcess = {
    name,
    proc,
    pid: proc.pid!,
    output: () => out,
    exited,
    hasExited: () => ended,
    descendants: [],
    orphans: [],
    kill: () =>
      reaping(async () => {
        proc.kill("SIGKILL");
        await exited;
      }),
    stop: (graceMs = 5000) =>
      reaping(async () => {
        proc.kill("SIGTERM");
        const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
        await exited;
        clearTimeout(timer);
      }),
  };
  return self;
}

/** Runs a command to its end; returns its exit code and output. */
export async function runNode(args: string[], env: NodeJS.ProcessEnv, opts: { script?: string; timeoutMs?: number } = {}) {
  const child = spawnNode(`run ${args.join(" ")}`, args, env, opts);
  const timer = setTimeout(() => child.proc.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
  const { code, signal } = await child.exited;
  clearTimeout(timer);
  return { code, signal, output: child.output() };
}

/** A Transmute process of a cluster. */
export interface ServerProcess extends SpawnedProcess {
  role: Role;
  /** The gateway's base URL (gateway and all). */
  url: string | null;
  /** A client with the cluster's key (gateway and all). */
  api: ApiClient | null;
}

/** Options of a process started by a cluster. */
export interface StartOptions {
  /** Settings for this process only (override the cluster's). */
  env?: Record<string, string>;
  /** Defaults to `<role>-<n>`. */
  name?: string;
  /** Don't wait for readiness (for processes started together). */
  noWait?: boolean;
}

/** Options of a cluster. */
export interface ClusterOptions {
  /** Settings for every process (TRANSMUTE_QUEUE_LOCK_SECONDS, TRANSMUTE_STALE_AFTER_SECONDS...). */
  env?: Record<string, string>;
}

/** A scaled-out cluster under test. */
export interface Cluster {
  databaseName: string;
  databaseUrl: string;
  redisUrl: string;
  /** The Redis prefix of this cluster's keys and channel. */
  prefix: string;
  /** The shared storage directory (the local driver's; unused with the S3 driver). */
  storageDir: string;
  /** Which file store the processes use: TRANSMUTE_TEST_STORAGE (default local). */
  storage: "local" | "s3";
  /** The processes' file store, opened by the test process: what they stored, as they see it. */
  store: BlobStore;
  /** A temp directory removed at close (data dirs of the processes live under it). */
  root: string;
  key: string;
  /** Every process started so far. */
  processes: ServerProcess[];
  /** The environment a process of this cluster gets (shared settings, then `extra`). */
  env(extra?: Record<string, string>): NodeJS.ProcessEnv;
  /** Starts a process and waits until it is ready (gateway: /healthz answers; worker: registered). */
  start(role: Role, opts?: StartOptions): Promise<ServerProcess>;
  /** Waits until a process started with `noWait` is ready. */
  waitReady(p: ServerProcess, timeoutMs?: number): Promise<void>;
  /** A query on the cluster's database. */
  sql<T extends pg.QueryResultRow = any>(text: string, params?: unknown[]): Promise<T[]>;
  /** Redis, for inspecting or removing the prefix's keys. */
  redis: Redis;
  /** Keys of this cluster's prefix (SCAN). */
  redisKeys(): Promise<string[]>;
  /** Deletes every key of this cluster's prefix (SCAN + DEL); returns how many. */
  deleteRedisKeys(): Promise<number>;
  /** Output of every process, for a failing test. */
  logs(): string;
  /** Kills every process, drops the database, deletes the Redis keys and the temp directory. */
  close(): Promise<void>;
}

/** A connection URL for database `name` on the test server. */
export function databaseUrlFor(name: string): string {
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** The bucket of the S3 file store (one s3rver per cluster; the cluster's Redis prefix is its key prefix). */
const S3_BUCKET = "transmute-files";

/** The file store of the clusters of this test run: TRANSMUTE_TEST_STORAGE, local or s3. */
export function testStorage(): "local" | "s3" {
  const value = process.env.TRANSMUTE_TEST_STORAGE ?? "local";
  if (value !== "local" && value !== "s3") throw new Error(`TRANSMUTE_TEST_STORAGE must be local or s3, not ${value}`);
  return value;
}

/** Every key the store holds under `prefix` (whole segments), sorted. */
export async function storedKeys(store: BlobStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of store.list(prefix)) keys.push(key);
  return keys.sort();
}

/** Creates a fresh database `transmute_test_<random>` and a Redis prefix; starts nothing yet. */
export async function createCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const suffix = randomSuffix();
  const databaseName = `transmute_test_${suffix}`;
  await adminQuery(`CREATE DATABASE ${databaseName}`);
  const databaseUrl = databaseUrlFor(databaseName);
  const prefix = `t${suffix}`;
  const root = await mkdtemp(join(tmpdir(), "transmute-scaled-"));
  const storageDir = join(root, "files");
  await mkdir(storageDir, { recursive: true });
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 3 });
  pool.on("error", () => undefined);
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 2 });
  redis.on("error", () => undefined);
  const processes: ServerProcess[] = [];
  let count = 0;
  const storage = testStorage();
  let s3: TestS3Server | null = null;
  let storageEnv: Record<string, string> = { TRANSMUTE_STORAGE_DIR: storageDir };
  let store: BlobStore & { close?(): void };
  if (storage === "s3") {
    s3 = await startS3Server([S3_BUCKET]);
    storageEnv = {
      TRANSMUTE_STORAGE: "s3",
      TRANSMUTE_S3_BUCKET: S3_BUCKET,
      TRANSMUTE_S3_ENDPOINT: s3.endpoint,
      TRANSMUTE_S3_PREFIX: `${prefix}/`,
      TRANSMUTE_S3_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      TRANSMUTE_S3_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    };
    store = createS3Store({ endpoint: s3.endpoint, region: "us-east-1", bucket: S3_BUCKET, prefix: `${prefix}/`, ...S3RVER_CREDENTIALS });
  } else {
    store = createLocalDiskStore({ root: storageDir });
  }

  const env = (extra: Record<string, string> = {}) =>
    childEnv({
      DATABASE_URL: databaseUrl,
      REDIS_URL: TEST_REDIS_URL,
      TRANSMUTE_REDIS_PREFIX: prefix,
      ...storageEnv,
      TRANSMUTE_API_KEY: CLUSTER_API_KEY,
      TRANSMUTE_OUTBOUND_ALLOW: "127.0.0.1/32",
      TRANSMUTE_WORKER_CONCURRENCY: "2",
      LOG_LEVEL: "warn",
      ...opts.env,
      ...extra,
    });

  const sql = async <T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> => (await pool.query<T>(text, params)).rows;

  const waitReady = async (p: ServerProcess, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (p.hasExited()) throw new Error(`${p.name} exited before it was ready:\n${p.output()}`);
      if (await isReady(p)) return;
      if (Date.now() > deadline) throw new Error(`${p.name} not ready after ${timeoutMs} ms:\n${p.output()}`);
      await sleep(100);
    }
  };
  const isReady = async (p: ServerProcess): Promise<boolean> => {
    if (p.url) {
      const res = await fetch(`${p.url}/healthz`).catch(() => null);
      if (!res?.ok) return false;
    }
    if (p.role === "gateway") return true;
    // A worker is ready once it registered (the Worker table exists once migrations ran).
    const rows = await sql("SELECT id FROM \"Worker\" WHERE pid = $1 AND \"stoppedAt\" IS NULL", [p.pid]).catch(() => []);
    return rows.length > 0;
  };

  const cluster: Cluster = {
    databaseName,
    databaseUrl,
    redisUrl: TEST_REDIS_URL,
    prefix,
    storageDir,
    storage,
    store,
    root,
    key: CLUSTER_API_KEY,
    processes,
    env,
    async start(role, startOpts = {}) {
      const name = startOpts.name ?? `${role}-${++count}`;
      const dataDir = join(root, name);
      await mkdir(dataDir, { recursive: true });
      const port = role === "worker" ? null : await freePort();
      const url = port ? `http://127.0.0.1:${port}` : null;
      const vars: Record<string, string> = { TRANSMUTE_DATA_DIR: dataDir, ...(port ? { PORT: String(port), PUBLIC_URL: url! } : {}), ...startOpts.env };
      const spawned = spawnNode(name, [role], env(vars));
      const p: ServerProcess = Object.assign(spawned, { role, url, api: url ? apiClient(url, CLUSTER_API_KEY) : null });
      processes.push(p);
      if (!startOpts.noWait) await waitReady(p);
      return p;
    },
    waitReady,
    sql,
    redis,
    async redisKeys() {
      const keys: string[] = [];
      let cursor = "0";
      do {
        const [next, batch] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
        keys.push(...batch);
        cursor = next;
      } while (cursor !== "0");
      return keys;
    },
    async deleteRedisKeys() {
      const keys = await cluster.redisKeys();
      for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
      return keys.length;
    },
    logs() {
      return processes.map((p) => `----- ${p.name} (pid ${p.pid}, ${p.role}) -----\n${p.output()}`).join("\n");
    },
    async close() {
      await Promise.all(processes.map((p) => p.stop(3000)));
      const orphans = processes.flatMap((p) => p.orphans.map((pid) => `${pid} (of ${p.name})`));
      if (orphans.length > 0) console.error(`cluster: processes outlived their parent and were killed: ${orphans.join(", ")}`);
      await pool.end().catch(() => undefined);
      await cluster.deleteRedisKeys().catch(() => undefined);
      redis.disconnect();
      await adminQuery(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`).catch(() => undefined);
      store.close?.();
      await s3?.close();
      await rm(root, { recursive: true, force: true });
    },
  };
  return cluster;
}

/** Waits `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` until it returns a truthy value; throws `what` after `timeoutMs`. */
export async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
