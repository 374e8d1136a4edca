import { spawn } from "node:child_process";
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

// The drift test: prisma/migrations must produce exactly prisma/schema.prisma. It runs the real
// script (Prisma's schema engine on an in-memory PGlite) as a separate process, as developers do.

const root = fileURLToPath(new URL("../../../", import.meta.url));
const script = join(root, "scripts", "migrations.mjs");
const schemaPath = join(root, "prisma", "schema.prisma");
const migrationsDir = join(root, "prisma", "migrations");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runMigrationsScript(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--experimental-wasm-modules", script, ...args], { cwd: root });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const temps: string[] = [];
async function makeTemp(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "transmute-migrations-"));
  temps.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
});

/** A copy of the schema with one more column on Account, which no migration creates. */
async function writeDriftedSchema(dir: string): Promise<string> {
  const schema = await readFile(schemaPath, "utf8");
  const drifted = schema.replace(/model Account \{\n/, "model Account {\n  nickname  String?\n");
  expect(drifted).not.toBe(schema);
  const path = join(dir, "schema.prisma");
  await writeFile(path, drifted);
  return path;
}

// Each run starts the engine afresh (seconds), so the cases run side by side.
describe.concurrent("scripts/migrations.mjs", () => {
  it("finds no drift between prisma/migrations and prisma/schema.prisma", async () => {
    const run = await runMigrationsScript(["diff"]);
    expect(run.stderr).toContain("matches");
    expect(run.stdout).toBe("");
    expect(run.code).toBe(0);
  });

  it("detects drift: a column in the schema that no migration creates", async () => {
    const drifted = await writeDriftedSchema(await makeTemp());
    const run = await runMigrationsScript(["diff", "--schema", drifted]);
    expect(run.code).toBe(2);
    expect(run.stdout).toMatch(/ALTER TABLE "Account" ADD COLUMN\s+"nickname" TEXT/);
    // Only the new column: the existing migrations are replayed, not re-created.
    expect(run.stdout).not.toContain("CREATE TABLE");
  });

  it("create writes a migration that closes the drift, and nothing when there is none", async () => {
    const dir = await makeTemp();
    const drifted = await writeDriftedSchema(dir);
    const migrations = join(dir, "migrations");
    await cp(migrationsDir, migrations, { recursive: true });
    const before = await readdir(migrations);

    const created = await runMigrationsScript(["create", "add nickname", "--schema", drifted, "--migrations", migrations]);
    expect(created.code).toBe(0);
    const added = (await readdir(migrations)).filter((n) => !before.includes(n));
    expect(added).toHaveLength(1);
    expect(added[0]).toMatch(/^\d{14}_add_nickname$/);
    const sql = await readFile(join(migrations, added[0]!, "migration.sql"), "utf8");
    expect(sql).toMatch(/ALTER TABLE "Account" ADD COLUMN\s+"nickname" TEXT/);
    expect(await readFile(join(migrations, "migration_lock.toml"), "utf8")).toContain('provider = "postgresql"');

    const [again, diff] = await Promise.all([
      runMigrationsScript(["create", "again", "--schema", drifted, "--migrations", migrations]),
      runMigrationsScript(["diff", "--schema", drifted, "--migrations", migrations]),
    ]);
    expect(again.code).toBe(0);
    expect(await readdir(migrations)).toHaveLength(before.length + 1);
    expect(diff.code).toBe(0);
    expect(diff.stdout).toBe("");
  });
});
