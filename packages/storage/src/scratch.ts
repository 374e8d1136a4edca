/**
 * Scratch directories: private working space for one task's tools, removed when the task ends.
 * Every directory this module creates carries a name prefix, so the sweeper removes only its own.
 */
import { mkdir, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import { isMissing } from "./fs-errors.js";

/** A scratch directory and the way to remove it. */
export interface ScratchDir {
  /** Absolute path of the directory (mode 0700). */
  readonly path: string;
  /** Removes the directory and everything in it; never throws (a leftover is the sweeper's job). */
  cleanup(): Promise<void>;
}

/** Prefix of every scratch directory's name; `sweepScratch` touches nothing else. */
export const SCRATCH_PREFIX = "scratch-";

/** Creates a fresh, uniquely named scratch directory under `base` (created if missing); `label` is a hint for humans such as a task id. */
export async function createScratchDir(base: string, label: string): Promise<ScratchDir> {
  const root = path.resolve(base);
  await mkdir(root, { recursive: true });
  // The label only helps an operator reading `ls`; anything unsafe in it is replaced, not refused.
  const safeLabel = label.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 64);
  const dir = await mkdtemp(path.join(root, `${SCRATCH_PREFIX}${safeLabel}-`));
  return {
    path: dir,
    async cleanup() {
      try {
        await rm(dir, { recursive: true, force: true, maxRetries: 3 });
      } catch {
        // Never throws: cleanup runs in finally blocks, where an error would hide the real one.
      }
    },
  };
}

/**
 * Removes scratch directories under `base` last modified more than `olderThanMs` ago (left by a
 * killed worker); returns their paths. A directory's mtime moves only when entries are added to
 * or removed from it directly, so `olderThanMs` must exceed the longest a task may run.
 */
export async function sweepScratch(base: string, olderThanMs: number): Promise<string[]> {
  const root = path.resolve(base);
  const cutoff = Date.now() - olderThanMs;
  let names: string[];
  try {
    names = await readdir(root);
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(SCRATCH_PREFIX)) continue;
    const dir = path.join(root, name);
    try {
      const info = await stat(dir);
      if (!info.isDirectory() || info.mtimeMs >= cutoff) continue;
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
      removed.push(dir);
    } catch {
      // Removed by its owner meanwhile, or not ours to remove: the next sweep tries again.
    }
  }
  return removed;
}
