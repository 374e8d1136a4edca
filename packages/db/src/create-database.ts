import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { PrismaClient } from "./generated/prisma/client.js";
import { silentLog, type DbLog } from "./log.js";
import { openPgliteSession, openPgSession, type DbSession } from "./session.js";

/** How to reach the database: a PostgreSQL URL, or the embedded PGlite (on disk under dataDir, or in memory). */
export interface CreateDatabaseOptions {
  /** postgres://… connection string; when set, PostgreSQL is used and dataDir is ignored. */
  url?: string;
  /** Without url: PGlite keeps its files under `<dataDir>/db`; omitted means in memory (tests). */
  dataDir?: string;
  /** Most connections the PostgreSQL pool opens (default 10). */
  poolSize?: number;
  log?: DbLog;
}

/** An open database: the Prisma client plus what boot code needs beside it. */
export interface Database {
  prisma: PrismaClient;
  kind: "postgres" | "pglite";
  /** Opens a session bound to one connection (for PostgreSQL a new client outside the pool). */
  openSession(): Promise<DbSession>;
  /** Disconnects Prisma and closes the pool or the PGlite instance. */
  close(): Promise<void>;
}

/** Opens the database described by `opts` and returns a Prisma client on the matching driver adapter. */
export async function createDatabase(opts: CreateDatabaseOptions = {}): Promise<Database> {
  const log = opts.log ?? silentLog;
  if (opts.url) {
    const url = opts.url;
    const pool = new pg.Pool({ connectionString: url, max: opts.poolSize ?? 10 });
    // Idle clients report server-side disconnects as pool 'error' events; unhandled, they crash the process.
    pool.on("error", (err) => log("warn", "database pool error", { error: err.message }));
    const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
    return {
      prisma,
      kind: "postgres",
      openSession: () => openPgSession(url, log),
      async close() {
        await prisma.$disconnect();
        await pool.end();
      },
    };
  }

  let dataDir: string | undefined;
  if (opts.dataDir) {
    dataDir = join(opts.dataDir, "db");
    await mkdir(dataDir, { recursive: true });
  }
  const pglite = await PGlite.create(dataDir);
  // The adapter is typed against the PGlite its own dependency tree resolves (0.4); it only calls
  // query/exec/transaction, which 0.5 keeps, so our instance is passed through its type.
  const adapter = new PrismaPGlite(pglite as unknown as ConstructorParameters<typeof PrismaPGlite>[0]);
  const prisma = new PrismaClient({ adapter });
  return {
    prisma,
    kind: "pglite",
    openSession: async () => openPgliteSession(pglite),
    async close() {
      await prisma.$disconnect();
      await pglite.close();
    },
  };
}
