/**
 * The shared services of the scaled-out run: a fresh Postgres database and a fresh Redis key
 * prefix per run, both removed afterwards (also after a failure).
 */
import { randomBytes } from "node:crypto";
import { Socket } from "node:net";
import pg from "pg";
import { Redis } from "ioredis";

/** Postgres and Redis of this machine; BENCH_DATABASE_URL / BENCH_REDIS_URL override. */
export const ADMIN_DATABASE_URL = process.env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";

function reachable(host, port) {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.setTimeout(1000);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(false));
    socket.connect(port, host);
  });
}

/** null when Postgres and Redis both answer, else why not. */
export async function servicesMissing() {
  const pgUrl = new URL(ADMIN_DATABASE_URL);
  const redisUrl = new URL(REDIS_URL);
  const [pgOk, redisOk] = await Promise.all([
    reachable(pgUrl.hostname, Number(pgUrl.port || 5432)),
    reachable(redisUrl.hostname, Number(redisUrl.port || 6379)),
  ]);
  const missing = [!pgOk && `Postgres at ${pgUrl.host}`, !redisOk && `Redis at ${redisUrl.host}`].filter(Boolean);
  return missing.length === 0 ? null : `${missing.join(" and ")} not reachable`;
}

/** Creates a fresh database `transmute_bench_<random>`; returns its URL and a remover. */
export async function createBenchDatabase() {
  const name = `transmute_bench_${process.pid}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.href,
    async drop() {
      const c = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
      await c.connect();
      try {
        // FORCE ends sessions a killed process may have left open (Postgres 13+).
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        const left = await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
        if (left.rowCount > 0) throw new Error(`database ${name} still exists after DROP`);
      } finally {
        await c.end();
      }
    },
  };
}

/** A fresh Redis prefix; `remove()` deletes every key under it and returns how many. */
export function benchRedisPrefix() {
  const prefix = `transmute_bench_${process.pid}_${randomBytes(4).toString("hex")}`;
  return {
    prefix,
    /** Deletes the prefix's keys; returns how many there were. Throws if any is left. */
    async remove() {
      const keys = await scanKeys(prefix);
      if (keys.length === 0) return 0;
      const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await redis.connect();
      try {
        for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
      } finally {
        redis.disconnect();
      }
      const left = (await scanKeys(prefix)).length;
      if (left > 0) throw new Error(`${left} Redis keys under ${prefix}: still there after deletion`);
      return keys.length;
    },
  };
}

async function scanKeys(prefix) {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    const keys = [];
    let cursor = "0";
    do {
      const [next, batch] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== "0");
    return keys;
  } finally {
    redis.disconnect();
  }
}
