import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyMigrations, createDatabase, type Database } from "@transmute/db";
import { authenticateKey, createAccount, createKey, listKeys, revokeKey } from "../src/accounts.js";

describe("accounts and keys (PGlite in memory)", () => {
  let db: Database;
  beforeAll(async () => {
    db = await createDatabase();
    await applyMigrations(db);
  });
  afterAll(async () => db.close());

  it("two concurrent creations of one email give one account and a conflict", async () => {
    const results = await Promise.allSettled([createAccount(db.prisma, "race@example.com"), createAccount(db.prisma, "race@example.com")]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const rejected = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(rejected.reason.code).toBe("conflict");
    expect(await db.prisma.account.count({ where: { email: "race@example.com" } })).toBe(1);
  });

  it("stores only a hash, authenticates, records last use, and revokes", async () => {
    const made = await createAccount(db.prisma, "keys@example.com");
    const rows = await db.prisma.apiKey.findMany({ where: { accountId: made.accountId } });
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(made.key);
    expect(await authenticateKey(db.prisma, made.key)).toBe(made.accountId);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await db.prisma.apiKey.findUniqueOrThrow({ where: { id: made.keyId } })).lastUsedAt).not.toBeNull();
    const second = await createKey(db.prisma, made.accountId, { label: "ci" });
    expect((await listKeys(db.prisma, "keys@example.com")).map((k) => k.label).sort()).toEqual(["", "ci"]);
    expect(await revokeKey(db.prisma, second.keyId)).toBe(true);
    expect(await revokeKey(db.prisma, second.keyId)).toBe(false);
    // A fresh key is not in the cache: the revocation shows at once.
    expect(await authenticateKey(db.prisma, second.key)).toBeNull();
    expect(await authenticateKey(db.prisma, "tm_unknown-key-000000000000")).toBeNull();
  });
});
