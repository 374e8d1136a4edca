import { createHash, randomUUID } from "node:crypto";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { applyMigrations, createDatabase, MigrationError, type Database } from "../src/index.js";

// The boot runner against the embedded PGlite, in memory unless a test needs the disk.

const repoMigrations = fileURLToPath(new URL("../../../prisma/migrations", import.meta.url));
const shipped = (await readdir(repoMigrations, { withFileTypes: true }))
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();

const open: Database[] = [];
async function openDb(dataDir?: string): Promise<Database> {
  const db = await createDatabase(dataDir ? { dataDir } : {});
  open.push(db);
  return db;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((db) => db.close()));
});

const temps: string[] = [];
/** A writable copy of the shipped migrations, for tests that edit or add some. */
async function copyMigrations(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "transmute-db-"));
  temps.push(dir);
  await cp(repoMigrations, join(dir, "migrations"), { recursive: true });
  return join(dir, "migrations");
}
afterAll(async () => {
  await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
});

interface Row {
  id: string;
  checksum: string;
  migration_name: string;
  finished_at: Date | null;
  started_at: Date;
  logs: string | null;
  rolled_back_at: Date | null;
  applied_steps_count: number;
}

async function migrationRows(db: Database): Promise<Row[]> {
  return db.prisma.$queryRawUnsafe<Row[]>(`SELECT * FROM "_prisma_migrations" ORDER BY migration_name`);
}

describe("applyMigrations on PGlite", () => {
  it("applies the shipped migrations once and records them as prisma migrate deploy does", async () => {
    expect(shipped.length).toBeGreaterThan(0);
    const db = await openDb();
    expect(db.kind).toBe("pglite");

    expect(await applyMigrations(db)).toEqual(shipped);

    const rows = await migrationRows(db);
    expect(rows.map((r) => r.migration_name)).toEqual(shipped);
    for (const row of rows) {
      const script = await readFile(join(repoMigrations, row.migration_name, "migration.sql"));
      expect(row.checksum).toBe(createHash("sha256").update(script).digest("hex"));
      expect(row.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(row.finished_at!.getTime()).toBeGreaterThanOrEqual(row.started_at.getTime());
      expect(row.applied_steps_count).toBe(1);
      expect(row.logs).toBeNull();
      expect(row.rolled_back_at).toBeNull();
    }

    // The migrations table has Prisma's exact layout.
    const columns = await db.prisma.$queryRawUnsafe<{ column_name: string; data_type: string; len: number | null; is_nullable: string }[]>(
      `SELECT column_name, data_type, character_maximum_length AS len, is_nullable
       FROM information_schema.columns WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position`,
    );
    expect(columns.map((c) => [c.column_name, c.data_type, c.len, c.is_nullable])).toEqual([
      ["id", "character varying", 36, "NO"],
      ["checksum", "character varying", 64, "NO"],
      ["finished_at", "timestamp with time zone", null, "YES"],
      ["migration_name", "character varying", 255, "NO"],
      ["logs", "text", null, "YES"],
      ["rolled_back_at", "timestamp with time zone", null, "YES"],
      ["started_at", "timestamp with time zone", null, "NO"],
      ["applied_steps_count", "integer", null, "NO"],
    ]);

    // The schema is really there: Prisma can use every model.
    const account = await db.prisma.account.create({ data: { id: randomUUID(), email: "a@example.test" } });
    expect(await db.prisma.account.findUnique({ where: { id: account.id } })).toMatchObject({ email: "a@example.test", name: "" });

    expect(await applyMigrations(db)).toEqual([]);
    expect(await migrationRows(db)).toEqual(rows);
  });

  it("applies only a new migration on top of applied ones", async () => {
    const dir = await copyMigrations();
    const db = await openDb();
    await applyMigrations(db, { migrationsDir: dir });

    const name = "99990101000000_add_nickname";
    await mkdir(join(dir, name));
    await writeFile(join(dir, name, "migration.sql"), `ALTER TABLE "Account" ADD COLUMN "nickname" TEXT;\n`);
    expect(await applyMigrations(db, { migrationsDir: dir })).toEqual([name]);
    expect((await migrationRows(db)).map((r) => r.migration_name)).toEqual([...shipped, name]);
    await db.prisma.$executeRawUnsafe(`UPDATE "Account" SET "nickname" = 'x'`);
  });

  it("refuses to start when an applied migration was edited, naming it", async () => {
    const dir = await copyMigrations();
    const db = await openDb();
    await applyMigrations(db, { migrationsDir: dir });

    const edited = shipped[0]!;
    const file = join(dir, edited, "migration.sql");
    await writeFile(file, (await readFile(file, "utf8")) + "\n-- an innocent-looking edit\n");
    const err = await applyMigrations(db, { migrationsDir: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as MigrationError).migration).toBe(edited);
    expect((err as Error).message).toContain(`migration ${edited} was modified after it was applied`);
  });

  it("accepts an applied migration whose line endings changed, as Prisma does", async () => {
    const dir = await copyMigrations();
    const db = await openDb();
    await applyMigrations(db, { migrationsDir: dir });
    const file = join(dir, shipped[0]!, "migration.sql");
    await writeFile(file, (await readFile(file, "utf8")).replace(/\n/g, "\r\n"));
    expect(await applyMigrations(db, { migrationsDir: dir })).toEqual([]);
  });

  it("rolls back a failing migration entirely, records nothing, and names it", async () => {
    const dir = await copyMigrations();
    const name = "99990101000000_broken";
    await mkdir(join(dir, name));
    // The first statement succeeds, the second fails: the first must not survive.
    await writeFile(join(dir, name, "migration.sql"), `CREATE TABLE "Half" ("id" INTEGER);\nALTER TABLE "NoSuchTable" ADD COLUMN "x" TEXT;\n`);
    const db = await openDb();

    const err = await applyMigrations(db, { migrationsDir: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as MigrationError).migration).toBe(name);
    expect((err as Error).message).toMatch(new RegExp(`migration ${name} failed and was rolled back: .*NoSuchTable`));
    expect((await migrationRows(db)).map((r) => r.migration_name)).toEqual(shipped);
    const half = await db.prisma.$queryRawUnsafe<unknown[]>(`SELECT 1 FROM information_schema.tables WHERE table_name = 'Half'`);
    expect(half).toEqual([]);
  });

  it("refuses to start after a failed attempt recorded by Prisma, naming it", async () => {
    const dir = await copyMigrations();
    const db = await openDb();
    await applyMigrations(db, { migrationsDir: dir });
    // What `prisma migrate deploy` leaves behind when a migration fails.
    const name = "99990101000000_failed";
    await db.prisma.$executeRawUnsafe(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, logs, started_at, applied_steps_count)
       VALUES ($1, $2, $3, 'Database error: boom', now(), 0)`,
      randomUUID(),
      "0".repeat(64),
      name,
    );
    const err = await applyMigrations(db, { migrationsDir: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as MigrationError).migration).toBe(name);
    expect((err as Error).message).toContain(`migration ${name} failed in an earlier attempt`);
    expect((err as Error).message).toContain("boom");

    // Once marked rolled back (prisma migrate resolve --rolled-back), the row is ignored.
    await db.prisma.$executeRawUnsafe(`UPDATE "_prisma_migrations" SET rolled_back_at = now() WHERE migration_name = $1`, name);
    expect(await applyMigrations(db, { migrationsDir: dir })).toEqual([]);
  });

  it("keeps the database under <dataDir>/db across restarts", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "transmute-data-"));
    temps.push(dataDir);
    const first = await openDb(dataDir);
    expect(await applyMigrations(first)).toEqual(shipped);
    const id = randomUUID();
    await first.prisma.account.create({ data: { id, email: "kept@example.test" } });
    await first.close();
    open.splice(open.indexOf(first), 1);

    expect((await readdir(join(dataDir, "db"))).length).toBeGreaterThan(0);
    const second = await openDb(dataDir);
    expect(await applyMigrations(second)).toEqual([]);
    expect(await second.prisma.account.findUnique({ where: { id } })).toMatchObject({ email: "kept@example.test" });
  });
});
