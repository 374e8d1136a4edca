// The only door to the database: other packages import Prisma's client, model types and the
// `Prisma` namespace from here, never from the generated folder.
export * from "./generated/prisma/client.js";
export { createDatabase, type CreateDatabaseOptions, type Database } from "./create-database.js";
export { applyMigrations, checksumMigration, MigrationError, type ApplyMigrationsOptions } from "./apply-migrations.js";
export type { DbSession, SqlRunner } from "./session.js";
export type { DbLog } from "./log.js";
