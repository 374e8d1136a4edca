#!/usr/bin/env node
/**
 * `npm run bench`: end-to-end throughput and latency of Transmute's FreeConvert flow, embedded
 * and scaled out, against sharp doing the same conversions directly. Prints figures; no
 * thresholds, exit 0 unless the bench itself could not run. See docs/benchmarks.md.
 *
 * Environment: BENCH_JOBS (jobs per workload, default 48), BENCH_CONCURRENCY (jobs in flight,
 * default 8), BENCH_TINY_JOBS (sequential tiny jobs for the overhead, default 40), BENCH_SKIP_SCALED=1,
 * BENCH_DATABASE_URL / BENCH_REDIS_URL (default the local services), BENCH_JSON (write the
 * results there as JSON; bench/out/ is git-ignored), BENCH_SERVER_NODE_ARGS (extra node flags for the server processes,
 * e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile them), BENCH_COMPOSE_RUNS (jobs of each
 * compose workload, merge 50 JPEGs into a PDF and zip 100 files, default 5), BENCH_SKIP_ENGINES=1 (skip the
 * LibreOffice, poppler and ffmpeg engine benches, bench/lib/engines.mjs), BENCH_S3_MIB (size of
 * the S3 file store's transfer, bench/lib/storage.mjs, default 512).
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { runBaseline } from "./lib/baseline.mjs";
import { runJob } from "./lib/client.mjs";
import { MERGE_IMAGES, ZIP_FILES, mergeDirect, mergeThroughApi, zipDirect, zipThroughApi } from "./lib/compose.mjs";
import { reportEngineBenches, runEngineBenches } from "./lib/engines.mjs";
import { benchStorage, reportStorage, startS3rverProcess } from "./lib/storage.mjs";
import { makeInputs } from "./lib/images.mjs";
import { descendants, procAvailable, servicesCpuByPid, servicesCpuDelta, splitCpuSeconds, systemCpuSeconds } from "./lib/procstat.mjs";
import { freePort, live, startServer, stopAll } from "./lib/server.mjs";
import { REDIS_URL, benchRedisPrefix, createBenchDatabase, servicesMissing } from "./lib/services.mjs";
import { fmt, percentile, runPool, summary, table } from "./lib/stats.mjs";

const intEnv = (name, dflt, min = 1) => {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    console.error(`${name} must be an integer >= ${min}, not "${raw}"`);
    process.exit(2);
  }
  return n;
};

const JOBS = intEnv("BENCH_JOBS", 48);
const INFLIGHT = intEnv("BENCH_CONCURRENCY", 8);
const TINY_JOBS = intEnv("BENCH_TINY_JOBS", 40, 2);
const COMPOSE_RUNS = intEnv("BENCH_COMPOSE_RUNS", 5);
const SKIP_SCALED = process.env.BENCH_SKIP_SCALED === "1";
const SKIP_ENGINES = process.env.BENCH_SKIP_ENGINES === "1";
const BENCH_S3_MIB = intEnv("BENCH_S3_MIB", 512);
const CORES = os.availableParallelism();
/**
 * The throughput workloads: BENCH_JOBS jobs each, BENCH_CONCURRENCY in flight; the baseline does
 * the same conversions with one in flight per core. "tiny" shows the ceiling set by the fixed
 * cost of a job when the conversion itself is almost free.
 */
const WORKLOADS = [
  { id: "webp", label: "jpg 1155x866 -> webp", input: "photo", to: "webp" },
  { id: "png", label: "jpg 1155x866 -> png", input: "photo", to: "png" },
  { id: "tiny", label: "png 16x16 -> png", input: "tiny", to: "png" },
];

const log = (...args) => console.log(...args);

/** Cleanups run in reverse order at the end, on failure and on SIGINT/SIGTERM. */
const cleanups = [];
/** What each cleanup step did, for the last line of the output. */
const cleanupReport = [];
let cleaning = null;
let interrupted = false;
function cleanup() {
  cleaning ??= (async () => {
    await stopAll().catch((err) => console.error("stopping processes failed:", err));
    for (const fn of cleanups.reverse()) {
      try {
        const done = await fn();
        if (typeof done === "string") cleanupReport.push(done);
      } catch (err) {
        console.error("cleanup step failed:", err?.message ?? err);
        cleanupReport.push(`FAILED: ${err?.message ?? err}`);
      }
    }
    cleanups.length = 0;
  })();
  return cleaning;
}
// `npm run bench | head` closes stdout early: keep going so the cleanup still runs.
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => undefined);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(signal, () => {
    interrupted = true;
    console.error(`\n${signal}: cleaning up...`);
    void cleanup().finally(() => process.exit(130));
  });
}
// Last resort if something exits the process abruptly: no server outlives the bench.
process.on("exit", () => {
  for (const entry of live) {
    try {
      entry.proc.kill("SIGKILL");
    } catch {
      // Gone.
    }
  }
});

/**
 * CPU readings: this process (the load generator), each server process and its pool children,
 * in the scaled mode the Postgres backends of the bench database and Redis, and the machine.
 */
function cpuSnapshot(servers, dbName) {
  const self = process.cpuUsage();
  const sys = systemCpuSeconds();
  return {
    at: performance.now(),
    loadgen: (self.user + self.system) / 1e6,
    servers: servers.map((s) => ({ label: s.label, ...splitCpuSeconds(s.pid) })),
    services: dbName ? servicesCpuByPid(dbName) : null,
    busy: sys.busy,
    steal: sys.steal,
  };
}

function cpuDelta(a, b) {
  const wall = (b.at - a.at) / 1000;
  const loadgen = b.loadgen - a.loadgen;
  const perServer = b.servers.map((s, i) => ({ label: s.label, self: s.self - a.servers[i].self, children: s.children - a.servers[i].children }));
  const main = perServer.reduce((sum, s) => sum + s.self, 0);
  const pool = perServer.reduce((sum, s) => sum + s.children, 0);
  const server = main + pool;
  const services = a.services && b.services ? servicesCpuDelta(a.services, b.services) : 0;
  const busy = b.busy - a.busy;
  return { wall, loadgen, server, main, pool, perServer, services, busy, steal: b.steal - a.steal, other: Math.max(0, busy - loadgen - server - services) };
}

/** Runs `n` jobs of input -> format with `inflight` at once against a running server. */
async function measureJobs({ base, key, servers, dbName, input, format, n, inflight }) {
  const before = cpuSnapshot(servers, dbName);
  const { results, wallMs } = await runPool(n, inflight, () => runJob(base, key, input, format));
  const after = cpuSnapshot(servers, dbName);
  const cpu = cpuDelta(before, after);
  const med = (pick) => percentile(results.map(pick), 50);
  return {
    n,
    inflight,
    wallSeconds: wallMs / 1000,
    jobsPerSecond: n / (wallMs / 1000),
    latency: summary(results.map((r) => r.total)),
    outputBytes: med((r) => r.outputBytes),
    phases: {
      create: med((r) => r.create),
      upload: med((r) => r.upload),
      wait: med((r) => r.wait),
      download: med((r) => r.download),
      convertQueued: med((r) => r.server.convertQueued),
      convertRun: med((r) => r.server.convertRun),
      exportQueued: med((r) => r.server.exportQueued),
      exportRun: med((r) => r.server.exportRun),
      jobEnd: med((r) => r.server.jobEnd),
    },
    cpu,
  };
}

/** The throughput and latency workloads against one deployment (embedded or scaled). */
async function benchDeployment({ mode, base, key, servers, dbName, inputs, remember }) {
  const out = { mode, workloads: {}, latency: null };
  // Warm-up, not measured: pool children fork and load sharp, code paths get compiled.
  log(`  warming up (${INFLIGHT} jobs per workload)...`);
  for (const w of WORKLOADS) await runPool(INFLIGHT, INFLIGHT, () => runJob(base, key, inputs[w.input], w.to));
  remember();
  for (const w of WORKLOADS) {
    const r = await measureJobs({ base, key, servers, dbName, input: inputs[w.input], format: w.to, n: JOBS, inflight: INFLIGHT });
    out.workloads[w.id] = r;
    log(
      `  ${w.label}: ${JOBS} jobs, ${INFLIGHT} in flight: ${fmt(r.jobsPerSecond, 2)} jobs/s, ` +
        `p50 ${fmt(r.latency.p50, 0)} ms, p95 ${fmt(r.latency.p95, 0)} ms, p99 ${fmt(r.latency.p99, 0)} ms; ` +
        `CPU s: server ${fmt(r.cpu.server, 2)}, load generator ${fmt(r.cpu.loadgen, 2)}${dbName ? `, pg+redis ${fmt(r.cpu.services, 2)}` : ""}, other ${fmt(r.cpu.other, 2)} (of ${fmt(r.cpu.wall * CORES, 1)} available)`,
    );
  }
  const seq = await measureJobs({ base, key, servers, dbName, input: inputs.tiny, format: "png", n: TINY_JOBS, inflight: 1 });
  out.latency = seq;
  log(`  png 16x16 -> png, 1 in flight: p50 ${fmt(seq.latency.p50, 1)} ms, p99 ${fmt(seq.latency.p99, 1)} ms`);
  out.compose = await benchCompose(base, key, inputs);
  remember();
  return out;
}

/** The compose workloads through the API, one job in flight (a warm-up job of each first, not measured). */
async function benchCompose(base, key, inputs) {
  await mergeThroughApi(base, key, inputs.photo, 1);
  await zipThroughApi(base, key, 1);
  const merge = await mergeThroughApi(base, key, inputs.photo, COMPOSE_RUNS);
  const zip = await zipThroughApi(base, key, COMPOSE_RUNS);
  const describe = (runs) => ({ total: summary(runs.map((r) => r.total)), run: summary(runs.map((r) => r.run)), outputBytes: runs[0].outputBytes });
  const out = { merge: describe(merge), zip: describe(zip) };
  log(`  merge ${MERGE_IMAGES} jpg -> pdf, ${COMPOSE_RUNS} jobs: p50 ${fmt(out.merge.total.p50, 0)} ms end to end, merge task ${fmt(out.merge.run.p50, 0)} ms`);
  log(`  zip ${ZIP_FILES} files, ${COMPOSE_RUNS} jobs: p50 ${fmt(out.zip.total.p50, 0)} ms end to end, export task ${fmt(out.zip.run.p50, 0)} ms`);
  return out;
}

async function runEmbedded(inputs, tmp) {
  const dataDir = join(tmp, "embedded");
  await mkdir(dataDir);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = await startServer({
    role: "all",
    label: "embedded server",
    env: { TRANSMUTE_DATA_DIR: dataDir, PORT: String(port), HOST: "127.0.0.1", PUBLIC_URL: base },
  });
  try {
    const key = (await readFile(join(dataDir, "api-key"), "utf8")).trim();
    log(`  server pid ${server.pid} on ${base}; key read from <dataDir>/api-key`);
    return await benchDeployment({ mode: "embedded", base, key, servers: [server], inputs, remember: server.remember });
  } finally {
    await server.stop();
  }
}

/** The scaled-out workloads with the files in a shared directory (`local`) or an S3 bucket on an s3rver process (`s3`). */
async function runScaled(inputs, tmp, storage = "local") {
  const db = await createBenchDatabase();
  cleanups.push(async () => {
    await db.drop();
    return `database ${db.name} dropped`;
  });
  const redis = benchRedisPrefix();
  cleanups.push(async () => `${await redis.remove()} Redis keys under ${redis.prefix} deleted`);
  log(`  database ${db.name}, Redis prefix ${redis.prefix}`);
  const shared = join(tmp, `scaled-${storage}`);
  await mkdir(join(shared, "files"), { recursive: true });
  let storageEnv = { TRANSMUTE_STORAGE_DIR: join(shared, "files") };
  if (storage === "s3") {
    await mkdir(join(shared, "s3rver"), { recursive: true });
    const s3 = await startS3rverProcess(join(shared, "s3rver"), "bench");
    cleanups.push(async () => {
      await s3.stop();
      return `s3rver (pid ${s3.pid}) stopped`;
    });
    log(`  s3rver pid ${s3.pid} on ${s3.endpoint}`);
    storageEnv = {
      TRANSMUTE_STORAGE: "s3",
      TRANSMUTE_S3_ENDPOINT: s3.endpoint,
      TRANSMUTE_S3_BUCKET: "bench",
      TRANSMUTE_S3_ACCESS_KEY_ID: "S3RVER",
      TRANSMUTE_S3_SECRET_ACCESS_KEY: "S3RVER",
    };
  }
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const key = `bench-${randomBytes(16).toString("hex")}`;
  const common = {
    DATABASE_URL: db.url,
    REDIS_URL: REDIS_URL,
    TRANSMUTE_REDIS_PREFIX: redis.prefix,
    ...storageEnv,
    TRANSMUTE_API_KEY: key,
    TRANSMUTE_SECRET: randomBytes(24).toString("hex"),
    PUBLIC_URL: base,
  };
  // The gateway first: it applies the migrations; then the worker registers its engines.
  const gateway = await startServer({
    role: "gateway",
    label: "gateway",
    env: { ...common, TRANSMUTE_DATA_DIR: join(shared, "gateway"), PORT: String(port), HOST: "127.0.0.1" },
  });
  const stops = [gateway];
  try {
    const worker = await startServer({ role: "worker", label: "worker", env: { ...common, TRANSMUTE_DATA_DIR: join(shared, "worker") } });
    stops.push(worker);
    log(`  gateway pid ${gateway.pid} on ${base}, worker pid ${worker.pid}`);
    const remember = () => {
      gateway.remember();
      worker.remember();
    };
    return await benchDeployment({ mode: storage === "s3" ? "scaled-s3" : "scaled", base, key, servers: [gateway, worker], dbName: db.name, inputs, remember });
  } finally {
    for (const s of stops.reverse()) await s.stop();
  }
}

/** The baseline: each workload's conversion by sharp in this process, then the sequential tiny one. */
async function runBaselines(inputs, dir) {
  const baseline = { workloads: {}, latency: null };
  for (const w of WORKLOADS) {
    const sys0 = systemCpuSeconds();
    const r = await runBaseline({ input: inputs[w.input], to: w.to, n: JOBS, concurrency: CORES, dir });
    const sys1 = systemCpuSeconds();
    const other = Math.max(0, sys1.busy - sys0.busy - r.cpuSeconds);
    const b = { ...r, jobsPerSecond: JOBS / (r.wallMs / 1000), latency: summary(r.times), cpuMsPerJob: (r.cpuSeconds / JOBS) * 1000, other };
    baseline.workloads[w.id] = b;
    log(`  ${w.label}: ${fmt(b.jobsPerSecond, 2)} conversions/s, ${fmt(b.cpuMsPerJob, 1)} ms CPU each; other CPU on the machine ${fmt(other, 2)} s of ${fmt((r.wallMs / 1000) * CORES, 1)}`);
  }
  const seq = await runBaseline({ input: inputs.tiny, to: "png", n: TINY_JOBS, concurrency: 1, dir });
  baseline.latency = { latency: summary(seq.times), cpuMsPerJob: (seq.cpuSeconds / TINY_JOBS) * 1000 };
  log(`  png 16x16 -> png, 1 in flight: p50 ${fmt(baseline.latency.latency.p50, 2)} ms, p99 ${fmt(baseline.latency.latency.p99, 2)} ms`);
  return baseline;
}

async function main() {
  if (!procAvailable()) throw new Error("this bench reads CPU times from /proc: it runs on Linux only");
  const started = new Date();
  log(`Transmute bench — ${started.toISOString()}`);
  log(`machine: ${CORES} cores (${os.cpus()[0]?.model ?? "?"}), ${fmt(os.totalmem() / 2 ** 30, 0)} GiB, Node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  log(`settings: BENCH_JOBS=${JOBS}, BENCH_CONCURRENCY=${INFLIGHT}, BENCH_TINY_JOBS=${TINY_JOBS}`);

  const tmp = await mkdtemp(join(os.tmpdir(), "transmute-bench-"));
  cleanups.push(async () => {
    await rm(tmp, { recursive: true, force: true });
    if (existsSync(tmp)) throw new Error(`${tmp} is still there`);
    return "temp dir removed";
  });

  const inputs = await makeInputs();
  log(`inputs: ${inputs.photo.name} ${inputs.photo.width}x${inputs.photo.height} ${fmt(inputs.photo.bytes.length / 1024, 0)} kB; ${inputs.tiny.name} 16x16 ${inputs.tiny.bytes.length} B`);

  // Baseline first, with nothing else of ours running.
  log(`\n[baseline] sharp in this process, ${CORES} in flight (one per core, as the server's pool)`);
  const baseDir = join(tmp, "baseline");
  await mkdir(baseDir);
  const baseline = await runBaselines(inputs, baseDir);
  const merged = await mergeDirect(inputs.photo, COMPOSE_RUNS);
  const zipped = await zipDirect(baseDir, COMPOSE_RUNS);
  baseline.compose = {
    merge: { latency: summary(merged.times), outputBytes: merged.outputBytes },
    zip: { latency: summary(zipped.times), outputBytes: zipped.outputBytes },
  };
  log(`  pdf-lib: ${MERGE_IMAGES} jpg -> pdf p50 ${fmt(baseline.compose.merge.latency.p50, 0)} ms; archiver: ${ZIP_FILES} files -> zip p50 ${fmt(baseline.compose.zip.latency.p50, 0)} ms`);

  const runs = [];
  log(`\n[embedded] one process: gateway + worker (PGlite, in-process queue), pool of ${CORES}`);
  runs.push(await runEmbedded(inputs, tmp));

  const scaledSkipped = SKIP_SCALED ? "BENCH_SKIP_SCALED=1" : await servicesMissing();
  if (scaledSkipped) {
    log(`\n[scaled] SKIPPED: ${scaledSkipped}`);
  } else {
    log(`\n[scaled] gateway process + worker process (Postgres, Redis/BullMQ), shared storage dir, pool of ${CORES}`);
    runs.push(await runScaled(inputs, tmp));
    log(`\n[scaled-s3] the same, with the files in an S3 bucket (s3rver in a process of its own, on the same cores)`);
    runs.push(await runScaled(inputs, tmp, "s3"));
  }

  // The external engines last, with no server of ours running beside them.
  let engines = null;
  if (!SKIP_ENGINES) {
    log("\n[engines] LibreOffice, poppler and ffmpeg through their engines, and from the shell");
    engines = await runEngineBenches({ log });
  }

  log(`\n[storage] the S3 file store: one ${BENCH_S3_MIB} MiB object put and read back`);
  const storage = await benchStorage({ mib: BENCH_S3_MIB });

  report({ baseline, runs, scaledSkipped, inputs });
  if (engines) reportEngineBenches(engines, log);
  else log("\nengines: SKIPPED (BENCH_SKIP_ENGINES=1)");
  reportStorage(storage, log);
  if (process.env.BENCH_JSON) {
    const json = { started, cores: CORES, jobs: JOBS, inflight: INFLIGHT, tinyJobs: TINY_JOBS, composeRuns: COMPOSE_RUNS, baseline, runs, scaledSkipped, engines, storage };
    await mkdir(dirname(resolve(process.env.BENCH_JSON)), { recursive: true });
    await writeFile(process.env.BENCH_JSON, JSON.stringify(json, null, 2));
    log(`results written to ${process.env.BENCH_JSON}`);
  }
}

/** Jobs per second with the load generator's CPU seconds handed back to the server. */
function correctedJobsPerSecond(r) {
  return r.n / (r.wallSeconds - r.cpu.loadgen / CORES);
}

function report({ baseline, runs, scaledSkipped, inputs }) {
  log("\n=== Results ===");
  log(`Throughput: ${JOBS} jobs per workload end to end (create, upload, wait, download + check), ${INFLIGHT} in flight;`);
  log(`sharp/s: the same conversion by sharp directly, ${CORES} in flight (one per core, as the server's pool).`);
  const rows = [];
  for (const run of runs) {
    for (const w of WORKLOADS) {
      const r = run.workloads[w.id];
      const b = baseline.workloads[w.id];
      rows.push([
        `${run.mode} ${w.id}`,
        fmt(r.jobsPerSecond, 2),
        fmt(r.latency.p50, 0),
        fmt(r.latency.p95, 0),
        fmt(r.latency.p99, 0),
        fmt(b.jobsPerSecond, 2),
        fmt(r.jobsPerSecond / b.jobsPerSecond, 3),
        fmt(correctedJobsPerSecond(r) / b.jobsPerSecond, 3),
        fmt(b.cpuMsPerJob / (((r.cpu.server + r.cpu.services) / r.n) * 1000), 3),
      ]);
    }
  }
  log(table(["workload", "jobs/s", "p50 ms", "p95 ms", "p99 ms", "sharp/s", "ratio", "ratio corr", "CPU ratio"], rows));
  log(
    `workloads: webp = ${WORKLOADS[0].label}, png = ${WORKLOADS[1].label}, tiny = ${WORKLOADS[2].label}.\n` +
      `ratio      = server jobs/s / sharp conversions/s.\n` +
      `ratio corr = the same with the load generator's CPU taken out of the server's run:\n` +
      `             corrected jobs/s = jobs / (wall - loadgen_cpu / cores)\n` +
      `             i.e. the wall time had the load generator's CPU seconds gone to the server instead\n` +
      `             (exact when the run is CPU-bound on all ${CORES} cores; an upper bound otherwise).\n` +
      `CPU ratio  = sharp CPU per conversion / server CPU per job (Transmute processes, pool children and, scaled,\n` +
      `             Postgres + Redis): the ratio a CPU-bound server would reach on cores of its own. Unlike the\n` +
      `             wall-clock ratios it hardly moves when other tenants load the machine.`,
  );
  const noisy = [];
  for (const w of WORKLOADS) {
    const b = baseline.workloads[w.id];
    if (b.other > 0.1 * (b.wallMs / 1000) * CORES) noisy.push(`sharp ${w.id}`);
  }
  for (const run of runs) {
    for (const [name, r] of [...WORKLOADS.map((w) => [w.id, run.workloads[w.id]]), ["sequential", run.latency]]) {
      if (r.cpu.other > 0.1 * r.cpu.wall * CORES) noisy.push(`${run.mode} ${name}`);
    }
  }
  if (noisy.length > 0) {
    log(
      `WARNING: other processes used more than 10% of the machine's CPU during: ${noisy.join(", ")}\n` +
        `(column "other" below). Their wall-clock figures (jobs/s, latencies, ratio, ratio corr) suffer; compare CPU ratios.`,
    );
  }

  log("\nCPU over each measured run (seconds; from process.cpuUsage() and /proc/<pid>/stat utime+stime):");
  const crow = [];
  for (const w of WORKLOADS) {
    const b = baseline.workloads[w.id];
    crow.push([`sharp ${w.id}`, fmt(b.wallMs / 1000, 2), fmt((b.wallMs / 1000) * CORES, 2), fmt(b.cpuSeconds, 2), "-", "-", "-", "-", fmt(b.other, 2), "-", "-", "-", "-", fmt(b.cpuMsPerJob, 1)]);
  }
  const cpuRow = (label, r, sharpMs) => {
    const c = r.cpu;
    const scaled = c.perServer.length > 1;
    return [
      label,
      fmt(c.wall, 2),
      fmt(c.wall * CORES, 2),
      fmt(c.loadgen, 2),
      c.perServer.map((s) => fmt(s.self, 2)).join(" + "),
      c.perServer.map((s) => fmt(s.self / c.wall, 2)).join(" + "),
      fmt(c.pool, 2),
      scaled ? fmt(c.services, 2) : "-",
      fmt(c.other, 2),
      fmt(((c.server + c.services) / r.n) * 1000, 0),
      fmt((c.main / r.n) * 1000, 0),
      fmt((c.pool / r.n) * 1000, 0),
      scaled ? fmt((c.services / r.n) * 1000, 0) : "-",
      fmt(sharpMs, 1),
    ];
  };
  for (const run of runs) {
    for (const w of WORKLOADS) crow.push(cpuRow(`${run.mode} ${w.id}`, run.workloads[w.id], baseline.workloads[w.id].cpuMsPerJob));
    crow.push(cpuRow(`${run.mode} sequential`, run.latency, baseline.latency.cpuMsPerJob));
  }
  log(table(["workload", "wall", "CPU avail", "load gen", "server main", "main cores", "pool children", "pg+redis", "other", "ms/job total", "main", "pool", "pg+redis", "sharp ms/job"], crow));
  log(
    `server main = the Transmute process(es) themselves (embedded: one; scaled: gateway + worker).\n` +
      `main cores  = server main per second of wall time; it counts the GC and libuv threads too, so it can pass 1.0.\n` +
      `              Near 1.0, that process's event loop is the bottleneck.\n` +
      `pool children = the sharp processes the worker forks. For the sharp rows, "load gen" is the bench process\n` +
      `              doing the conversions.\n` +
      `pg+redis    = scaled mode: the Postgres backends serving the bench database, and Redis (shared with its other users).\n` +
      `other       = machine busy time (/proc/stat) accounted to none of these: other tenants of the machine, i.e. noise.\n` +
      `ms/job total = (server main + pool children + pg+redis) / jobs, then each part per job; sharp = the baseline's.`,
  );

  log("\nWhere a job's time goes (medians, ms). Client: create / upload / wait / download. Server, from task timestamps:");
  log("queued = upload ended -> convert started; run = convert started -> ended; hop = convert ended -> export started.");
  const prow = [];
  const phaseRow = (label, r, sharpMs, d) => {
    const p = r.phases;
    return [label, fmt(p.create, d), fmt(p.upload, d), fmt(p.wait, d), fmt(p.download, d), fmt(p.convertQueued, 0), fmt(p.convertRun, 0), fmt(p.exportQueued, 0), fmt(p.exportRun, 0), fmt(p.jobEnd, 0), fmt(sharpMs, d)];
  };
  for (const run of runs) {
    for (const w of WORKLOADS) prow.push(phaseRow(`${run.mode} ${w.id}`, run.workloads[w.id], baseline.workloads[w.id].latency.p50, 0));
    prow.push(phaseRow(`${run.mode} sequential`, run.latency, baseline.latency.latency.p50, 1));
  }
  log(table(["workload", "create", "upload", "wait", "download", "queued", "run", "hop", "export run", "export->job end", "sharp alone"], prow));

  log(`\nPer-job overhead: png 16x16 -> png, import/upload -> convert -> export/url, 1 in flight, ${TINY_JOBS} jobs.`);
  const orow = [];
  const bt = baseline.latency.latency;
  orow.push(["sharp directly", fmt(bt.p50, 2), fmt(bt.p99, 2), "-", "-"]);
  for (const run of runs) {
    const l = run.latency.latency;
    orow.push([`${run.mode} job`, fmt(l.p50, 1), fmt(l.p99, 1), fmt(l.p50 - bt.p50, 1), fmt(l.p99 - bt.p99, 1)]);
  }
  log(table(["", "p50 ms", "p99 ms", "overhead p50", "overhead p99"], orow));
  log("overhead = job wall time (create, upload, wait, download) - the same conversion's time by sharp directly.");

  log(`\nCompose: one job at a time, ${COMPOSE_RUNS} jobs each, medians (ms). merge = ${MERGE_IMAGES} JPEGs (${inputs.photo.width}x${inputs.photo.height}) -> one PDF;`);
  log(`zip = ${ZIP_FILES} text files of 4-12 KiB -> one zip. Direct = pdf-lib / archiver in the bench process, the same calls as the server's.`);
  const crows = [];
  const bc = baseline.compose;
  crows.push(["direct (pdf-lib, archiver)", fmt(bc.merge.latency.p50, 0), "-", fmt(bc.merge.outputBytes / 1024, 0), fmt(bc.zip.latency.p50, 0), "-", fmt(bc.zip.outputBytes / 1024, 0)]);
  for (const run of runs) {
    const c = run.compose;
    crows.push([`${run.mode} job`, fmt(c.merge.run.p50, 0), fmt(c.merge.total.p50, 0), fmt(c.merge.outputBytes / 1024, 0), fmt(c.zip.run.p50, 0), fmt(c.zip.total.p50, 0), fmt(c.zip.outputBytes / 1024, 0)]);
  }
  log(table(["", "merge task", "merge job", "pdf kB", "zip task", "zip job", "zip kB"], crows));
  log(
    "task = the merge (or export) task's own run time from its timestamps: claim, materialize inputs, the work, store the output.\n" +
      "job  = the client's wall time: create the job (with every input base64 in its body), wait, download the output.",
  );
  if (scaledSkipped) log(`\nscaled mode: SKIPPED (${scaledSkipped})`);
}

let code = 0;
try {
  await main();
} catch (err) {
  // After SIGINT the servers are being stopped under the running jobs: their errors are expected.
  if (!interrupted) console.error("\nbench failed:", err?.stack ?? err);
  code = 1;
} finally {
  await cleanup();
  // Nothing of ours may be left running: check for any descendant of this process.
  const leftovers = descendants([process.pid]).filter((p) => p.pid !== process.pid);
  if (leftovers.length > 0) {
    console.error(`warning: processes still running: ${leftovers.map((p) => p.pid).join(", ")}`);
    code ||= 1;
  }
  log(`\ncleanup: ${cleanupReport.join("; ") || "nothing to clean"}${leftovers.length ? "" : "; no process left"}.`);
}
process.exit(code);
