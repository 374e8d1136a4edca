/**
 * The archive engine against real archives made here (archiver, tar-stream, 7zz) and read back
 * with yauzl, tar-stream and `7zz l`: repacks keep names and bytes, extraction numbers files and
 * names them uniquely, and every guard (bomb, entry flood, zip-slip, links, nesting, passwords,
 * damage) refuses with its code and leaves the work folder as it found it.
 */
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip, gzipSync } from "node:zlib";
import archiver from "archiver";
import tarStream from "tar-stream";
import yauzl from "yauzl";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createArchiveEngine, DEFAULT_ARCHIVE_LIMITS, probeArchive, type ArchiveEngine, type ArchiveLimits } from "../dist/index.js";
import { engineAvailable } from "../../../test/support/engine-tools.js";
import { failure } from "./failure.js";

const available = await engineAvailable("archive (7-Zip)", async () => {
  const probe = await probeArchive();
  return probe.conversions.some((c) => c.from === "7z") ? probe : { available: false, missing: probe.missing ?? "" };
});

type Files = Array<[string, Buffer | null]>; // null: a folder
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const FILES: Files = [["docs/", null], ["docs/a.txt", Buffer.from("alpha\n")], ["b.bin", Buffer.from([0, 1, 2, 255])], ["docs/sub/c.txt", Buffer.from("x".repeat(5000))]];

let root: string;
let work: string;
let engine: ArchiveEngine;

async function zipOf(files: Files, path: string, names?: Record<string, string>): Promise<string> {
  const archive = archiver("zip");
  const out = createWriteStream(path);
  const done = new Promise<void>((resolve) => out.on("close", () => resolve()));
  archive.pipe(out);
  for (const [name, data] of files) archive.append(data ?? Buffer.alloc(0), { name });
  await archive.finalize();
  await done;
  // archiver cleans names; the hostile ones are patched in afterwards, same length.
  if (names) {
    let bytes = await readFile(path);
    for (const [from, to] of Object.entries(names)) bytes = Buffer.from(bytes.toString("latin1").split(from).join(to), "latin1");
    await writeFile(path, bytes);
  }
  return path;
}

async function tarOf(entries: Array<{ name: string; type?: "file" | "directory" | "symlink" | "link"; data?: Buffer; linkname?: string }>, path: string): Promise<string> {
  const pack = tarStream.pack();
  for (const e of entries) pack.entry({ name: e.name, type: e.type ?? "file", ...(e.linkname ? { linkname: e.linkname } : {}) }, e.data ?? "");
  pack.finalize();
  await pipeline(pack, createWriteStream(path));
  return path;
}

async function layout(files: Files, dir: string): Promise<string> {
  for (const [name, data] of files) {
    if (data === null) await mkdir(join(dir, name), { recursive: true });
    else {
      await mkdir(join(dir, name, ".."), { recursive: true });
      await writeFile(join(dir, name), data);
    }
  }
  return dir;
}

/** name -> sha256 of each file entry, read back with the reference readers. */
async function readBack(path: string, format: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (format === "zip") {
    const zip = await yauzl.openPromise(path, { lazyEntries: true });
    for (;;) {
      const entry = await new Promise<yauzl.Entry | null>((resolve, reject) => {
        zip.once("entry", resolve).once("end", () => resolve(null)).once("error", reject);
        zip.readEntry();
      });
      zip.removeAllListeners("entry").removeAllListeners("end").removeAllListeners("error");
      if (!entry) break;
      if (entry.fileName.endsWith("/")) continue;
      const stream = await zip.openReadStreamPromise(entry);
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      out.set(entry.fileName, sha(Buffer.concat(chunks)));
    }
    zip.close();
  } else if (format === "tar" || format === "tgz") {
    const extract = tarStream.extract();
    const src = createReadStream(path);
    void pipeline(format === "tgz" ? src.pipe(createGunzip()) : src, extract);
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      if (entry.header.type === "file") out.set(entry.header.name, sha(Buffer.concat(chunks)));
    }
  } else {
    const dir = await mkdtemp(join(root, "x7-"));
    execFileSync("7zz", ["x", "-y", `-o${dir}`, path], { stdio: "ignore" });
    const listing = execFileSync("7zz", ["l", "-slt", "-ba", path]).toString();
    for (const block of listing.split("\n\n")) {
      const name = /^Path = (.*)$/m.exec(block)?.[1];
      if (name && !/Attributes = D/.test(block)) out.set(name, sha(await readFile(join(dir, name))));
    }
  }
  return out;
}

const expected = () => new Map(FILES.filter(([, d]) => d).map(([n, d]) => [n, sha(d as Buffer)]));

/** Extracts and expects `code`, with the work folder as empty after as before. */
async function refused(input: string, format: string, code: string, limits?: Partial<ArchiveLimits>, options?: object): Promise<string> {
  const err = await failure(engine.extract({ inputPath: input, format, workDir: work, ...(limits ? { limits: { archive: { ...DEFAULT_ARCHIVE_LIMITS, ...limits } } } : {}), ...(options ? { options } : {}) }));
  expect(err.code, err.message).toBe(code);
  expect(await readdir(work)).toEqual([]);
  return err.message;
}

describe.skipIf(!available)("archive engine", () => {
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "transmute-archive-"));
    engine = createArchiveEngine({ timeoutMs: 30_000 });
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });
  beforeEach(async () => {
    work = await mkdtemp(join(root, "work-"));
  });

  it("probes every archive pair and extract", async () => {
    const probe = await probeArchive();
    expect(probe.available).toBe(true);
    expect(probe.conversions).toHaveLength(16);
    expect(probe.conversions).toContainEqual({ from: "7z", to: "7z", operation: "extract" });
    const without = await probeArchive({ sevenZip: "/nonexistent/7zz" });
    expect(without.available).toBe(true);
    expect(without.conversions.some((c) => c.from === "7z" || c.to === "7z")).toBe(false);
    expect(without.missing).toMatch(/7zip/);
  });

  it.each([["zip", "tar"], ["zip", "tgz"], ["tar", "zip"], ["zip", "7z"], ["7z", "zip"], ["tgz", "7z"]])("repacks %s to %s keeping names and bytes", async (from, to) => {
    const src = join(work, `in.${from}`);
    if (from === "zip") await zipOf(FILES, src);
    else if (from === "7z") execFileSync("7zz", ["a", "-t7z", src, "./*"], { cwd: await layout(FILES, await mkdtemp(join(root, "src-"))), stdio: "ignore" });
    else await tarOf(FILES.map(([name, data]) => (data ? { name, data } : { name, type: "directory" as const })), src.replace(/\.tgz$/, ".tar"));
    if (from === "tgz") execFileSync("sh", ["-c", `gzip -c "${src.replace(/\.tgz$/, ".tar")}" > "${src}"`]);
    const out = join(work, `out.${to}`);
    const result = await engine.convert({ inputPath: src, outputPath: out, inputFormat: from, outputFormat: to, workDir: work });
    expect(result.format).toBe(to);
    expect(result.size).toBe((await stat(out)).size);
    expect(await readBack(out, to)).toEqual(expected());
    expect((await readdir(work)).filter((n) => n.startsWith(".archive-"))).toEqual([]);
  });

  it("extracts files under numbered names, with unique base names and entry paths", async () => {
    const files: Files = [["x/a.txt", Buffer.from("one")], ["y/", null], ["y/a.txt", Buffer.from("two")], ["A.TXT", Buffer.from("three")], ["z/b", Buffer.from("four")]];
    const src = await zipOf(files, join(root, "dups.zip"));
    const result = await engine.extract({ inputPath: src, format: "zip", workDir: work });
    expect(result.files.map((f) => f.name)).toEqual(["a.txt", "a (2).txt", "A (3).TXT", "b"]);
    expect(result.details?.entries).toEqual(["x/a.txt", "y/a.txt", "A.TXT", "z/b"]);
    const bytes = await Promise.all(result.files.map((f) => readFile(f.path, "utf8")));
    expect(bytes).toEqual(["one", "two", "three", "four"]);
    for (const f of result.files) expect(f.path.startsWith(work)).toBe(true);
    expect(result.files.every((f) => /\/\d{6}$/.test(f.path))).toBe(true);
  });

  it("stops a zip bomb after a few megabytes, without ballooning memory", async () => {
    const src = await zipOf([["zeros.bin", Buffer.alloc(50 * 1024 * 1024)]], join(root, "bomb.zip"));
    expect((await stat(src)).size).toBeLessThan(300_000);
    const rss = process.memoryUsage().rss;
    const started = Date.now();
    const message = await refused(src, "zip", "limit_exceeded", { maxRatio: 100, maxBytes: 10 * 1024 * 1024 });
    expect(message).toMatch(/maxRatio/);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(process.memoryUsage().rss - rss).toBeLessThan(40 * 1024 * 1024);
    // A call only tightens the engine's limits: a looser ratio needs an engine set up with one.
    const loose = createArchiveEngine({ limits: { ...DEFAULT_ARCHIVE_LIMITS, maxRatio: 100_000, maxBytes: 10 * 1024 * 1024 } });
    const err = await failure(loose.extract({ inputPath: src, format: "zip", workDir: work }));
    expect(err.message).toMatch(/maxBytes/);
    expect(await readdir(work)).toEqual([]);
  });

  it("refuses more entries than maxEntries", async () => {
    const src = await zipOf(Array.from({ length: 20 }, (_, i): [string, Buffer] => [`f${i}.txt`, Buffer.from(String(i))]), join(root, "many.zip"));
    expect(await refused(src, "zip", "limit_exceeded", { maxEntries: 10 })).toMatch(/maxEntries/);
    const tar = await tarOf(Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, data: Buffer.from("x") })), join(root, "many.tar"));
    expect(await refused(tar, "tar", "limit_exceeded", { maxEntries: 10 })).toMatch(/maxEntries/);
  });

  it("refuses zip-slip and absolute names, writing nothing outside workDir", async () => {
    const before = await readdir(root);
    const slip = await zipOf([["ok.txt", Buffer.from("ok")], ["XX/evil.txt", Buffer.from("evil")]], join(root, "slip.zip"), { "XX/evil.txt": "../evil.txt" });
    expect(await refused(slip, "zip", "unsafe_archive")).toContain('"../evil.txt"');
    const abs = await zipOf([["Xabs.txt", Buffer.from("abs")]], join(root, "abs.zip"), { "Xabs.txt": "/abs.txt" });
    expect(await refused(abs, "zip", "unsafe_archive")).toContain('"/abs.txt"');
    const win = await tarOf([{ name: "C:\\x.txt", data: Buffer.from("w") }], join(root, "win.tar"));
    await refused(win, "tar", "unsafe_archive");
    expect(await readdir(root)).toEqual([...before, "abs.zip", "slip.zip", "win.tar"].sort());
    await expect(stat(join(root, "evil.txt"))).rejects.toThrow();
    await expect(stat("/abs.txt")).rejects.toThrow();
  });

  it("refuses tar symlinks and hard links, also in a repack", async () => {
    const sym = await tarOf([{ name: "a.txt", data: Buffer.from("a") }, { name: "l", type: "symlink", linkname: "/etc/passwd" }], join(root, "sym.tar"));
    expect(await refused(sym, "tar", "unsafe_archive")).toMatch(/"l" is a symbolic link/);
    const hard = await tarOf([{ name: "a.txt", data: Buffer.from("a") }, { name: "h", type: "link", linkname: "a.txt" }], join(root, "hard.tar"));
    expect(await refused(hard, "tar", "unsafe_archive")).toMatch(/hard link/);
    const err = await failure(engine.convert({ inputPath: sym, outputPath: join(work, "o.zip"), inputFormat: "tar", outputFormat: "zip", workDir: work }));
    expect(err.code).toBe("unsafe_archive");
    expect(await readdir(work)).toEqual([]);
  });

  it("opens nested archives and refuses nesting deeper than maxDepth", async () => {
    const inner = await zipOf([["deep.txt", Buffer.from("deep")]], join(root, "l3.zip"));
    const middle = await zipOf([["l3.zip", await readFile(inner)]], join(root, "l2.zip"));
    const outer = await zipOf([["l2.zip", await readFile(middle)], ["top.txt", Buffer.from("top")]], join(root, "l1.zip"));
    expect(await refused(outer, "zip", "limit_exceeded", { maxDepth: 1 })).toMatch(/maxDepth/);
    const ok = await engine.extract({ inputPath: outer, format: "zip", workDir: work, limits: { archive: { ...DEFAULT_ARCHIVE_LIMITS, maxDepth: 2 } } });
    expect(ok.files.map((f) => f.name)).toEqual(["l2.zip", "top.txt"]);
    // A bomb one level down is counted through the outer archive.
    const bomb = await zipOf([["zeros", Buffer.alloc(20 * 1024 * 1024)]], join(root, "inner-bomb.zip"));
    const wrapper = await tarOf([{ name: "inner.zip", data: await readFile(bomb) }], join(root, "wrap.tar"));
    await rm(work, { recursive: true });
    await mkdir(work);
    expect(await refused(wrapper, "tar", "limit_exceeded", { maxRatio: 100 })).toMatch(/maxRatio/);
  });

  it("needs the password of an encrypted zip or 7z, and opens it with the password", async () => {
    const dir = await layout([["secret.txt", Buffer.from("hush")]], await mkdtemp(join(root, "enc-")));
    const zip = join(root, "enc.zip");
    const sz = join(root, "enc.7z");
    execFileSync("7zz", ["a", "-tzip", "-psecret", zip, "secret.txt"], { cwd: dir, stdio: "ignore" });
    execFileSync("7zz", ["a", "-t7z", "-psecret", "-mhe=on", sz, "secret.txt"], { cwd: dir, stdio: "ignore" });
    for (const [path, format] of [[zip, "zip"], [sz, "7z"]] as const) {
      expect(await refused(path, format, "password_protected")).toMatch(/options\.password/);
      expect(await refused(path, format, "password_protected", undefined, { password: "wrong" })).toMatch(/does not open/);
      const result = await engine.extract({ inputPath: path, format, workDir: work, options: { password: "secret" } });
      expect(result.files.map((f) => f.name)).toEqual(["secret.txt"]);
      expect(await readFile(result.files[0]!.path, "utf8")).toBe("hush");
      await rm(work, { recursive: true });
      await mkdir(work);
    }
  });

  it("refuses empty, truncated, corrupt and mislabelled archives as corrupt_file", async () => {
    const empty = join(root, "empty.zip");
    await writeFile(empty, "");
    await refused(empty, "zip", "corrupt_file");
    const good = await readFile(await zipOf(FILES, join(root, "good.zip")));
    const truncated = join(root, "trunc.zip");
    await writeFile(truncated, good.subarray(0, good.length - 30));
    await refused(truncated, "zip", "corrupt_file");
    const tgz = join(root, "trunc.tgz");
    const tar = await readFile(await tarOf([{ name: "big", data: randomBytes(100_000) }], join(root, "big.tar")));
    const gz = gzipSync(tar);
    await writeFile(tgz, gz.subarray(0, gz.length >> 1));
    await refused(tgz, "tgz", "corrupt_file");
    const garbage = join(root, "garbage.7z");
    await writeFile(garbage, Buffer.concat([Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]), Buffer.alloc(100, 1)]));
    await refused(garbage, "7z", "corrupt_file");
    const text = join(root, "text.zip");
    await writeFile(text, "just some text, not a zip at all");
    await refused(text, "zip", "corrupt_file");
    expect(await refused(join(root, "good.zip"), "7z", "unsupported_format")).toMatch(/not a 7z archive/);
  });

  it("stops on abort and on timeout, leaving nothing", async () => {
    const src = await zipOf([["a", Buffer.alloc(1000)]], join(root, "small.zip"));
    const controller = new AbortController();
    controller.abort();
    const err = await failure(engine.extract({ inputPath: src, format: "zip", workDir: work }, { signal: controller.signal }));
    expect(err.code).toBe("canceled");
    expect(await readdir(work)).toEqual([]);
    const big = await zipOf([["z", Buffer.alloc(30 * 1024 * 1024)]], join(root, "slow.zip"));
    const slow = await failure(engine.convert({ inputPath: big, outputPath: join(work, "o.7z"), inputFormat: "zip", outputFormat: "7z", workDir: work }, { timeoutMs: 1 }));
    expect(slow.code).toBe("engine_timeout");
    expect(await readdir(work)).toEqual([]);
  });
});
