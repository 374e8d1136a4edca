/**
 * The shared services of the scaled-out tests. Without them the scaled-out tests are skipped
 * with a loud notice; with CI=true a missing service fails the run instead.
 */
import { Socket } from "node:net";

/** Postgres of the test machine (trust auth). */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
/** Redis of the test machine. */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

function reachable(host: string, port: number): Promise<boolean> {
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

/** Whether Postgres and Redis answer; fails (throws) under CI when they do not. */
export async function servicesAvailable(): Promise<boolean> {
  const pg = new URL(TEST_DATABASE_URL);
  const redis = new URL(TEST_REDIS_URL);
  const [pgOk, redisOk] = await Promise.all([reachable(pg.hostname, Number(pg.port || 5432)), reachable(redis.hostname, Number(redis.port || 6379))]);
  if (pgOk && redisOk) return true;
  const missing = [!pgOk && `Postgres (${pg.host})`, !redisOk && `Redis (${redis.host})`].filter(Boolean).join(" and ");
  if (process.env.CI === "true") throw new Error(`CI=true and ${missing} not reachable: the scaled-out tests cannot run.`);
  console.warn(`\n!!! ${missing} not reachable: SKIPPING the scaled-out tests. Start the services to run them (CI=true makes this an error).\n`);
  return false;
}
