import { createHash, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Database } from "./create-database.js";
import { silentLog, type DbLog } from "./log.js";
import type { DbSession, SqlRunner } from "./session.js";

// Boot-time migration runner. It replays prisma/migrations/*/migration.sql and keeps the
// `_prisma_migrations` table exactly as `prisma migrate deploy` does, so the Prisma CLI can take over
// a database at any point. It deliberately avoids Prisma's schema engine: the WebAssembly build
// needs --experimental-wasm-modules on Node 20 and the native one is a download.

/** The migrations shipped with the code: <repo>/prisma/migrations, from src/ and from dist/ alike. */
const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL("../../../prisma/migrations", import.meta.url));

/** The key Prisma Migrate itself locks, so this runner and `prisma migrate deploy` exclude each other too. */
const MIGRATION_LOCK_KEY = 72707369;

// Prisma's own DDL for PostgreSQL (checked against the schema engine's output: same columns,
// types, defaults and primary key).
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

/** Settings of one applyMigrations run. */
export interface ApplyMigrationsOptions {
  /** Folder holding <name>/migration.sql; defaults to the repository's prisma/migrations. */
  migrationsDir?: string;
  /** How long to wait for another process that holds the migration lock (default 5 minutes). */
  lockTimeoutMs?: number;
  log?: DbLog;
}

/** Why the runner refused or failed; `migration` names the migration concerned, when there is one. */
export class MigrationError extends Error {
  override name = "MigrationError";
  constructor(
    message: string,
    readonly migration: string | null,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

interface LocalMigration {
  name: string;
  script: string;
}

interface MigrationRow {
  id: string;
  checksum: string;
  finished_at: Date | string | null;
  migration_name: string;
  logs: string | null;
  rolled_back_at: Date | string | null;
  started_at: Date | string;
}

/** The checksum Prisma records for a migration script: lowercase hex SHA-256 of its text. */
export function checksumMigration(script: string): string {
  return createHash("sha256").update(script, "utf8").digest("hex");
}

/** Whether `script` matches a recorded checksum, with the same tolerance as Prisma's schema engine. */
function matchesChecksum(script: string, recorded: string): boolean {
  // Git may rewrite line endings, so Prisma accepts the script with either ending, and old engine
  // versions stored hex without zero padding (prisma-engines#1887).
  const variants = [script, script.replace(/\r\n/g, "\n"), script.replace(/\n/g, "\r\n")];
  return variants.some((v) => {
    const digest = createHash("sha256").update(v, "utf8").digest();
    const hex = recorded.length === 64 ? digest.toString("hex") : [...digest].map((b) => b.toString(16)).join("");
    return hex === recorded;
  });
}

/** Reads <dir>/*\/migration.sql in the order Prisma applies them (folder names, sorted). */
async function readMigrations(dir: string): Promise<LocalMigration[]> {
  if (!existsSync(dir)) throw new MigrationError(`migrations folder not found: ${dir}`, null);
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort((a, b) => a.localeCompare(b));
  return Promise.all(names.map(async (name) => ({ name, script: await readFile(join(dir, name, "migration.sql"), "utf8") })));
}

/** Takes the migration lock on `session`, waiting up to `timeoutMs` for the process holding it. */
async function acquireLock(session: DbSession, timeoutMs: number, log: DbLog): Promise<void> {
  const [free] = await session.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1) AS locked", [MIGRATION_LOCK_KEY]);
  if (free?.locked) return;
  log("info", "waiting for another process to finish applying migrations", { lockKey: MIGRATION_LOCK_KEY });
  try {
    // SET LOCAL bounds only this wait; the advisory lock itself is session-level and outlives the transaction.
    await session.transaction(async (tx) => {
      await tx.exec(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(timeoutMs))}`);
      await tx.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    });
  } catch (err) {
    // 55P03 lock_not_available is what lock_timeout raises; anything else is a real failure.
    if ((err as { code?: unknown }).code !== "55P03") throw err;
    throw new MigrationError(
      `timed out after ${timeoutMs} ms waiting for the migration lock (pg_advisory_lock(${MIGRATION_LOCK_KEY})) held by another process`,
      null,
      { cause: err },
    );
  }
}

/** Applies one migration and its `_prisma_migrations` row in a single transaction. */
async function applyOne(tx: SqlRunner, migration: LocalMigration): Promise<void> {
  await tx.exec(migration.script);
  // Recorded as Prisma records a successful deploy: one step, no logs, finished after it started.
  await tx.query(
    `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count)
     VALUES ($1, $2, clock_timestamp(), $3, NULL, NULL, now(), 1)`,
    [randomUUID(), checksumMigration(migration.script), migration.name],
  );
}

/**
 * Brings the database schema up to date at boot: applies the pending migrations in order under a
 * Postgres advisory lock (so concurrent boots apply each migration once) and returns their names.
 */
export async function applyMigrations(db: Database, opts: ApplyMigrationsOptions = {}): Promise<string[]> {
  const log = opts.log ?? silentLog;
  const migrations = await readMigrations(opts.migrationsDir ?? DEFAULT_MIGRATIONS_DIR);
  const session = await db.openSession();
  try {
    await acquireLock(session, opts.lockTimeoutMs ?? 5 * 60_000, log);
    try {
      await session.exec(CREATE_MIGRATIONS_TABLE);
      const rows = await session.query<MigrationRow>(
        `SELECT id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at
         FROM "_prisma_migrations" ORDER BY started_at ASC`,
      );
      const live = rows.filter((r) => r.rolled_back_at === null);

      // A row that started but never finished (nor was marked rolled back) is what Prisma calls a
      // failed migration; like `prisma migrate deploy`, refuse to go on until someone looks at it.
      const failed = live.find((r) => r.finished_at === null);
      if (failed) {
        throw new MigrationError(
          `migration ${failed.migration_name} failed in an earlier attempt (started ${String(failed.started_at)}): ` +
            `${failed.logs ?? "no logs recorded"}. Fix the database, then mark it resolved with ` +
            `\`prisma migrate resolve --rolled-back ${failed.migration_name}\` (or --applied)`,
          failed.migration_name,
        );
      }

      const applied = new Map(live.map((r) => [r.migration_name, r]));
      const pending: LocalMigration[] = [];
      for (const m of migrations) {
        const row = applied.get(m.name);
        if (!row) pending.push(m);
        else if (!matchesChecksum(m.script, row.checksum)) {
          throw new MigrationError(
            `migration ${m.name} was modified after it was applied: its checksum ${checksumMigration(m.script)} ` +
              `differs from the recorded ${row.checksum}. Restore the original migration.sql and put the change in a new migration`,
            m.name,
          );
        }
      }
      const known = new Set(migrations.map((m) => m.name));
      const unknown = [...applied.keys()].filter((name) => !known.has(name));
      if (unknown.length) {
        // Typically a database already migrated by a newer release; running older code on it is the operator's call.
        log("warn", "the database has migrations this build does not know", { migrations: unknown });
      }

      for (const m of pending) {
        log("info", "applying migration", { migration: m.name });
        try {
          await session.transaction((tx) => applyOne(tx, m));
        } catch (err) {
          // Nothing is recorded: the transaction rolled back the script with its row, so the next boot retries cleanly.
          const reason = err instanceof Error ? err.message : String(err);
          throw new MigrationError(`migration ${m.name} failed and was rolled back: ${reason}`, m.name, { cause: err });
        }
      }
      log(pending.length ? "info" : "debug", pending.length ? "migrations applied" : "database schema up to date", {
        applied: pending.map((m) => m.name),
      });
      return pending.map((m) => m.name);
    } finally {
      await session.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]).catch(() => {});
    }
  } finally {
    await session.release();
  }
}
