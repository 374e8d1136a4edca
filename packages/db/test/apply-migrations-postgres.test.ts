import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyMigrations, createDatabase } from "../src/index.js";

// The boot runner against a real PostgreSQL: several processes booting at once, then Prisma
// itself (its schema engine) checking the result. Each run gets its own throwaway database.

const adminUrl = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const child = fileURLToPath(new URL("./fixtures/apply-migrations-child.mjs", import.meta.url));
const prismaEngine = fileURLToPath(new URL("./fixtures/prisma-engine-deploy.mjs", import.meta.url));
const builtIndex = fileURLToPath(new URL("../dist/index.js", import.meta.url));
const repoMigrations = fileURLToPath(new URL("../../../prisma/migrations", import.meta.url));

async function isReachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

const reachable = await isReachable(adminUrl);
const onCi = process.env.CI === "true";
if (!reachable && !onCi) {
  console.warn(
    `\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n` +
      `!! PostgreSQL is not reachable at ${adminUrl}\n` +
      `!! SKIPPING the PostgreSQL migration tests (they fail instead when CI=true).\n` +
      `!! Set TEST_DATABASE_URL to a server where databases can be created.\n` +
      `!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n`,
  );
}

/** The URL of database `name` on the admin server. */
function databaseUrl(name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function waitExit(proc: ChildProcessWithoutNullStreams): Promise<Exit> {
  let stdout = "";
  let stderr = "";
  proc.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    proc.on("error", reject);
    proc.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Resolves once `proc` has printed `line` on stdout. */
function waitForLine(proc: ChildProcessWithoutNullStreams, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const onData = (d: Buffer) => {
      seen += d.toString();
      if (seen.split("\n").includes(line)) {
        proc.stdout.off("data", onData);
        resolve();
      }
    };
    proc.stdout.on("data", onData);
    proc.on("close", (code) => reject(new Error(`child exited (${code}) before printing ${line}`)));
  });
}

// On CI an unreachable server fails every test below instead of skipping them.
describe.runIf(reachable || onCi)("applyMigrations on PostgreSQL", () => {
  const created: string[] = [];
  let shipped: string[] = [];

  async function createTestDatabase(): Promise<string> {
    const name = `transmute_test_${randomBytes(6).toString("hex")}`;
    await admin((c) => c.query(`CREATE DATABASE "${name}"`));
    created.push(name);
    return databaseUrl(name);
  }

  beforeAll(async () => {
    if (!reachable) throw new Error(`PostgreSQL is not reachable at ${adminUrl} (required when CI=true)`);
    if (!existsSync(builtIndex)) throw new Error(`${builtIndex} is missing: run \`npm run build\` first`);
    shipped = (await readdir(repoMigrations, { withFileTypes: true }))
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  });

  afterAll(async () => {
    for (const name of created) {
      await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    }
  });

  it("three processes booting at once apply each migration exactly once", async () => {
    const url = await createTestDatabase();
    const procs = [0, 1, 2].map(() => spawn(process.execPath, [child, url]));
    const exits = procs.map(waitExit);
    // Release them together only once all three are connected, so they really race for the lock.
    await Promise.all(procs.map((p) => waitForLine(p, "ready")));
    for (const p of procs) p.stdin.end("go\n");
    const results = await Promise.all(exits);

    for (const r of results) expect(r, r.stderr).toMatchObject({ code: 0 });
    const applied = results.map((r) => (JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { applied: string[] }).applied);
    // Exactly one process applied the migrations; the others found nothing left to do.
    expect(applied.flat().sort()).toEqual(shipped);
    expect(applied.filter((a) => a.length > 0)).toHaveLength(1);

    const { rows } = await admin(async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        return await c.query<{ migration_name: string; n: string }>(
          `SELECT migration_name, count(*) AS n FROM "_prisma_migrations"
           WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL GROUP BY migration_name ORDER BY migration_name`,
        );
      } finally {
        await c.end();
      }
    });
    expect(rows).toEqual(shipped.map((migration_name) => ({ migration_name, n: "1" })));

    const db = await createDatabase({ url, poolSize: 2 });
    try {
      expect(db.kind).toBe("postgres");
      const tables = await db.prisma.$queryRaw<{ table_name: string }[]>`
        SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`;
      expect(tables.map((t) => t.table_name)).toEqual(
        expect.arrayContaining(["Account", "ApiKey", "File", "Job", "Outbox", "Setting", "Task", "TaskEdge", "UploadSlot", "Worker", "_prisma_migrations"]),
      );

      // A Prisma round trip on the migrated schema.
      const id = randomUUID();
      await db.prisma.account.create({ data: { id, email: `${id}@example.test`, name: "Round Trip" } });
      const back = await db.prisma.account.findUnique({ where: { id } });
      expect(back).toMatchObject({ id, email: `${id}@example.test`, name: "Round Trip" });
      expect(back!.createdAt).toBeInstanceOf(Date);

      expect(await applyMigrations(db)).toEqual([]);
    } finally {
      await db.close();
    }

    // Prisma's own engine (what `prisma migrate status` and `deploy` run) agrees: nothing edited,
    // nothing failed, nothing left to apply. This is what lets the Prisma CLI take over.
    const prisma = await waitExit(spawn(process.execPath, ["--experimental-wasm-modules", "--no-warnings", prismaEngine, url]));
    expect(prisma, prisma.stderr).toMatchObject({ code: 0 });
    expect(JSON.parse(prisma.stdout)).toEqual({
      diagnosis: { editedMigrationNames: [], failedMigrationNames: [], hasMigrationsTable: true, history: null },
      applied: [],
    });
  });

  it("takes over a database migrated by Prisma's engine without reapplying anything", async () => {
    const url = await createTestDatabase();
    const prisma = await waitExit(spawn(process.execPath, ["--experimental-wasm-modules", "--no-warnings", prismaEngine, url]));
    expect(prisma, prisma.stderr).toMatchObject({ code: 0 });
    expect((JSON.parse(prisma.stdout) as { applied: string[] }).applied).toEqual(shipped);

    const db = await createDatabase({ url, poolSize: 1 });
    try {
      expect(await applyMigrations(db)).toEqual([]);
    } finally {
      await db.close();
    }
  });
});
