import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { base64Length, createBase64Encoder } from "../src/base64-stream.js";

/** Encodes `bytes` fed in chunks of the given sizes (the last chunk takes the rest). */
async function encodeInChunks(bytes: Buffer, sizes: number[]): Promise<string> {
  const chunks: Buffer[] = [];
  let at = 0;
  for (const size of sizes) {
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  if (at < bytes.length) chunks.push(bytes.subarray(at));
  return (await buffer(Readable.from(chunks).pipe(createBase64Encoder()))).toString("ascii");
}

const BYTES = Buffer.from(Array.from({ length: 40 }, (_, i) => (i * 37 + 11) & 0xff));

describe("createBase64Encoder", () => {
  it.each([
    ["empty", 0, []],
    ["one byte", 1, []],
    ["two bytes", 2, []],
    ["three bytes", 3, []],
    ["one byte a chunk", 10, [1, 1, 1, 1, 1, 1, 1, 1, 1]],
    ["chunks of 2 (every group split)", 11, [2, 2, 2, 2, 2]],
    ["chunks of 4", 40, [4, 4, 4, 4, 4, 4, 4, 4, 4]],
    ["empty chunks between", 8, [0, 3, 0, 0, 5]],
    ["one big chunk", 40, []],
  ] as const)("%s: the same text as Buffer#toString('base64')", async (_what, length, sizes) => {
    const bytes = BYTES.subarray(0, length);
    const text = await encodeInChunks(bytes, [...sizes]);
    expect(text).toBe(bytes.toString("base64"));
    expect(text.length).toBe(base64Length(length));
  });
});

describe("base64Length", () => {
  it.each([
    [0, 0],
    [1, 4],
    [2, 4],
    [3, 4],
    [4, 8],
    [5, 8],
    [6, 8],
    [65_537, 87_384],
  ])("%i bytes take %i characters", (bytes, chars) => {
    expect(base64Length(bytes)).toBe(chars);
    expect(Buffer.alloc(bytes).toString("base64").length).toBe(chars);
  });
});
