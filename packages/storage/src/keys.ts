/**
 * Storage keys. Keys are built by callers from ids (`tasks/<taskId>/<attempt>/<ordinal>`), never
 * from anything a user typed, so a key that does not look like one is a bug: it is refused with
 * an internal error rather than cleaned up, because cleaning would hide the bug and could map
 * two different keys onto one object.
 */
import path from "node:path";
import { AppError } from "@transmute/core";

/** Longest key accepted, in characters (S3's own limit is 1,024 bytes; keys are ASCII). */
export const MAX_KEY_LENGTH = 1024;

// One path segment: ASCII letters, digits, `_`, `-`, `.`; not starting with a dot, which rules
// out `.`, `..` and hidden names such as the local driver's own `.tmp` directory.
const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$/;

/** Returns why `key` is not a valid storage key, or null when it is valid. */
export function explainInvalidKey(key: unknown): string | null {
  if (typeof key !== "string") return "not a string";
  if (key.length === 0) return "empty";
  if (key.length > MAX_KEY_LENGTH) return `longer than ${MAX_KEY_LENGTH} characters`;
  if (key.includes("\0")) return "contains NUL";
  if (key.includes("\\")) return "contains a backslash";
  if (key.startsWith("/")) return "absolute";
  for (const segment of key.split("/")) {
    if (segment === "") return "has an empty segment (leading, trailing or doubled slash)";
    if (segment === "." || segment === "..") return `has a '${segment}' segment`;
    if (!SEGMENT.test(segment)) return `segment '${segment}' is not [A-Za-z0-9_-][A-Za-z0-9._-]*`;
  }
  return null;
}

/** Throws an internal AppError unless `key` is a valid storage key (relative POSIX path of safe segments). */
export function assertValidKey(key: unknown, what = "storage key"): asserts key is string {
  const reason = explainInvalidKey(key);
  if (reason !== null) {
    throw new AppError("internal_error", "Internal error", { detail: `invalid ${what} ${JSON.stringify(key)}: ${reason}` });
  }
}

/** Joins id-like segments into a storage key, validating the result (`buildKey("tasks", id, 1, 0)`). */
export function buildKey(...segments: Array<string | number>): string {
  const key = segments.map(String).join("/");
  assertValidKey(key);
  return key;
}

/**
 * Normalises a prefix for `list`/`deletePrefix`. A prefix is a whole-segment prefix: `tasks/a`
 * covers `tasks/a` and `tasks/a/...` but not `tasks/ab`, so that every driver (S3 included, by
 * listing `tasks/a/`) deletes exactly the same objects. A trailing slash is accepted and dropped.
 */
export function normalizePrefix(prefix: string, { allowEmpty }: { allowEmpty: boolean }): string {
  if (prefix === "" && allowEmpty) return "";
  const trimmed = typeof prefix === "string" && prefix.length > 1 && prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
  assertValidKey(trimmed, "storage prefix");
  return trimmed;
}

/**
 * Where `materialize` puts the object at `key` inside `scratchDir`: the key as nested
 * directories, or `name`, one safe segment such as `input-0.pdf`. The same for every driver.
 */
export function materializePath(key: string, scratchDir: string, name?: string): string {
  assertValidKey(key);
  if (name !== undefined && (name.includes("/") || explainInvalidKey(name) !== null)) {
    throw new AppError("internal_error", "Internal error", { detail: `invalid materialize name ${JSON.stringify(name)}` });
  }
  return name === undefined ? path.join(scratchDir, ...key.split("/")) : path.join(scratchDir, name);
}
