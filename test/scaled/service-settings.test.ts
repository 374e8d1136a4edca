/**
 * `start:gateway` and `start:worker` run one role of the scaled-out mode: without DATABASE_URL
 * and REDIS_URL (or with only one of them) they exit non-zero before connecting anywhere, with a
 * message naming the variables. Needs no services: the check comes before any connection.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT, childEnv, runNode } from "../support/cluster.js";

// Never reached: the configuration is refused before any connection is made.
const DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/transmute_test_never_created";
const REDIS_URL = "redis://127.0.0.1:6379";

describe("scaled-out roles without their services", () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "transmute-roles-"));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it("are what the npm scripts start:gateway and start:worker run", async () => {
    const scripts = JSON.parse(await readFile(join(REPO_ROOT, "package.json"), "utf8")).scripts as Record<string, string>;
    expect(scripts["start:gateway"]).toMatch(/&& node apps\/server\/dist\/main\.js gateway$/);
    expect(scripts["start:worker"]).toMatch(/&& node apps\/server\/dist\/main\.js worker$/);
  });

  const cases: Array<{ role: string; env: Record<string, string>; names: string[] }> = [
    { role: "gateway", env: {}, names: ["DATABASE_URL", "REDIS_URL"] },
    { role: "worker", env: {}, names: ["DATABASE_URL", "REDIS_URL"] },
    { role: "gateway", env: { DATABASE_URL }, names: ["REDIS_URL"] },
    { role: "worker", env: { DATABASE_URL }, names: ["REDIS_URL"] },
    { role: "gateway", env: { REDIS_URL }, names: ["DATABASE_URL"] },
    { role: "worker", env: { REDIS_URL }, names: ["DATABASE_URL"] },
    { role: "all", env: { DATABASE_URL }, names: ["REDIS_URL"] },
    { role: "all", env: { REDIS_URL }, names: ["DATABASE_URL"] },
  ];

  // Concurrent (each is a Node start-up); `expect` comes from the test's context for that.
  it.concurrent.for(cases)("$role with $env exits non-zero naming $names", async ({ role, env, names }, { expect }) => {
    const started = Date.now();
    const run = await runNode([role], childEnv({ TRANSMUTE_DATA_DIR: dataDir, PORT: "1", LOG_LEVEL: "warn", ...env }), { timeoutMs: 30_000 });
    expect(run.signal).toBeNull();
    expect(run.code, run.output).not.toBe(0);
    for (const name of names) expect(run.output).toContain(name);
    // It says what to set, and it did not start serving.
    expect(run.output).toMatch(/set (DATABASE_URL|REDIS_URL)/);
    expect(run.output).not.toContain("running the");
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
