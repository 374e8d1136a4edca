/**
 * Account and key administration from the command line, in both modes: against DATABASE_URL
 * when set, otherwise against the embedded database (which the running server must not hold).
 */
import { parseArgs } from "node:util";
import { loadConfig } from "@transmute/config";
import { applyMigrations, createDatabase } from "@transmute/db";
import { createAccount, createKey, listKeys, revokeKey } from "@transmute/jobs";
import { lockDataDir } from "./data-dir-lock.js";

/** Runs `accounts ...` or `keys ...`; returns the exit code. */
export async function runAdminCommand(group: "accounts" | "keys", argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    options: { email: { type: "string" }, name: { type: "string" }, label: { type: "string" } },
    allowPositionals: true,
  });
  const config = loadConfig(process.env, { role: "all" });
  const lock = config.mode === "embedded" ? await lockDataDir(config.dataDir) : null;
  const db = await createDatabase(config.databaseUrl ? { url: config.databaseUrl } : { dataDir: config.dataDir });
  try {
    await applyMigrations(db);
    const prisma = db.prisma;
    if (group === "accounts" && action === "create") {
      if (!values.email) return usage("accounts create needs --email");
      const made = await createAccount(prisma, values.email, values.name ?? "");
      console.log(`account ${made.accountId} (${values.email})\nkey id  ${made.keyId}\nAPI key ${made.key}\nKeep the key: it is not shown again.`);
      return 0;
    }
    if (group === "keys" && action === "list") {
      const keys = await listKeys(prisma, values.email);
      for (const k of keys) {
        console.log(`${k.id}  ${k.prefix}…  ${k.account.email}  ${k.label || "-"}  created ${k.createdAt.toISOString()}${k.revokedAt ? "  REVOKED " + k.revokedAt.toISOString() : ""}`);
      }
      if (keys.length === 0) console.log("no keys");
      return 0;
    }
    if (group === "keys" && action === "create") {
      if (!values.email) return usage("keys create needs --email");
      const account = await prisma.account.findUnique({ where: { email: values.email } });
      if (!account) return usage(`no account with email ${values.email}`);
      const made = await createKey(prisma, account.id, { label: values.label ?? "" });
      console.log(`key id  ${made.keyId}\nAPI key ${made.key}\nKeep the key: it is not shown again.`);
      return 0;
    }
    if (group === "keys" && action === "revoke") {
      const id = positionals[0];
      if (!id) return usage("keys revoke needs a key id (see keys list)");
      const done = await revokeKey(prisma, id);
      console.log(done ? `revoked ${id}` : `no active key ${id}`);
      return done ? 0 : 1;
    }
    return usage(`unknown command: ${group} ${action ?? ""}`);
  } finally {
    await db.close();
    await lock?.release();
  }
}

function usage(message: string): number {
  console.error(message);
  return 2;
}
