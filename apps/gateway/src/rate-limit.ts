/**
 * Rate limits: a token bucket per API key and route class (read, write), and per client address
 * for the public query endpoints called without a key. A bucket holds `perMinute` tokens (the
 * burst) and refills at `perMinute` a minute. One `RateLimitStore` interface, two drivers: in
 * this process (embedded), or in Redis under TRANSMUTE_REDIS_PREFIX through one atomic script,
 * so every gateway of a scaled-out install draws on the same buckets.
 */
import { hashApiKey } from "@transmute/core";
import type { FastifyReply, FastifyRequest } from "fastify";
import { Redis } from "ioredis";
import { parseAuthorization } from "./auth.js";
import { sendError } from "./errors.js";
import type { RateLimits } from "./types.js";

/** The limited route classes. */
export type RateClass = keyof RateLimits;

/** A bucket as stored: tokens left (fractional) and when that was computed, ms since epoch. */
export interface BucketState {
  tokens: number;
  at: number;
}

/** The outcome of taking one token. */
export interface TakeResult {
  allowed: boolean;
  /** The bucket's size: `X-RateLimit-Limit`. */
  limit: number;
  /** Whole tokens left after this request: `X-RateLimit-Remaining`. */
  remaining: number;
  /** When refused, ms until a token is back (`Retry-After`); 0 when allowed. */
  retryAfterMs: number;
}

/** Where buckets live. */
export interface RateLimitStore {
  /** Takes a token from bucket `key` of size and refill `perMinute`. */
  take(key: string, perMinute: number): Promise<TakeResult>;
  close(): Promise<void>;
}

const MINUTE_MS = 60_000;

/** The bucket math, shared by the in-process driver and mirrored by the Redis script. Pure. */
export function takeToken(state: BucketState | undefined, now: number, perMinute: number): { state: BucketState; result: TakeResult } {
  const perMs = perMinute / MINUTE_MS;
  const elapsed = state ? Math.max(0, now - state.at) : 0;
  let tokens = state ? Math.min(perMinute, state.tokens + elapsed * perMs) : perMinute;
  const allowed = tokens >= 1;
  if (allowed) tokens -= 1;
  const retryAfterMs = allowed ? 0 : Math.ceil((1 - tokens) / perMs);
  return { state: { tokens, at: now }, result: { allowed, limit: perMinute, remaining: Math.floor(tokens), retryAfterMs } };
}

/** Buckets in this process (the embedded mode); idle full buckets are forgotten, the oldest first past `maxKeys`. */
export function createMemoryRateLimitStore(opts: { maxKeys?: number } = {}): RateLimitStore {
  const maxKeys = opts.maxKeys ?? 100_000;
  const buckets = new Map<string, BucketState>();
  return {
    async take(key, perMinute) {
      const now = Date.now();
      const { state, result } = takeToken(buckets.get(key), now, perMinute);
      buckets.delete(key); // re-inserted last: Map order is then least recently used first
      buckets.set(key, state);
      if (buckets.size > maxKeys) {
        for (const [k, s] of buckets) {
          // A bucket idle for a minute is full again: forgetting it changes nothing.
          if (buckets.size > maxKeys || now - s.at >= MINUTE_MS) buckets.delete(k);
          else break;
        }
      }
      return result;
    },
    async close() {
      buckets.clear();
    },
  };
}

/**
 * The bucket math in Redis: atomic, on Redis's own clock (TIME), so gateways with drifting clocks
 * still share one bucket. The key expires once the bucket would be full again.
 */
const TAKE_SCRIPT = `
local per_minute = tonumber(ARGV[1])
local per_ms = per_minute / 60000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = per_minute
if state[1] then
  local elapsed = math.max(0, now - tonumber(state[2]))
  tokens = math.min(per_minute, tonumber(state[1]) + elapsed * per_ms)
end
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], 61000)
local wait = 0
if allowed == 0 then wait = math.ceil((1 - tokens) / per_ms) end
return {allowed, math.floor(tokens), wait}
`;

/** Buckets in Redis, shared by every gateway; when Redis does not answer, requests pass (logged). */
export function createRedisRateLimitStore(opts: { url: string; prefix: string; onError?: (err: unknown) => void }): RateLimitStore {
  // No offline queue and a short timeout: a Redis outage must not hold API requests.
  const redis = new Redis(opts.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, commandTimeout: 1000 });
  redis.on("error", () => undefined); // reported per command below
  redis.defineCommand("transmuteTakeToken", { numberOfKeys: 1, lua: TAKE_SCRIPT });
  const run = redis as unknown as { transmuteTakeToken(key: string, perMinute: number): Promise<[number, number, number]> };
  let warnedAt = 0;
  return {
    async take(key, perMinute) {
      try {
        const [allowed, remaining, wait] = await run.transmuteTakeToken(`${opts.prefix}:ratelimit:${key}`, perMinute);
        return { allowed: allowed === 1, limit: perMinute, remaining, retryAfterMs: wait };
      } catch (err) {
        // Once in a while, not once a request: an outage would flood the log.
        if (Date.now() - warnedAt > 30_000) {
          warnedAt = Date.now();
          opts.onError?.(err);
        }
        return { allowed: true, limit: perMinute, remaining: perMinute, retryAfterMs: 0 };
      }
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** Takes a token for the request and sets the headers; answers 429 itself when the bucket is empty. */
async function limit(store: RateLimitStore, reply: FastifyReply, key: string, perMinute: number): Promise<boolean> {
  if (perMinute <= 0) return true;
  const result = await store.take(key, perMinute);
  reply.header("x-ratelimit-limit", String(result.limit)).header("x-ratelimit-remaining", String(Math.max(0, result.remaining)));
  if (result.allowed) return true;
  const seconds = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
  reply.header("retry-after", String(seconds));
  // Sent here rather than thrown: the error handler would put its own Retry-After on it.
  sendError(reply, 429, "too_many_requests", `Rate limit of ${result.limit} requests a minute reached; retry after ${seconds} s.`);
  return false;
}

/** The bucket key of an API key: its hash, so keys never sit in Redis. */
function keyBucket(rateClass: RateClass, key: string): string {
  return `${rateClass}:key:${hashApiKey(key).slice(0, 32)}`;
}

/** The class of an authenticated request: reads (GET, HEAD) and writes (everything else). */
export function classifyMethod(method: string): RateClass {
  return method === "GET" || method === "HEAD" ? "read" : "write";
}

/** An onRequest hook for routes that need an API key; runs after authentication. */
export function limitByApiKey(store: RateLimitStore, limits: RateLimits) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | void> => {
    const key = parseAuthorization(request.headers.authorization);
    if (!key) return; // authentication answered 401 already
    const rateClass = classifyMethod(request.method);
    if (!(await limit(store, reply, keyBucket(rateClass, key), limits[rateClass]))) return reply;
  };
}

/**
 * An onRequest hook for the public query endpoints, after optional authentication: a request with
 * a key counts against that key's read bucket, one without against its client address.
 */
export function limitByKeyOrAddress(store: RateLimitStore, limits: RateLimits) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | void> => {
    const key = parseAuthorization(request.headers.authorization);
    const ok = key
      ? await limit(store, reply, keyBucket("read", key), limits.read)
      : await limit(store, reply, `anonymous:ip:${request.ip}`, limits.anonymous);
    if (!ok) return reply;
  };
}
