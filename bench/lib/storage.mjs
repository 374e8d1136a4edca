/**
 * The S3 file store: throughput of a put (multipart) and a get of one large object, and the
 * peak memory of the process doing them, against s3rver on loopback. The transfer runs in a
 * child node process of its own, so its peak (VmHWM) is the driver's and not the bench's or
 * s3rver's; a second child that only loads the driver gives the floor to compare with. s3rver
 * is a JavaScript server writing to the local disk: the MB/s are its bound as much as ours.
 */
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import S3rver from "s3rver";

const run = promisify(execFile);
const STORE_URL = new URL("../../packages/storage/dist/index.js", import.meta.url).href;
const MIB = 1024 * 1024;

/** The child's script: put `mib` MiB from a generator (never whole in memory), read it back, report. */
function transferScript(endpoint, mib, loadOnly) {
  return `const { createS3Store } = await import(${JSON.stringify(STORE_URL)});
const { Readable } = await import("node:stream");
const { createHash } = await import("node:crypto");
const { readFileSync } = await import("node:fs");
const hwm = () => Number(/VmHWM:\\s+(\\d+)/.exec(readFileSync("/proc/self/status", "utf8"))[1]) / 1024;
const store = createS3Store({ endpoint: ${JSON.stringify(endpoint)}, region: "us-east-1", bucket: "bench", accessKeyId: "S3RVER", secretAccessKey: "S3RVER" });
if (${loadOnly}) { await store.probe(); store.close(); console.log(JSON.stringify({ peakMb: hwm() })); process.exit(0); }
const chunk = Buffer.alloc(${MIB});
for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 131) % 251;
async function* body() { for (let i = 0; i < ${mib}; i++) { chunk[0] = i % 256; yield Buffer.from(chunk); } }
let t = performance.now();
const put = await store.put("bench/large", Readable.from(body()));
const putSeconds = (performance.now() - t) / 1000;
t = performance.now();
const hash = createHash("sha256");
for await (const part of await store.get("bench/large")) hash.update(part);
const getSeconds = (performance.now() - t) / 1000;
if (hash.digest("hex") !== put.sha256) throw new Error("the object read back differs from what was put");
await store.delete("bench/large");
store.close();
console.log(JSON.stringify({ size: put.size, putSeconds, getSeconds, peakMb: hwm() }));`;
}

async function child(script) {
  const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], {
    maxBuffer: 1 << 20,
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
  });
  return JSON.parse(stdout.trim().split("\n").pop());
}

/** Puts and gets a `mib`-MiB object through the S3 driver; MB/s both ways and peak RSS (MB) against the driver's floor. */
export async function benchStorage({ mib = 512 } = {}) {
  const directory = await mkdtemp(join(tmpdir(), "transmute-bench-s3-"));
  const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory, configureBuckets: [{ name: "bench" }] });
  const address = await server.run();
  const endpoint = `http://127.0.0.1:${address.port}`;
  try {
    const floor = await child(transferScript(endpoint, mib, true));
    const out = await child(transferScript(endpoint, mib, false));
    return {
      mib,
      putMBps: out.size / MIB / out.putSeconds,
      getMBps: out.size / MIB / out.getSeconds,
      peakMb: out.peakMb,
      floorMb: floor.peakMb,
    };
  } finally {
    server.httpServer?.closeAllConnections?.();
    await server.close();
    await rm(directory, { recursive: true, force: true });
  }
}

/** Prints the figures of benchStorage. */
export function reportStorage(r, log) {
  log(`\nS3 file store (s3rver on loopback, one ${r.mib} MiB object, 8 MiB parts):`);
  log(`  put ${r.putMBps.toFixed(1)} MB/s, get ${r.getMBps.toFixed(1)} MB/s`);
  log(`  peak RSS of the process doing both: ${Math.round(r.peakMb)} MB (${Math.round(r.floorMb)} MB with the driver loaded and idle): ${Math.round(r.peakMb - r.floorMb)} MB for a ${r.mib} MiB transfer`);
}

/**
 * Starts s3rver in a child process (bench/lib/s3rver-process.mjs) with `bucket` in `directory`;
 * returns its endpoint and how to stop it. The legacy OpenSSL provider: s3rver pages listings
 * with DES tokens.
 */
export async function startS3rverProcess(directory, bucket) {
  const script = new URL("./s3rver-process.mjs", import.meta.url).pathname;
  const child = spawn(process.execPath, ["--openssl-legacy-provider", script, directory, bucket], { stdio: ["ignore", "pipe", "inherit"] });
  let buffered = "";
  const port = await new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`s3rver exited with ${code} before it listened`)));
    child.stdout.on("data", (chunk) => {
      buffered += chunk;
      const line = buffered.split("\n")[0];
      if (buffered.includes("\n")) resolve(JSON.parse(line).port);
    });
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    pid: child.pid,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      await once(child, "exit");
    },
  };
}

