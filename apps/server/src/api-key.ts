/**
 * The embedded mode's key: TRANSMUTE_API_KEY when set; otherwise one generated on first start,
 * kept in `<dataDir>/api-key` readable by the owner only (the database holds only its hash).
 */
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createApiKey } from "@transmute/core";

/** Path of the generated key file. */
export function apiKeyPath(dataDir: string): string {
  return join(dataDir, "api-key");
}

/** Reads the generated key, making it on first start. */
export async function loadOrCreateApiKey(dataDir: string): Promise<{ key: string; created: boolean }> {
  const path = apiKeyPath(dataDir);
  try {
    const key = (await readFile(path, "utf8")).trim();
    if (key.length >= 16) {
      await chmod(path, 0o600);
      return { key, created: false };
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const key = createApiKey();
  await writeFile(path, `${key}\n`, { mode: 0o600, flag: "w" });
  await chmod(path, 0o600);
  return { key, created: true };
}
