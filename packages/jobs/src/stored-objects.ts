/**
 * Which stored objects a deletion or expiry frees. A file row does not own its object: export/url
 * publishes its input's objects again, so an object goes only when no live row uses it. Rows are
 * changed inside the transaction; the objects are removed after commit, so a failure leaves bytes
 * behind (logged), never a live row without its bytes.
 */
import type { Prisma } from "@transmute/db";
import type { Tx } from "./tx.js";
import type { EngineDeps } from "./types.js";

/** File statuses whose object is still needed. */
export const LIVE_FILE_STATUSES = ["enabled", "overuse"];

/** Deletes stored objects (a BlobStore satisfies it); the job engine knows nothing else of storage. */
export interface ObjectRemover {
  /** Deletes one object; a missing one is not an error. */
  delete(key: string): Promise<void>;
  /** Deletes every object at or under a whole-segment prefix. */
  deletePrefix(prefix: string): Promise<void>;
}

/** What to remove from storage after commit: single objects, and whole task prefixes. */
export interface Leftovers {
  keys: string[];
  prefixes: string[];
}

/** The keys among `keys` that no live file row references (call after the rows changed). */
export async function unreferencedKeys(tx: Tx, keys: readonly string[]): Promise<string[]> {
  const unique = [...new Set(keys)];
  if (unique.length === 0) return [];
  const live = await tx.file.findMany({ where: { storageKey: { in: unique }, status: { in: LIVE_FILE_STATUSES } }, select: { storageKey: true } });
  const needed = new Set(live.map((f) => f.storageKey));
  return unique.filter((k) => !needed.has(k));
}

/**
 * The objects of deleted tasks that no live row references any more, and the tasks' storage
 * prefixes (`tasks/<id>`, which also hold failed attempts' leftovers) where no live row has an
 * object. Call after the task rows were deleted, in the same transaction.
 */
export async function leftoversOfDeletedTasks(tx: Tx, tasks: ReadonlyArray<{ id: string; files: ReadonlyArray<{ storageKey: string }> }>): Promise<Leftovers> {
  const keys = [...new Set(tasks.flatMap((t) => t.files.map((f) => f.storageKey)))];
  const prefixes = tasks.map((t) => `tasks/${t.id}`);
  if (keys.length === 0 && prefixes.length === 0) return { keys: [], prefixes: [] };
  const where: Prisma.FileWhereInput = {
    status: { in: LIVE_FILE_STATUSES },
    OR: [{ storageKey: { in: keys } }, ...prefixes.map((p) => ({ storageKey: { startsWith: `${p}/` } }))],
  };
  const live = new Set((await tx.file.findMany({ where, select: { storageKey: true } })).map((f) => f.storageKey));
  const usedPrefixes = new Set([...live].map((key) => key.split("/").slice(0, 2).join("/")));
  return { keys: keys.filter((k) => !live.has(k)), prefixes: prefixes.filter((p) => !usedPrefixes.has(p)) };
}

/** Removes leftovers after commit; failures are logged and left for the next sweep. */
export async function removeLeftovers(deps: Pick<EngineDeps, "log">, store: ObjectRemover, leftovers: Leftovers): Promise<void> {
  for (const key of leftovers.keys) await store.delete(key).catch((err) => deps.log.warn({ err, key }, "deleting a stored object failed"));
  for (const prefix of leftovers.prefixes) {
    await store.deletePrefix(prefix).catch((err) => deps.log.warn({ err, prefix }, "deleting stored objects failed"));
  }
}
