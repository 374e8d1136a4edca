/** Node file-system error tests shared by the local driver and scratch directories. */

/** True when `err` is a Node system error with this `code` (ENOENT, EISDIR...). */
export function hasErrorCode(err: unknown, code: string): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === code;
}

/** True when the path (or one of its parents) does not exist as a directory entry. */
export function isMissing(err: unknown): boolean {
  return hasErrorCode(err, "ENOENT") || hasErrorCode(err, "ENOTDIR");
}
