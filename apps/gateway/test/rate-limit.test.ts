import { describe, expect, it } from "vitest";
import { classifyMethod, createMemoryRateLimitStore, takeToken, type BucketState } from "../src/rate-limit.js";

describe("takeToken (a bucket of perMinute tokens refilled at perMinute a minute)", () => {
  it.each<[string, BucketState | undefined, number, number, { allowed: boolean; remaining: number; retryAfterMs: number; tokens: number }]>([
    ["a new bucket starts full", undefined, 1000, 60, { allowed: true, remaining: 59, retryAfterMs: 0, tokens: 59 }],
    ["the last token", { tokens: 1, at: 1000 }, 1000, 60, { allowed: true, remaining: 0, retryAfterMs: 0, tokens: 0 }],
    ["empty: refused, a token is back in 60000/perMinute ms", { tokens: 0, at: 1000 }, 1000, 60, { allowed: false, remaining: 0, retryAfterMs: 1000, tokens: 0 }],
    ["half a token: refused, the other half in 500 ms", { tokens: 0, at: 1000 }, 1500, 60, { allowed: false, remaining: 0, retryAfterMs: 500, tokens: 0.5 }],
    ["refilled by elapsed time", { tokens: 0, at: 1000 }, 3000, 60, { allowed: true, remaining: 1, retryAfterMs: 0, tokens: 1 }],
    ["refill stops at the bucket's size", { tokens: 2, at: 0 }, 3_600_000, 5, { allowed: true, remaining: 4, retryAfterMs: 0, tokens: 4 }],
    ["a clock going backwards refills nothing", { tokens: 0.5, at: 5000 }, 4000, 60, { allowed: false, remaining: 0, retryAfterMs: 500, tokens: 0.5 }],
    ["slow limits: 5 a minute is one every 12 s", { tokens: 0, at: 0 }, 0, 5, { allowed: false, remaining: 0, retryAfterMs: 12_000, tokens: 0 }],
  ])("%s", (_what, state, now, perMinute, expected) => {
    const { state: next, result } = takeToken(state, now, perMinute);
    expect(result).toEqual({ allowed: expected.allowed, limit: perMinute, remaining: expected.remaining, retryAfterMs: expected.retryAfterMs });
    expect(next.tokens).toBeCloseTo(expected.tokens, 9);
    expect(next.at).toBe(now);
  });
});

describe("createMemoryRateLimitStore", () => {
  it("keeps one bucket per key: the limit bites on one key, not the others", async () => {
    const store = createMemoryRateLimitStore();
    const taken = [];
    for (let i = 0; i < 4; i++) taken.push(await store.take("read:a", 3));
    expect(taken.map((t) => [t.allowed, t.remaining])).toEqual([[true, 2], [true, 1], [true, 0], [false, 0]]);
    expect(taken[3]!.retryAfterMs).toBeGreaterThan(19_000);
    expect(await store.take("read:b", 3)).toMatchObject({ allowed: true, remaining: 2 });
    expect(await store.take("write:a", 3)).toMatchObject({ allowed: true, remaining: 2 });
  });

  it("forgets the least recently used buckets past maxKeys (a forgotten bucket starts full)", async () => {
    const store = createMemoryRateLimitStore({ maxKeys: 2 });
    await store.take("a", 1);
    await store.take("b", 1);
    expect((await store.take("a", 1)).allowed).toBe(false); // a is now the most recent
    await store.take("c", 1); // evicts b, the least recently used
    expect((await store.take("a", 1)).allowed).toBe(false); // a was kept, still empty
    expect((await store.take("b", 1)).allowed).toBe(true); // b starts over, full
  });
});

describe("classifyMethod", () => {
  it.each([
    ["GET", "read"],
    ["HEAD", "read"],
    ["POST", "write"],
    ["DELETE", "write"],
    ["PUT", "write"],
    ["PATCH", "write"],
  ])("%s is a %s", (method, rateClass) => {
    expect(classifyMethod(method)).toBe(rateClass);
  });
});
