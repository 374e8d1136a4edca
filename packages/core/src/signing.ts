/**
 * Link signing. Every process signs and checks with the same secret (kept in the database or
 * set by the operator), so a link made by one gateway works on every other.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** An unguessable token: `bytes` random bytes, base64url (24 bytes = 192 bits). */
export function createToken(bytes = 24): string {
  return randomBytes(bytes).toString("base64url");
}

/** HMAC-SHA256 of `parts` joined by "\n", base64url, truncated to `chars` characters (>= 22 = 128 bits). */
export function signParts(secret: string, parts: readonly string[], chars = 43): string {
  return createHmac("sha256", secret).update(parts.join("\n")).digest("base64url").slice(0, chars);
}

/** Constant-time comparison of two signatures. */
export function signaturesMatch(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** SHA-256 hex of an API key: what the database stores instead of the key. */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** A new API key: a recognisable prefix and 32 random bytes. */
export function createApiKey(): string {
  return `tm_${randomBytes(32).toString("base64url")}`;
}
