/** Walks a local-disk store's directory tree, yielding the keys of the objects in it. */
import type { Dirent } from "node:fs";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { isMissing } from "./fs-errors.js";
import { explainInvalidKey } from "./keys.js";

/** Yields the key of every file under `dir` (whose own key is `keyPrefix`, "" for the root), depth first, names sorted. */
export async function* walkKeys(dir: string, keyPrefix: string): AsyncGenerator<string> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isMissing(err)) return; // deleted while we walked
    throw err;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const key = keyPrefix === "" ? entry.name : `${keyPrefix}/${entry.name}`;
    // Skips `.tmp` and anything else no put could have written.
    if (explainInvalidKey(key) !== null) continue;
    if (entry.isDirectory()) yield* walkKeys(path.join(dir, entry.name), key);
    else if (entry.isFile()) yield key;
  }
}
