import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createScratchDir, SCRATCH_PREFIX, sweepScratch } from "../src/index.js";

let base: string;

beforeEach(async () => {
  base = await mkdtemp(path.join(os.tmpdir(), "transmute-scratch-base-"));
});

afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

async function age(dir: string, ms: number): Promise<void> {
  const then = new Date(Date.now() - ms);
  await utimes(dir, then, then);
}

describe("createScratchDir", () => {
  it("creates a private, uniquely named directory and removes it recursively", async () => {
    const nested = path.join(base, "not", "yet");
    const a = await createScratchDir(nested, "task-1");
    const b = await createScratchDir(nested, "task-1");

    expect(a.path).not.toBe(b.path);
    expect(path.dirname(a.path)).toBe(nested);
    expect(path.basename(a.path).startsWith(`${SCRATCH_PREFIX}task-1-`)).toBe(true);
    expect((await stat(a.path)).mode & 0o777).toBe(0o700);

    await mkdir(path.join(a.path, "deep", "er"), { recursive: true });
    await writeFile(path.join(a.path, "deep", "er", "out.png"), "x");
    await a.cleanup();
    expect(existsSync(a.path)).toBe(false);
    expect(existsSync(b.path)).toBe(true);
  });

  it("makes an unsafe label harmless", async () => {
    const dir = await createScratchDir(base, "../../etc/x y");
    expect(path.dirname(dir.path)).toBe(base);
    expect(path.basename(dir.path)).toMatch(/^scratch-------etc-x-y-/);
  });

  it("cleanup never throws: twice, or after the directory is gone", async () => {
    const dir = await createScratchDir(base, "t");
    await rm(dir.path, { recursive: true });
    await expect(dir.cleanup()).resolves.toBeUndefined();
    await expect(dir.cleanup()).resolves.toBeUndefined();
  });

  it("cleanup never throws even when removal fails", async () => {
    const parent = path.join(base, "parent");
    const dir = await createScratchDir(parent, "t");
    // A file where the parent directory was makes removal fail with ENOTDIR, even for root.
    await rm(parent, { recursive: true });
    await writeFile(parent, "not a directory");
    await expect(rm(dir.path, { recursive: true, force: true })).rejects.toMatchObject({ code: "ENOTDIR" });
    await expect(dir.cleanup()).resolves.toBeUndefined();
  });
});

describe("sweepScratch", () => {
  it("removes only old scratch directories, never other entries", async () => {
    const old = await createScratchDir(base, "killed");
    await writeFile(path.join(old.path, "half-written.tmp"), "x");
    await age(old.path, 2 * 3_600_000);
    const fresh = await createScratchDir(base, "running");
    const foreign = path.join(base, "not-ours");
    await mkdir(foreign);
    await age(foreign, 2 * 3_600_000);

    expect(await sweepScratch(base, 3_600_000)).toEqual([old.path]);
    expect((await readdir(base)).sort()).toEqual([path.basename(fresh.path), "not-ours"].sort());
  });

  it("returns nothing for a base that does not exist", async () => {
    expect(await sweepScratch(path.join(base, "missing"), 0)).toEqual([]);
  });
});
