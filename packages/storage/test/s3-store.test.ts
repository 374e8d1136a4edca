/**
 * The S3 driver against a real S3-compatible server (s3rver on loopback): the same behaviours
 * the local driver's tests check, plus multipart uploads and their cleanup.
 */
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { S3RVER_CREDENTIALS, startS3Server, type TestS3Server } from "../../../test/support/s3-server.js";
import { createS3Store, type S3Store } from "../src/index.js";

const BUCKET = "store";
const MIB = 1024 * 1024;

let server: TestS3Server;
let store: S3Store;
let prefix: string;
let testCount = 0;

beforeAll(async () => {
  server = await startS3Server([BUCKET, "bare"]);
});

afterAll(async () => {
  await server?.close();
});

beforeEach(() => {
  // A fresh store prefix per test keeps tests apart in one bucket and exercises `prefix`.
  prefix = `run${++testCount}/`;
  store = makeStore({ prefix });
});

afterEach(() => store.close());

function makeStore(extra: { prefix?: string; bucket?: string; partSize?: number } = {}): S3Store {
  return createS3Store({ endpoint: server.endpoint, region: "us-east-1", bucket: BUCKET, ...S3RVER_CREDENTIALS, ...extra });
}

function digest(algorithm: string, data: Buffer): string {
  return createHash(algorithm).update(data).digest("hex");
}

/** Every object key in the bucket under `under`, straight from the server: what a leak would leave. */
async function bucketKeys(under = prefix, bucket = BUCKET): Promise<string[]> {
  const page = await server.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: under }));
  return (page.Contents ?? []).map((o) => o.Key ?? "").sort();
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

async function listKeys(prefixToList: string, from: S3Store = store): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of from.list(prefixToList)) keys.push(key);
  return keys.sort();
}

function pattern(size: number): Buffer {
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i++) data[i] = (i * 31) % 251;
  return data;
}

describe("put and get", () => {
  it("round-trips bytes with checksums matching node:crypto, under the store prefix", async () => {
    const data = pattern(3 * MIB + 17);
    const result = await store.put("tasks/t1/1/0", Readable.from([data.subarray(0, 1000), data.subarray(1000, 2_000_000), data.subarray(2_000_000)]));

    expect(result).toEqual({ key: "tasks/t1/1/0", size: data.length, sha256: digest("sha256", data), md5: digest("md5", data) });
    expect((await readAll(await store.get("tasks/t1/1/0"))).equals(data)).toBe(true);
    expect(await store.stat("tasks/t1/1/0")).toEqual({ size: data.length });
    expect(await bucketKeys()).toEqual([`${prefix}tasks/t1/1/0`]);
  });

  it("stores keys as they are without a prefix, and an empty object", async () => {
    const bare = makeStore({ bucket: "bare" });
    const result = await bare.put("empty", Readable.from([]), { contentType: "text/plain" });
    expect(result).toEqual({ key: "empty", size: 0, sha256: digest("sha256", Buffer.alloc(0)), md5: digest("md5", Buffer.alloc(0)) });
    expect(await bare.stat("empty")).toEqual({ size: 0 });
    expect((await readAll(await bare.get("empty"))).length).toBe(0);
    // No ranged read of the empty object: s3rver answers Content-Length 1 and then stalls (S3 answers 416).
    expect(await bucketKeys("", "bare")).toEqual(["empty"]);
    bare.close();
  });

  it("refuses a bad prefix or part size as configuration bugs", () => {
    expect(() => makeStore({ prefix: "no-slash" })).toThrow(expect.objectContaining({ code: "internal_error" }));
    expect(() => makeStore({ prefix: "../x/" })).toThrow(expect.objectContaining({ code: "internal_error" }));
    expect(() => makeStore({ partSize: MIB })).toThrow(expect.objectContaining({ code: "internal_error" }));
  });

  it("replaces an existing object and accepts exactly maxBytes", async () => {
    await store.put("a/b", Readable.from([Buffer.from("first version, longer")]));
    const result = await store.put("a/b", Readable.from([Buffer.from("second")]), { maxBytes: 6 });
    expect(result.size).toBe(6);
    expect(await text(await store.get("a/b"))).toBe("second");
  });

  it.each([-1, 1.5, Number.NaN])("refuses maxBytes %s as a caller bug", async (maxBytes) => {
    await expect(store.put("k", Readable.from([Buffer.alloc(1)]), { maxBytes })).rejects.toMatchObject({ code: "internal_error" });
    expect(await bucketKeys()).toEqual([]);
  });

  it("refuses a small body past maxBytes with payload_too_large, keeping the old object", async () => {
    await store.put("k", Readable.from([Buffer.from("old")]));
    await expect(store.put("k", Readable.from([Buffer.alloc(100)]), { maxBytes: 50 })).rejects.toMatchObject({ code: "payload_too_large", status: 413 });
    expect(await text(await store.get("k"))).toBe("old");
    expect(await bucketKeys()).toEqual([`${prefix}k`]);
  });

  it("stops a multipart upload at maxBytes, aborts it and leaves no object", async () => {
    const small = makeStore({ prefix, partSize: 5 * MIB });
    let produced = 0;
    const source = Readable.from(
      (async function* () {
        for (let i = 0; i < 400; i++) {
          produced += 64 * 1024;
          yield Buffer.alloc(64 * 1024, 1);
        }
      })(),
    );
    const before = server.requests.length;

    await expect(small.put("tasks/t/1/0", source, { maxBytes: 12 * MIB })).rejects.toMatchObject({ code: "payload_too_large" });

    expect(produced).toBeLessThan(400 * 64 * 1024);
    const sent = server.requests.slice(before);
    expect(sent.some((r) => r.startsWith(`POST /${BUCKET}/${prefix}tasks/t/1/0?uploads`))).toBe(true);
    // s3rver does not implement AbortMultipartUpload (it answers 405), but the request must go
    // out before put rejects: on S3 that is what frees the parts.
    expect(sent.some((r) => /^DELETE \/store\/.*\?uploadId=/.test(r))).toBe(true);
    expect(sent.some((r) => r.startsWith("POST") && r.includes("uploadId="))).toBe(false); // never completed
    expect(await small.stat("tasks/t/1/0")).toBeNull();
    expect(await bucketKeys()).toEqual([]);
    small.close();
  });

  it("leaves nothing when the source errors, is destroyed, or the signal aborts", async () => {
    const failing = Readable.from(
      (async function* () {
        yield Buffer.alloc(100_000, 7);
        throw new Error("client went away");
      })(),
    );
    await expect(store.put("tasks/t/1/0", failing)).rejects.toThrow("client went away");

    const destroyed = new PassThrough();
    const pending = store.put("k", destroyed);
    destroyed.write(Buffer.alloc(1000));
    setTimeout(() => destroyed.destroy(), 20);
    await expect(pending).rejects.toThrow();

    const aborted = new PassThrough();
    const controller = new AbortController();
    const pendingAbort = store.put("k2", aborted, { signal: controller.signal });
    aborted.write(Buffer.alloc(1000));
    setTimeout(() => controller.abort(), 20);
    await expect(pendingAbort).rejects.toMatchObject({ name: "AbortError" });
    expect(aborted.destroyed).toBe(true);
    expect(await bucketKeys()).toEqual([]);
  });

  it("reads byte ranges, both ends inclusive", async () => {
    await store.put("r", Readable.from([Buffer.from("0123456789")]));
    expect(await text(await store.get("r", { start: 2, end: 5 }))).toBe("2345");
    expect(await text(await store.get("r", { start: 7 }))).toBe("789");
    expect(await text(await store.get("r", { end: 0 }))).toBe("0");
    expect(await text(await store.get("r", { start: 9, end: 9 }))).toBe("9");
    expect(await text(await store.get("r", { start: 8, end: 100 }))).toBe("89");
    expect(await text(await store.get("r", { start: 10 }))).toBe("");
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
    await expect(store.get("../etc/passwd")).rejects.toMatchObject({ code: "internal_error" });
  });

  it("sends a 20 MB body as a multipart upload and reads it back identical", async () => {
    const data = pattern(20 * MIB);
    const before = server.requests.length;
    const chunks: Buffer[] = [];
    for (let offset = 0; offset < data.length; offset += 1_000_000) chunks.push(data.subarray(offset, offset + 1_000_000));

    const result = await store.put("tasks/big/1/0", Readable.from(chunks));

    expect(result).toEqual({ key: "tasks/big/1/0", size: data.length, sha256: digest("sha256", data), md5: digest("md5", data) });
    const parts = server.requests.slice(before).filter((r) => r.startsWith("PUT") && r.includes("partNumber="));
    expect(parts).toHaveLength(3); // 8 + 8 + 4 MiB
    const back = await readAll(await store.get("tasks/big/1/0"));
    expect(digest("sha256", back)).toBe(result.sha256);
    // A range across the first part boundary.
    const across = await readAll(await store.get("tasks/big/1/0", { start: 8 * MIB - 5, end: 8 * MIB + 4 }));
    expect(across.equals(data.subarray(8 * MIB - 5, 8 * MIB + 5))).toBe(true);
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
    await expect(store.putFile("tasks/t/1/1", local, { maxBytes: 10 })).rejects.toMatchObject({ code: "payload_too_large" });
    await expect(store.putFile("tasks/t/1/2", path.join(scratch, "nope"))).rejects.toMatchObject({ code: "internal_error" });
    expect(await bucketKeys()).toEqual([`${prefix}tasks/t/1/0`]);
    await rm(scratch, { recursive: true, force: true });
  });
});

describe("delete, deletePrefix and list", () => {
  beforeEach(async () => {
    for (const key of ["tasks/a/1/0", "tasks/a/1/1", "tasks/a/2/0", "tasks/ab/1/0", "uploads/s1"]) {
      await store.put(key, Readable.from([Buffer.from(key)]));
    }
  });

  it("lists keys at or under a whole-segment prefix, never foreign objects", async () => {
    // Written by something else under the store prefix: not a valid key, so never listed.
    await server.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}odd name`, Body: "x" }));
    expect(await listKeys("")).toEqual(["tasks/a/1/0", "tasks/a/1/1", "tasks/a/2/0", "tasks/ab/1/0", "uploads/s1"]);
    expect(await listKeys("tasks/a")).toEqual(["tasks/a/1/0", "tasks/a/1/1", "tasks/a/2/0"]);
    expect(await listKeys("tasks/a/")).toEqual(["tasks/a/1/0", "tasks/a/1/1", "tasks/a/2/0"]);
    expect(await listKeys("uploads/s1")).toEqual(["uploads/s1"]);
    expect(await listKeys("nothing")).toEqual([]);
  });

  // s3rver pages with DES tokens: this needs the legacy provider vitest.config.ts gives the test processes.
  it("pages through listings longer than one page", async () => {
    const keys = Array.from({ length: 1005 }, (_, i) => `many/${String(i).padStart(4, "0")}`);
    for (let i = 0; i < keys.length; i += 50) {
      await Promise.all(keys.slice(i, i + 50).map((key) => server.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: prefix + key, Body: "x" }))));
    }
    expect(await listKeys("many")).toEqual(keys);
    await store.deletePrefix("many");
    expect(await listKeys("many")).toEqual([]);
  });

  it("deletes one object and is idempotent", async () => {
    await store.delete("tasks/a/2/0");
    await store.delete("tasks/a/2/0");
    await store.delete("never/existed");
    expect(await store.stat("tasks/a/2/0")).toBeNull();
    expect(await store.stat("tasks/a/1/0")).toEqual({ size: "tasks/a/1/0".length });
  });

  it("deletes a prefix and nothing that merely shares its first characters", async () => {
    await store.deletePrefix("tasks/a");
    expect(await listKeys("")).toEqual(["tasks/ab/1/0", "uploads/s1"]);
    await store.deletePrefix("tasks/missing");
    await store.deletePrefix("uploads/s1");
    expect(await bucketKeys()).toEqual([`${prefix}tasks/ab/1/0`]);
  });

  it("refuses an empty prefix for deletePrefix", async () => {
    await expect(store.deletePrefix("")).rejects.toMatchObject({ code: "internal_error" });
    await expect(store.deletePrefix("/")).rejects.toMatchObject({ code: "internal_error" });
    expect(await listKeys("")).toHaveLength(5);
  });
});

describe("materialize", () => {
  it("downloads the object into the scratch directory, isolated from the store", async () => {
    const scratch = await mkdtemp(path.join(os.tmpdir(), "transmute-scratch-"));
    await store.put("tasks/t/1/0", Readable.from([Buffer.from("input bytes")]));

    const byKey = await store.materialize("tasks/t/1/0", scratch);
    const named = await store.materialize("tasks/t/1/0", scratch, { name: "input-0.pdf" });

    expect(byKey).toBe(path.join(scratch, "tasks/t/1/0"));
    expect(named).toBe(path.join(scratch, "input-0.pdf"));
    expect(await readFile(byKey, "utf8")).toBe("input bytes");
    await writeFile(named, "scribbled");
    expect(await text(await store.get("tasks/t/1/0"))).toBe("input bytes");

    await expect(store.materialize("missing", scratch)).rejects.toMatchObject({ code: "not_found" });
    await expect(store.materialize("tasks/t/1/0", scratch, { name: "../escape" })).rejects.toMatchObject({ code: "internal_error" });
    await rm(scratch, { recursive: true, force: true });
  });
});

describe("errors", () => {
  it("maps a missing bucket to internal_error, naming the bucket only in detail", async () => {
    const wrong = createS3Store({ endpoint: server.endpoint, region: "us-east-1", bucket: "no-such-bucket", accessKeyId: "S3RVER", secretAccessKey: "S3RVER" });
    const err = await wrong.put("k", Readable.from([Buffer.from("x")])).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "internal_error", message: "Internal error", retryable: false });
    expect((err as { detail?: string }).detail).toMatch(/no-such-bucket.*NoSuchBucket/);
    expect((err as { detail?: string }).detail).not.toContain("S3RVER");
    wrong.close();
  });

  it("maps an unreachable store to a retryable service_unavailable", async () => {
    const down = createS3Store({ endpoint: "http://127.0.0.1:1", region: "us-east-1", bucket: BUCKET, ...S3RVER_CREDENTIALS });
    await expect(down.stat("k")).rejects.toMatchObject({ code: "service_unavailable", retryable: true });
    down.close();
  });

  it("probe passes on a usable bucket and stops on a missing one or a refused key, naming the cause", async () => {
    await expect(store.probe()).resolves.toBeUndefined();
    const missing = makeStore({ bucket: "no-such-bucket" });
    await expect(missing.probe()).rejects.toMatchObject({ code: "internal_error", detail: expect.stringMatching(/"no-such-bucket".*does not exist \(HTTP 404\)/) });
    missing.close();
    const refused = createS3Store({ endpoint: server.endpoint, region: "us-east-1", bucket: BUCKET, accessKeyId: "NOT-A-KEY-42", secretAccessKey: "wrong-secret-42" });
    const err = await refused.probe().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "internal_error", detail: expect.stringMatching(/credentials are refused or may not use the bucket \(HTTP 403\)/) });
    expect(JSON.stringify(err)).not.toMatch(/NOT-A-KEY-42|wrong-secret-42/);
    refused.close();
  });
});
