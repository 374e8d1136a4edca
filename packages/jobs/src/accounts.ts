/**
 * Accounts and API keys. Keys are stored as SHA-256 hashes; a key is shown once, when made.
 * The embedded mode makes a default account with a key on first start.
 */
import { AppError, createApiKey, hashApiKey } from "@transmute/core";
import type { PrismaClient } from "@transmute/db";

/** The account every key of a single-user install belongs to. */
export const DEFAULT_ACCOUNT_EMAIL = "admin@localhost";

/** An account with a freshly made key (the only time the key is visible). */
export interface NewKey {
  accountId: string;
  keyId: string;
  key: string;
}

/** Creates an account with one key. */
export async function createAccount(prisma: PrismaClient, email: string, name = ""): Promise<NewKey> {
  const accountId = crypto.randomUUID();
  // Insert-or-nothing, so two concurrent creations of one email give one account and a conflict.
  const { count } = await prisma.account.createMany({ data: [{ id: accountId, email, name }], skipDuplicates: true });
  if (count === 0) throw new AppError("conflict", `An account with email ${email} exists already.`);
  return { accountId, ...(await createKey(prisma, accountId)) };
}

/** Adds a key to an account; `key` may be given (an operator-set key) or is generated. */
export async function createKey(prisma: PrismaClient, accountId: string, opts: { key?: string; label?: string } = {}): Promise<{ keyId: string; key: string }> {
  const key = opts.key ?? createApiKey();
  const keyId = crypto.randomUUID();
  await prisma.apiKey.create({ data: { id: keyId, accountId, keyHash: hashApiKey(key), prefix: key.slice(0, 8), label: opts.label ?? "" } });
  return { keyId, key };
}

/** Lists keys (never the keys themselves: their prefix, label and dates). */
export async function listKeys(prisma: PrismaClient, accountEmail?: string) {
  return prisma.apiKey.findMany({
    where: accountEmail ? { account: { email: accountEmail } } : {},
    select: { id: true, prefix: true, label: true, createdAt: true, revokedAt: true, lastUsedAt: true, account: { select: { email: true, id: true } } },
    orderBy: { createdAt: "asc" },
  });
}

/** Revokes a key by id; false when there is no such key. */
export async function revokeKey(prisma: PrismaClient, keyId: string): Promise<boolean> {
  const { count } = await prisma.apiKey.updateMany({ where: { id: keyId, revokedAt: null }, data: { revokedAt: new Date() } });
  return count === 1;
}

/** The default account, created if missing. */
export async function ensureDefaultAccount(prisma: PrismaClient): Promise<string> {
  const found = await prisma.account.findUnique({ where: { email: DEFAULT_ACCOUNT_EMAIL } });
  if (found) return found.id;
  // Processes booting together on a fresh database all get here: ON CONFLICT DO NOTHING lets the
  // first insert win (Prisma's upsert is a read then a write, and the loser hit the unique key).
  await prisma.account.createMany({ data: [{ id: crypto.randomUUID(), email: DEFAULT_ACCOUNT_EMAIL, name: "default" }], skipDuplicates: true });
  return (await prisma.account.findUniqueOrThrow({ where: { email: DEFAULT_ACCOUNT_EMAIL } })).id;
}

/** Makes sure `key` is a valid key of the default account (TRANSMUTE_API_KEY, or the generated one). */
export async function ensureDefaultKey(prisma: PrismaClient, key: string): Promise<void> {
  const accountId = await ensureDefaultAccount(prisma);
  const hash = hashApiKey(key);
  const found = await prisma.apiKey.findUnique({ where: { keyHash: hash } });
  if (found) {
    if (found.revokedAt) await prisma.apiKey.update({ where: { id: found.id }, data: { revokedAt: null } });
    return;
  }
  try {
    await createKey(prisma, accountId, { key, label: "default" });
  } catch (err) {
    // Another process of the same install made it at the same moment.
    if (!(await prisma.apiKey.findUnique({ where: { keyHash: hash } }))) throw err;
  }
}

/** A key cache: authentication is on every request, revocation must still bite quickly. */
const cache = new Map<string, { accountId: string | null; at: number }>();
const CACHE_MS = 5000;

/** The account of a key, or null for an unknown or revoked key. */
export async function authenticateKey(prisma: PrismaClient, key: string): Promise<string | null> {
  const hash = hashApiKey(key);
  const hit = cache.get(hash);
  if (hit && Date.now() - hit.at < CACHE_MS) return hit.accountId;
  const row = await prisma.apiKey.findUnique({ where: { keyHash: hash }, select: { id: true, accountId: true, revokedAt: true } });
  const accountId = row && !row.revokedAt ? row.accountId : null;
  // Recorded on cache misses only, so at most once per key per cache period and process.
  if (row && accountId) void prisma.apiKey.update({ where: { id: row.id }, data: { lastUsedAt: new Date() } }).catch(() => undefined);
  if (cache.size > 10_000) cache.clear();
  cache.set(hash, { accountId, at: Date.now() });
  return accountId;
}
