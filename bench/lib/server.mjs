/**
 * Transmute processes for the bench: `node apps/server/dist/main.js <role>` spawned as separate
 * OS processes with a controlled environment, waited for until they print their banner, and
 * stopped with SIGTERM (SIGKILL after a grace period), along with anything they left behind.
 */
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { descendants, stillAlive } from "./procstat.mjs";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const MAIN = join(ROOT, "apps", "server", "dist", "main.js");

/** A free TCP port on loopback. */
export async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** This process's environment without any setting Transmute reads, plus `env`. */
export function serverEnv(env) {
  const base = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith("TRANSMUTE_") || ["DATABASE_URL", "REDIS_URL", "PORT", "HOST", "PUBLIC_URL", "LOG_LEVEL"].includes(k)) continue;
    base[k] = v;
  }
  return { ...base, LOG_LEVEL: "warn", ...env };
}

/** Every process the bench started and has not yet seen stop, for cleanup on any exit path. */
export const live = new Set();

/**
 * Starts `transmute <role>` and resolves once it printed its banner ("... running the ...").
 * Rejects with the output tail if it exits or stays silent for `timeoutMs`.
 */
export async function startServer({ role = "all", env, label = role, timeoutMs = 60_000 }) {
  // For profiling the servers, e.g. BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
  const proc = spawn(process.execPath, [...nodeArgs, MAIN, role], { cwd: ROOT, env: serverEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  const entry = { proc, label, tail: "", known: new Map() };
  live.add(entry);
  const keep = (chunk) => {
    entry.tail = (entry.tail + chunk).slice(-8000);
  };
  proc.stdout.setEncoding("utf8");
  proc.stderr.setEncoding("utf8");
  proc.stderr.on("data", keep);
  const exited = new Promise((resolve) => proc.once("exit", (code, signal) => resolve({ code, signal })));
  entry.exited = exited;
  exited.then(() => live.delete(entry));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label} did not start within ${timeoutMs / 1000} s:\n${entry.tail}`)), timeoutMs);
    const onData = (chunk) => {
      keep(chunk);
      if (/running the /.test(entry.tail)) {
        clearTimeout(timer);
        proc.stdout.off("data", onData);
        // Keep draining stdout so the child never blocks on a full pipe.
        proc.stdout.on("data", keep);
        resolve();
      }
    };
    proc.stdout.on("data", onData);
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited (${signal ?? code}) before it was ready:\n${entry.tail}`));
    });
  });
  return {
    pid: proc.pid,
    label,
    output: () => entry.tail,
    /** Remembers the current descendants (pool children) so stop() can make sure they are gone. */
    remember: () => remember(entry),
    stop: () => stopEntry(entry),
  };
}

function remember(entry) {
  for (const p of descendants([entry.proc.pid])) entry.known.set(`${p.pid}:${p.starttime}`, p);
}

/** SIGTERM, then SIGKILL after `graceMs`; then SIGKILL any remembered descendant still alive. */
export async function stopEntry(entry, graceMs = 15_000) {
  const { proc } = entry;
  remember(entry);
  if (proc.exitCode === null && proc.signalCode === null) {
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
    await entry.exited;
    clearTimeout(timer);
  }
  // Pool children run in their own process groups: they must not outlive a killed parent.
  for (const p of entry.known.values()) {
    if (p.pid === proc.pid || !stillAlive(p)) continue;
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  live.delete(entry);
}

/** Stops every process still running (used on failure and on signals). */
export async function stopAll() {
  await Promise.all([...live].map((entry) => stopEntry(entry, 5_000)));
}
