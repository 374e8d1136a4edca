/**
 * First boot of several processes on one fresh shared database: the rows every process makes
 * if missing (the link secret, the default account and its key) are made once, and no process
 * fails on a unique key because another made the row a moment earlier. Process start-up jitter
 * hides the race from whole processes, so this drives the boot steps from several clients with
 * separate connection pools at the same instant, a few rounds over.
 */
import { applyMigrations, createDatabase, type Database } from "@transmute/db";
import { ensureDefaultKey, loadSigningSecret } from "@transmute/jobs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCluster, type Cluster } from "../support/cluster.js";
import { servicesAvailable } from "../support/services.js";

const available = await servicesAvailable();

describe.skipIf(!available)("first boot on a shared database", () => {
  let cluster: Cluster | undefined;
  let dbs: Database[] = [];

  beforeAll(async () => {
    cluster = await createCluster();
    dbs = await Promise.all(Array.from({ length: 6 }, () => createDatabase({ url: cluster!.databaseUrl, poolSize: 2 })));
    await applyMigrations(dbs[0]!);
  });
  afterAll(async () => {
    await Promise.all(dbs.map((db) => db.close()));
    await cluster?.close();
  });

  it("makes the default account, its key and the link secret once, whoever comes first", async () => {
    for (let round = 0; round < 5; round++) {
      await cluster!.sql(`DELETE FROM "ApiKey"; DELETE FROM "Account"; DELETE FROM "Setting"`);
      const secrets = await Promise.all(dbs.map((db) => loadSigningSecret(db.prisma, undefined)));
      const keys = await Promise.allSettled(dbs.map((db) => ensureDefaultKey(db.prisma, cluster!.key)));
      expect(keys.filter((k) => k.status === "rejected").map((k) => String((k as PromiseRejectedResult).reason))).toEqual([]);
      expect(new Set(secrets).size).toBe(1);
      expect(await cluster!.sql(`SELECT email FROM "Account"`)).toEqual([{ email: "admin@localhost" }]);
      expect(await cluster!.sql(`SELECT id FROM "ApiKey"`)).toHaveLength(1);
    }
  });
});
