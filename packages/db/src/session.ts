import type { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import type { DbLog } from "./log.js";

/** Runs SQL on one connection: `query` for parameterised statements, `exec` for multi-statement scripts. */
export interface SqlRunner {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  exec(script: string): Promise<void>;
}

/** One database session (a single connection), for work that must not hop between pool connections, such as session advisory locks. */
export interface DbSession extends SqlRunner {
  /** Runs `fn` in a transaction on this session: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: SqlRunner) => Promise<T>): Promise<T>;
  /** Ends the session; session-level locks it still holds are released by the server. */
  release(): Promise<void>;
}

/** Opens a dedicated pg client (not a pool connection) on `url`. */
export async function openPgSession(url: string, log: DbLog): Promise<DbSession> {
  const client = new pg.Client({ connectionString: url });
  // An unhandled 'error' event (server restart, network cut) would crash the process.
  client.on("error", (err) => log("warn", "database session error", { error: err.message }));
  await client.connect();
  const runner: SqlRunner = {
    async query<T>(sql: string, params: unknown[] = []) {
      return (await client.query(sql, params)).rows as T[];
    },
    async exec(script: string) {
      // Without parameters pg uses the simple query protocol, which accepts several statements.
      await client.query(script);
    },
  };
  return {
    ...runner,
    async transaction<T>(fn: (tx: SqlRunner) => Promise<T>) {
      await client.query("BEGIN");
      try {
        const result = await fn(runner);
        await client.query("COMMIT");
        return result;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => {});
        throw err;
      }
    },
    async release() {
      await client.end();
    },
  };
}

/** Wraps the PGlite instance, which is a single connection already shared with Prisma. */
export function openPgliteSession(db: PGlite): DbSession {
  const wrap = (q: Pick<PGlite, "query" | "exec">): SqlRunner => ({
    async query<T>(sql: string, params: unknown[] = []) {
      return (await q.query<T>(sql, params)).rows;
    },
    async exec(script: string) {
      await q.exec(script);
    },
  });
  return {
    ...wrap(db),
    // PGlite's own transaction() holds its mutex, so queries from Prisma cannot slip into ours.
    transaction: (fn) => db.transaction((tx) => fn(wrap(tx))),
    async release() {},
  };
}
