import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLocalDiskStore, type LocalDiskStore } from "../src/index.js";

let root: string;
let store: LocalDiskStore;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "transmute-store-"));
  store = createLocalDiskStore({ root });
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function digest(algorithm: string, data: Buffer): string {
  return createHash(algorithm).update(data).digest("hex");
}

/** Every file under `dir`, relative, including temp files: what a crash or leak would leave. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
}

/** A source that yields `chunks` and then fails, as a client that disconnects mid-upload. */
function failingSource(chunks: Buffer[]): Readable {
  return Readable.from(
    (async function* () {
      for (const chunk of chunks) yield chunk;
      throw new Error("client went away");
    })(),
  );
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

describe("put and get", () => {
  it("round-trips bytes with checksums matching node:crypto", async () => {
    const data = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) % 251;
    const chunks = [data.subarray(0, 1000), data.subarray(1000, 2_000_000), data.subarray(2_000_000)];

    const result = await store.put("tasks/t1/1/0", Readable.from(chunks));

    expect(result).toEqual({ key: "tasks/t1/1/0", size: data.length, sha256: digest("sha256", data), md5: digest("md5", data) });
    // Buffer.equals: toEqual walks megabytes byte by byte.
    expect((await readFile(path.join(root, "tasks/t1/1/0"))).equals(data)).toBe(true);
    expect((await readAll(await store.get("tasks/t1/1/0"))).equals(data)).toBe(true);
    expect(await store.stat("tasks/t1/1/0")).toEqual({ size: data.length });
    expect(await listFiles(root)).toEqual(["tasks/t1/1/0"]);
  });

  it("stores an empty object", async () => {
    const result = await store.put("empty", Readable.from([]));
    expect(result).toEqual({ key: "empty", size: 0, sha256: digest("sha256", Buffer.alloc(0)), md5: digest("md5", Buffer.alloc(0)) });
    expect(await store.stat("empty")).toEqual({ size: 0 });
  });

  it("replaces an existing object", async () => {
    await store.put("a/b", Readable.from([Buffer.from("first version, longer")]));
    await store.put("a/b", Readable.from([Buffer.from("second")]));
    expect(await text(await store.get("a/b"))).toBe("second");
    expect(await listFiles(root)).toEqual(["a/b"]);
  });

  it("accepts exactly maxBytes", async () => {
    const result = await store.put("k", Readable.from([Buffer.alloc(10)]), { maxBytes: 10 });
    expect(result.size).toBe(10);
  });

  it.each([-1, 1.5, Number.NaN])("refuses maxBytes %s as a caller bug", async (maxBytes) => {
    await expect(store.put("k", Readable.from([Buffer.alloc(1)]), { maxBytes })).rejects.toMatchObject({ code: "internal_error" });
    expect(await listFiles(root)).toEqual([]);
  });

  it("refuses a stream past maxBytes mid-way with payload_too_large and leaves nothing", async () => {
    let produced = 0;
    const source = Readable.from(
      (async function* () {
        for (let i = 0; i < 100; i++) {
          produced += 64 * 1024;
          yield Buffer.alloc(64 * 1024, 1);
        }
      })(),
    );

    await expect(store.put("tasks/t/1/0", source, { maxBytes: 200 * 1024 })).rejects.toMatchObject({ code: "payload_too_large", status: 413 });

    // Stopped at the limit, not after reading the whole source.
    expect(produced).toBeLessThan(100 * 64 * 1024);
    expect(await listFiles(root)).toEqual([]);
    expect(await readdir(path.join(root, ".tmp"))).toEqual([]);
    expect(await store.stat("tasks/t/1/0")).toBeNull();
  });

  it("keeps the old object when a replacing put fails", async () => {
    await store.put("k", Readable.from([Buffer.from("old")]));
    await expect(store.put("k", Readable.from([Buffer.alloc(100)]), { maxBytes: 50 })).rejects.toMatchObject({ code: "payload_too_large" });
    expect(await text(await store.get("k"))).toBe("old");
  });

  it("leaves nothing when the source errors mid-way", async () => {
    const source = failingSource([Buffer.alloc(100_000, 7), Buffer.alloc(100_000, 8)]);
    await expect(store.put("tasks/t/1/0", source)).rejects.toThrow("client went away");
    expect(await listFiles(root)).toEqual([]);
    expect(existsSync(path.join(root, "tasks"))).toBe(false);
  });

  it("leaves nothing when the source is destroyed without an error", async () => {
    const source = new PassThrough();
    const pending = store.put("k", source);
    source.write(Buffer.alloc(1000));
    setTimeout(() => source.destroy(), 20);
    await expect(pending).rejects.toThrow();
    expect(await listFiles(root)).toEqual([]);
  });

  it("leaves nothing when the write is aborted through its signal", async () => {
    const source = new PassThrough();
    const controller = new AbortController();
    const pending = store.put("k", source, { signal: controller.signal });
    source.write(Buffer.alloc(1000));
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
    expect(await listFiles(root)).toEqual([]);
    expect(source.destroyed).toBe(true);
  });

  it("ends concurrent puts to the same key with one complete object", async () => {
    const versions = Array.from({ length: 8 }, (_, i) => Buffer.alloc(256 * 1024 + i, 65 + i));
    const results = await Promise.all(
      versions.map((data) => store.put("tasks/same/1/0", Readable.from([data.subarray(0, 1000), data.subarray(1000)]))),
    );
    const stored = await readFile(path.join(root, "tasks/same/1/0"));
    expect(versions.some((v) => v.equals(stored))).toBe(true);
    expect(results.map((r) => r.sha256)).toContain(digest("sha256", stored));
    expect(await listFiles(root)).toEqual(["tasks/same/1/0"]);
  });

  it("handles concurrent puts to different keys", async () => {
    const keys = Array.from({ length: 20 }, (_, i) => `tasks/t${i % 3}/1/${i}`);
    await Promise.all(keys.map((key) => store.put(key, Readable.from([Buffer.from(key)]))));
    for (const key of keys) expect(await text(await store.get(key))).toBe(key);
  });

  it("lets puts win races with deletes that prune their directory", async () => {
    for (let round = 0; round < 30; round++) {
      await store.put("tasks/r/1/0", Readable.from([Buffer.from("a")]));
      await Promise.all([store.delete("tasks/r/1/0"), store.put("tasks/r/1/1", Readable.from([Buffer.from("b")])), store.deletePrefix("tasks/r/1/0")]);
      expect(await text(await store.get("tasks/r/1/1"))).toBe("b");
      await store.deletePrefix("tasks/r");
    }
    expect(await listFiles(root)).toEqual([]);
  });

  it("reads byte ranges, both ends inclusive", async () => {
    await store.put("r", Readable.from([Buffer.from("0123456789")]));
    expect(await text(await store.get("r", { start: 2, end: 5 }))).toBe("2345");
    expect(await text(await store.get("r", { start: 7 }))).toBe("789");
    expect(await text(await store.get("r", { end: 0 }))).toBe("0");
    expect(await text(await store.get("r", { start: 9, end: 9 }))).toBe("9");
    expect(await text(await store.get("r", { start: 8, end: 100 }))).toBe("89");
    await expect(store.get("r", { start: 5, end: 4 })).rejects.toMatchObject({ code: "internal_error" });
    await expect(store.get("r", { start: -1 })).rejects.toMatchObject({ code: "internal_error" });
  });

  it("answers not_found for a missing object and for a prefix", async () => {
    await store.put("a/b", Readable.from([Buffer.from("x")]));
    await expect(store.get("missing")).rejects.toMatchObject({ code: "not_found" });
    await expect(store.get("a")).rejects.toMatchObject({ code: "not_found" });
    await expect(store.get("a/b/c")).rejects.toMatchObject({ code: "not_found" });
    expect(await store.stat("missing")).toBeNull();
    expect(await store.stat("a")).toBeNull();
  });
});

describe("putFile", () => {
  it("stores a local file and leaves the original in place", async () => {
    const scratch = await mkdtemp(path.join(os.tmpdir(), "transmute-out-"));
    const data = Buffer.from("output of a tool\n".repeat(1000));
    const local = path.join(scratch, "out.txt");
    await writeFile(local, data);

    const result = await store.putFile("tasks/t/1/0", local);

    expect(result).toEqual({ key: "tasks/t/1/0", size: data.length, sha256: digest("sha256", data), md5: digest("md5", data) });
    expect(await readFile(local)).toEqual(data);
    expect(await readFile(path.join(root, "tasks/t/1/0"))).toEqual(data);
    await expect(store.putFile("tasks/t/1/1", local, { maxBytes: 10 })).rejects.toMatchObject({ code: "payload_too_large" });
    await expect(store.putFile("tasks/t/1/2", path.join(scratch, "nope"))).rejects.toMatchObject({ code: "internal_error" });
    expect(await listFiles(root)).toEqual(["tasks/t/1/0"]);
    await rm(scratch, { recursive: true, force: true });
  });
});

describe("delete, deletePrefix and list", () => {
  beforeEach(async () => {
    for (const key of ["tasks/a/1/0", "tasks/a/1/1", "tasks/a/2/0", "tasks/ab/1/0", "uploads/s1"]) {
      await store.put(key, Readable.from([Buffer.from(key)]));
    }
  });

  async function listKeys(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const key of store.list(prefix)) keys.push(key);
    return keys;
  }

  it("lists keys at or under a whole-segment prefix, never temp files", async () => {
    await writeFile(path.join(root, ".tmp", "leftover.part"), "x");
    expect(await listKeys("")).toEqual(["tasks/a/1/0", "tasks/a/1/1", "tasks/a/2/0", "tasks/ab/1/0", "uploads/s1"]);
    expect(await listKeys("tasks/a")).toEqual(["tasks/a/1/0", "tasks/a/1/1", "tasks/a/2/0"]);
    expect(await listKeys("tasks/a/")).toEqual(["tasks/a/1/0", "tasks/a/1/1", "tasks/a/2/0"]);
    expect(await listKeys("uploads/s1")).toEqual(["uploads/s1"]);
    expect(await listKeys("nothing")).toEqual([]);
  });

  it("deletes one object, is idempotent, and prunes empty directories", async () => {
    await store.delete("tasks/a/2/0");
    await store.delete("tasks/a/2/0");
    await store.delete("never/existed");
    expect(await store.stat("tasks/a/2/0")).toBeNull();
    expect(existsSync(path.join(root, "tasks/a/2"))).toBe(false);
    expect(existsSync(path.join(root, "tasks/a/1"))).toBe(true);
  });

  it("deletes a prefix and nothing that merely shares its first characters", async () => {
    await store.deletePrefix("tasks/a");
    expect(await listKeys("")).toEqual(["tasks/ab/1/0", "uploads/s1"]);
    await store.deletePrefix("tasks/missing");
    await store.deletePrefix("uploads/s1");
    expect(await listFiles(root)).toEqual(["tasks/ab/1/0"]);
    expect(existsSync(path.join(root, "uploads"))).toBe(false);
  });

  it("refuses an empty prefix for deletePrefix", async () => {
    await expect(store.deletePrefix("")).rejects.toMatchObject({ code: "internal_error" });
    await expect(store.deletePrefix("/")).rejects.toMatchObject({ code: "internal_error" });
    expect(await listKeys("")).toHaveLength(5);
  });
});

describe("materialize", () => {
  it("copies the object into the scratch directory, isolated from the store", async () => {
    const scratch = await mkdtemp(path.join(os.tmpdir(), "transmute-scratch-"));
    await store.put("tasks/t/1/0", Readable.from([Buffer.from("input bytes")]));

    const byKey = await store.materialize("tasks/t/1/0", scratch);
    const named = await store.materialize("tasks/t/1/0", scratch, { name: "input-0.pdf" });

    expect(byKey).toBe(path.join(scratch, "tasks/t/1/0"));
    expect(named).toBe(path.join(scratch, "input-0.pdf"));
    expect(await readFile(named, "utf8")).toBe("input bytes");
    // A tool writing to its input must not change the stored object.
    await writeFile(named, "scribbled");
    expect((await stat(named)).ino).not.toBe((await stat(path.join(root, "tasks/t/1/0"))).ino);
    expect(await text(await store.get("tasks/t/1/0"))).toBe("input bytes");

    await expect(store.materialize("missing", scratch)).rejects.toMatchObject({ code: "not_found" });
    await expect(store.materialize("tasks/t/1/0", scratch, { name: "../escape" })).rejects.toMatchObject({ code: "internal_error" });
    await rm(scratch, { recursive: true, force: true });
  });
});

describe("sweepTempFiles", () => {
  it("removes only temp files older than the cutoff", async () => {
    await store.put("k", Readable.from([Buffer.from("x")]));
    const old = path.join(root, ".tmp", "old.part");
    await writeFile(old, "left by a killed worker");
    const { utimes } = await import("node:fs/promises");
    await utimes(old, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
    await writeFile(path.join(root, ".tmp", "fresh.part"), "being written");

    expect(await store.sweepTempFiles(60_000)).toBe(1);
    expect(await readdir(path.join(root, ".tmp"))).toEqual(["fresh.part"]);
  });
});
