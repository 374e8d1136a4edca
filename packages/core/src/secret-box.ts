/**
 * Secrets at rest: a task's secret payload values (passwords, access keys) are stored sealed
 * with AES-256-GCM under a key derived from the secret every process shares (the link-signing
 * secret), so a database dump or backup holds no credential in clear. The worker that runs the
 * task opens them; they are deleted when the task ends.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { AppError } from "./errors.js";

/** The stored form: version, nonce, tag and ciphertext, base64url. */
export interface SealedSecrets {
  v: 1;
  iv: string;
  tag: string;
  data: string;
}

const keys = new Map<string, Buffer>();

/** The sealing key of a shared secret (HKDF-SHA256; cached: derived once per process). */
function keyOf(secret: string): Buffer {
  let key = keys.get(secret);
  if (!key) {
    key = Buffer.from(hkdfSync("sha256", secret, "transmute", "task-secrets v1", 32));
    keys.set(secret, key);
  }
  return key;
}

/** Seals a secrets object for storage. */
export function sealSecrets(secret: string, values: Record<string, unknown>): SealedSecrets {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", keyOf(secret), iv);
  const data = Buffer.concat([cipher.update(JSON.stringify(values), "utf8"), cipher.final()]);
  return { v: 1, iv: iv.toString("base64url"), tag: cipher.getAuthTag().toString("base64url"), data: data.toString("base64url") };
}

/** Whether a stored value is sealed (rows written before sealing hold plain objects). */
export function isSealedSecrets(value: unknown): value is SealedSecrets {
  const v = value as Partial<SealedSecrets> | null;
  return typeof v === "object" && v !== null && v.v === 1 && typeof v.iv === "string" && typeof v.tag === "string" && typeof v.data === "string";
}

/**
 * Opens stored secrets: a sealed value with the shared secret, a plain object (older rows) as
 * it is, nothing as null. A seal that does not open (another secret, tampering) is a 500: the
 * task cannot run without its credentials, and saying why would help nobody outside.
 */
export function openSecrets(secret: string, stored: unknown): Record<string, unknown> | null {
  if (stored === null || stored === undefined) return null;
  if (!isSealedSecrets(stored)) return typeof stored === "object" ? (stored as Record<string, unknown>) : null;
  try {
    const decipher = createDecipheriv("aes-256-gcm", keyOf(secret), Buffer.from(stored.iv, "base64url"));
    decipher.setAuthTag(Buffer.from(stored.tag, "base64url"));
    const text = Buffer.concat([decipher.update(Buffer.from(stored.data, "base64url")), decipher.final()]).toString("utf8");
    return JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new AppError("internal_error", "The task's credentials could not be read.", { detail: `sealed secrets did not open: ${String(err)}` });
  }
}
