/**
 * secureArchive against real zip, tar and tgz archives made here (archiver, tar-stream) and read
 * back with yauzl and tar-stream. The member securer is a real small one: text members come back
 * uppercased as `<stem>.txt`, anything else is refused with an AppError. Checks that unsafe
 * entries, refused members and members past the cap are dropped and listed, that the guards
 * still refuse bombs, and that every failure leaves the work folder as it found it.
 */
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip, gzipSync } from "node:zlib";
import archiver from "archiver";
import tarStream from "tar-stream";
import yauzl from "yauzl";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AppError } from "@transmute/core";
import { DEFAULT_ARCHIVE_LIMITS, secureArchive, type SecureArchiveRequest } from "../dist/index.js";
import { failure } from "./failure.js";

type TarEntry = { name: string; type?: "file" | "directory" | "symlink" | "link"; data?: Buffer | string; linkname?: string };
type ZipEntry = { name: string; data?: Buffer | string; symlink?: string; store?: boolean };

const EXE = Buffer.concat([Buffer.from("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff", "latin1"), randomBytes(200)]);

let root: string;
let inputs: string;
let work: string;
/** Formats the securer was handed, by member name. */
let seen: Map<string, string | null>;

async function tarOf(entries: TarEntry[], path: string, gzip = false): Promise<string> {
  const pack = tarStream.pack();
  for (const e of entries) pack.entry({ name: e.name, type: e.type ?? "file", ...(e.linkname ? { linkname: e.linkname } : {}) }, e.data ?? "");
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  const tar = Buffer.concat(chunks);
  await writeFile(path, gzip ? gzipSync(tar) : tar);
  return path;
}

/** A zip; `rename` patches names afterwards, same length (archiver cleans hostile names). */
async function zipOf(entries: ZipEntry[], path: string, rename: Record<string, string> = {}): Promise<string> {
  const archive = archiver("zip");
  const out = createWriteStream(path);
  const done = new Promise<void>((resolve) => out.on("close", () => resolve()));
  archive.pipe(out);
  for (const e of entries) {
    if (e.symlink) archive.symlink(e.name, e.symlink);
    else archive.append(typeof e.data === "string" ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0)), { name: e.name, ...(e.store ? { store: true } : {}) });
  }
  await archive.finalize();
  await done;
  let bytes = await readFile(path);
  for (const [from, to] of Object.entries(rename)) bytes = Buffer.from(bytes.toString("latin1").split(from).join(to), "latin1");
  await writeFile(path, bytes);
  return path;
}

/**
 * [name, content] of each file entry of the output, with the reference readers, sorted by name:
 * archive-write's archiver stats files 4 at a time and may write them out of order.
 */
async function readBack(path: string, format: "zip" | "tar" | "tgz"): Promise<Array<[string, string]>> {
  const sorted = (map: Map<string, string>) => [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const out = new Map<string, string>();
  if (format === "zip") {
    const zip = await yauzl.openPromise(path, { lazyEntries: true });
    for (;;) {
      const entry = await new Promise<yauzl.Entry | null>((resolve, reject) => {
        zip.once("entry", resolve).once("end", () => resolve(null)).once("error", reject);
        zip.readEntry();
      });
      if (!entry) break;
      const chunks: Buffer[] = [];
      for await (const chunk of await zip.openReadStreamPromise(entry)) chunks.push(chunk as Buffer);
      out.set(entry.fileName, Buffer.concat(chunks).toString());
    }
    zip.close();
    return sorted(out);
  }
  const extract = tarStream.extract();
  const bytes = await readFile(path);
  Readable.from([format === "tgz" ? await gunzip(bytes) : bytes]).pipe(extract);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    out.set(entry.header.name, Buffer.concat(chunks).toString());
  }
  return sorted(out);
}

async function gunzip(bytes: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(Readable.from([bytes]), createGunzip(), async function* (source) {
    for await (const chunk of source) chunks.push(chunk as Buffer);
  });
  return Buffer.concat(chunks);
}

/** The test securer: text comes back uppercased as `<stem>.txt`; anything else is refused. */
async function upperText(member: { path: string; name: string; format: string | null }, dir: string): Promise<{ path: string; name: string }> {
  seen.set(member.name, member.format);
  if (member.format !== "txt") throw new AppError("unsupported_format", `${member.format ?? "unrecognised"} files cannot be secured`);
  const name = `${member.name.replace(/\.[^.]*$/, "")}.txt`;
  const path = join(dir, "secured.txt");
  await writeFile(path, (await readFile(member.path, "utf8")).toUpperCase());
  return { path, name };
}

function request(inputPath: string, format: "zip" | "tar" | "tgz", over: Partial<SecureArchiveRequest> = {}): SecureArchiveRequest {
  return { inputPath, format, workDir: work, outputPath: join(work, `out.${format}`), maxFiles: 100, limits: DEFAULT_ARCHIVE_LIMITS, timeoutMs: 30_000, secureMember: upperText, ...over };
}

const CLIMBS = "has a path that climbs out of the archive (..)";

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "secure-archive-"));
  inputs = join(root, "inputs");
  await mkdir(inputs);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
beforeEach(async () => {
  work = await mkdtemp(join(root, "work-"));
  seen = new Map();
});

describe("secureArchive", () => {
  it("keeps only the secured members of a tar and lists every dropped entry with its reason", async () => {
    const input = await tarOf([
      { name: "../evil.txt", data: "escape\n" },
      { name: "docs/", type: "directory" },
      { name: "docs/link", type: "symlink", linkname: "/etc/passwd" },
      { name: "docs/hard", type: "link", linkname: "docs/a.md" },
      { name: "bin/tool.exe", data: EXE },
      { name: "docs/a.md", data: "alpha\n" },
      { name: "b.txt", data: "beta\n" },
    ], join(inputs, "mixed.tar"));
    const result = await secureArchive(request(input, "tar"));
    expect(result.members).toEqual(["docs/a.txt", "b.txt"]);
    expect(result.dropped).toEqual([
      { name: "../evil.txt", reason: CLIMBS },
      { name: "docs/link", reason: "is a symbolic link" },
      { name: "docs/hard", reason: "is a hard link" },
      { name: "bin/tool.exe", reason: "unrecognised files cannot be secured" },
    ]);
    const back = await readBack(join(work, "out.tar"), "tar");
    expect(back).toEqual([["b.txt", "BETA\n"], ["docs/a.txt", "ALPHA\n"]]);
    expect(result.size).toBe((await stat(join(work, "out.tar"))).size);
    // Only the output is left: the members, their folders and the scratch are gone.
    expect(await readdir(work)).toEqual(["out.tar"]);
  });

  it("does the same for a zip, with a zip-slip name and a symlink entry", async () => {
    const input = await zipOf([
      { name: "xx/evil.txt", data: "escape\n" },
      { name: "lnk", symlink: "../../etc/passwd" },
      { name: "tool.exe", data: EXE },
      { name: "one.txt", data: "one\n" },
      { name: "sub/two.csv", data: "two,2\n" },
    ], join(inputs, "mixed.zip"), { "xx/evil.txt": "../evil.txt" });
    const result = await secureArchive(request(input, "zip"));
    expect(result.dropped).toEqual([
      { name: "../evil.txt", reason: CLIMBS },
      { name: "lnk", reason: "is a symbolic link" },
      { name: "tool.exe", reason: "unrecognised files cannot be secured" },
    ]);
    const back = await readBack(join(work, "out.zip"), "zip");
    expect(back).toEqual([["one.txt", "ONE\n"], ["sub/two.txt", "TWO,2\n"]]);
    expect(result.members).toEqual(["one.txt", "sub/two.txt"]);
  });

  it("takes at most maxFiles members, in archive order, and drops the rest", async () => {
    const input = await zipOf([{ name: "d/", data: "" }, { name: "a.txt", data: "a" }, { name: "b.txt", data: "b" }, { name: "c.txt", data: "c" }], join(inputs, "three.zip"));
    const result = await secureArchive(request(input, "zip", { maxFiles: 1 }));
    expect(result.members).toEqual(["a.txt"]);
    expect(result.dropped).toEqual([{ name: "b.txt", reason: "over max_files_per_archive" }, { name: "c.txt", reason: "over max_files_per_archive" }]);
    expect(await readBack(join(work, "out.zip"), "zip")).toEqual([["a.txt", "A"]]);
  });

  it("round-trips a tgz and keeps two members that now share a name apart", async () => {
    const input = await tarOf([{ name: "r.md", data: "first" }, { name: "r.txt", data: "second" }, { name: "deep/er/x.txt", data: "x" }], join(inputs, "round.tgz"), true);
    const result = await secureArchive(request(input, "tgz"));
    expect(result.members).toEqual(["r.txt", "r (2).txt", "deep/er/x.txt"]);
    const out = join(work, "out.tgz");
    expect((await readFile(out)).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(await readBack(out, "tgz")).toEqual([["deep/er/x.txt", "X"], ["r (2).txt", "SECOND"], ["r.txt", "FIRST"]]);
  });

  it("identifies a member by its bytes, a docx among zips by its entries", async () => {
    const docx = join(inputs, "inner.zip");
    // A stored first entry larger than the head: the docx's names are only in the central directory.
    await zipOf([{ name: "pad.bin", data: randomBytes(6000), store: true }, { name: "[Content_Types].xml", data: "<Types/>" }, { name: "word/document.xml", data: "<w/>" }], docx);
    const plain = await readFile(await zipOf([{ name: "x", data: "x" }], join(inputs, "p.zip")));
    const binary = Buffer.from("\x00\x01\x02\x03binary\x00\x00", "latin1");
    const input = await zipOf([
      { name: "report.txt", data: binary },
      { name: "letter.doc", data: await readFile(docx) },
      { name: "plain.zip", data: plain },
      { name: "ok.bin", data: "text after all" },
    ], join(inputs, "kinds.zip"));
    const result = await secureArchive(request(input, "zip"));
    expect(Object.fromEntries(seen)).toEqual({ "report.txt": null, "letter.doc": "docx", "plain.zip": "zip", "ok.bin": "txt" });
    expect(result.members).toEqual(["ok.txt"]);
  });

  it("refuses a zip bomb whole with limit_exceeded and leaves nothing behind", async () => {
    const input = await zipOf([{ name: "a.txt", data: "fine" }, { name: "zeros.txt", data: Buffer.alloc(30 * 1024 * 1024, 0x41) }], join(inputs, "bomb.zip"));
    const err = await failure(secureArchive(request(input, "zip")));
    expect(err.code).toBe("limit_exceeded");
    expect(err.message).toMatch(/expands more than 200 times/);
    expect(await readdir(work)).toEqual([]);
  });

  it("counts the bytes of dropped entries: a tgz bomb under an unsafe name still fails", async () => {
    const input = await tarOf([{ name: "ok.txt", data: "ok" }, { name: "../zeros", data: Buffer.alloc(30 * 1024 * 1024, 0) }], join(inputs, "bomb.tgz"), true);
    const err = await failure(secureArchive(request(input, "tgz", { maxFiles: 1 })));
    expect(err.code).toBe("limit_exceeded");
    expect(await readdir(work)).toEqual([]);
  });

  it("checks archives inside: a nested bomb fails the call, a nested link drops that member", async () => {
    const bomb = await readFile(await zipOf([{ name: "zeros", data: Buffer.alloc(30 * 1024 * 1024, 0) }], join(inputs, "inner-bomb.zip")));
    const outer = await tarOf([{ name: "a.txt", data: "a" }, { name: "inner.zip", data: bomb }], join(inputs, "nested-bomb.tar"));
    const err = await failure(secureArchive(request(outer, "tar")));
    expect(err).toMatchObject({ code: "limit_exceeded" });
    expect(await readdir(work)).toEqual([]);

    const linked = await tarOf([{ name: "x", type: "symlink", linkname: "/etc/passwd" }], join(inputs, "inner-link.tar"));
    const input = await zipOf([{ name: "a.txt", data: "a" }, { name: "in/inner.tar", data: await readFile(linked) }], join(inputs, "nested-link.zip"));
    const result = await secureArchive(request(input, "zip"));
    expect(result.members).toEqual(["a.txt"]);
    expect(result.dropped).toEqual([{ name: "in/inner.tar", reason: expect.stringMatching(/^is an archive that holds an unsafe entry \(.*"x" is a symbolic link/) }]);
    // The securer never saw the nested archive.
    expect([...seen.keys()]).toEqual(["a.txt"]);
  });

  it("fails with processing_failed and no output when nothing could be secured", async () => {
    const input = await tarOf([{ name: "a.exe", data: EXE }, { name: "../b.txt", data: "b" }, { name: "d/", type: "directory" }], join(inputs, "none.tar"));
    const err = await failure(secureArchive(request(input, "tar")));
    expect(err).toMatchObject({ code: "processing_failed", message: "nothing in the archive could be secured" });
    expect(await readdir(work)).toEqual([]);
  });

  it("refuses damaged archives and bytes that are not the declared container", async () => {
    const zip = await zipOf([{ name: "a.txt", data: "a" }], join(inputs, "cut.zip"));
    await writeFile(zip, (await readFile(zip)).subarray(0, 40));
    expect((await failure(secureArchive(request(zip, "zip")))).code).toBe("corrupt_file");
    const tar = await tarOf([{ name: "a.txt", data: "a" }], join(inputs, "plain.tar"));
    expect((await failure(secureArchive(request(tar, "zip")))).code).toBe("unsupported_format");
    await writeFile(join(inputs, "empty.tgz"), "");
    expect((await failure(secureArchive(request(join(inputs, "empty.tgz"), "tgz")))).code).toBe("corrupt_file");
    expect(await readdir(work)).toEqual([]);
  });

  it("rethrows a securer's non-AppError (a bug) instead of dropping the member", async () => {
    const input = await zipOf([{ name: "a.txt", data: "a" }], join(inputs, "bug.zip"));
    const err = await failure(secureArchive(request(input, "zip", { secureMember: () => Promise.reject(new TypeError("boom")) })));
    expect(err).toBeInstanceOf(TypeError);
    expect(await readdir(work)).toEqual([]);
  });

  it("cancels: before it starts, and while a member is being secured (the securer sees the signal)", async () => {
    const input = await tarOf([{ name: "a.txt", data: "a" }, { name: "b.txt", data: "b" }], join(inputs, "cancel.tar"));
    const early = new AbortController();
    early.abort();
    expect((await failure(secureArchive(request(input, "tar", { signal: early.signal })))).code).toBe("canceled");
    const late = new AbortController();
    let sawAbort = false;
    const slow: SecureArchiveRequest["secureMember"] = (_member, _dir, signal) => new Promise((_resolve, reject) => {
      signal.addEventListener("abort", () => {
        sawAbort = true;
        reject(new AppError("canceled", "stopped"));
      }, { once: true });
      setTimeout(() => late.abort(), 20);
    });
    expect((await failure(secureArchive(request(input, "tar", { signal: late.signal, secureMember: slow })))).code).toBe("canceled");
    expect(sawAbort).toBe(true);
    expect(await readdir(work)).toEqual([]);
  });

  it("times out with engine_timeout, a securer that ignores the signal included", async () => {
    const input = await tarOf([{ name: "a.txt", data: "a" }], join(inputs, "slow.tar"));
    const stuck: SecureArchiveRequest["secureMember"] = async (_member, dir) => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      await writeFile(join(dir, "late.txt"), "late");
      return { path: join(dir, "late.txt"), name: "late.txt" };
    };
    const started = Date.now();
    expect((await failure(secureArchive(request(input, "tar", { timeoutMs: 100, secureMember: stuck })))).code).toBe("engine_timeout");
    // It waited for the securer to settle (300 ms), not the 10 s grace, and removed what it wrote.
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await readdir(work)).toEqual([]);
  });
});
