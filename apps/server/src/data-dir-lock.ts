/**
 * The embedded database is a directory that one process at a time may open. A lock file with
 * the owner's pid keeps a second server (or the key CLI) from opening it while the first runs.
 */
import { readFileSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** The data directory is held by another live process: an operator condition, shown without a stack. */
export class DataDirLockedError extends Error {
  override name = "DataDirLockedError";
}

/** A held lock. */
export interface DataDirLock {
  release(): Promise<void>;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  // A killed process its parent has not reaped yet still answers kill(0): on Linux, a zombie
  // (state Z) or a dead one (X) holds nothing.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return true;
  }
}

/** Takes the lock or throws a message naming the process that holds it. */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  await mkdir(dataDir, { recursive: true });
  const path = join(dataDir, "transmute.pid");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(path, String(process.pid), { flag: "wx" });
      return { release: () => rm(path, { force: true }) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const pid = Number((await readFile(path, "utf8").catch(() => "")).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new DataDirLockedError(
          `The embedded database in ${dataDir} is in use by process ${pid}. Stop that server first, or give this one its own TRANSMUTE_DATA_DIR.`,
        );
      }
      await rm(path, { force: true });
    }
  }
  throw new Error(`Could not lock ${dataDir}.`);
}
