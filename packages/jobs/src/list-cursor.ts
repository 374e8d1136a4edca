/**
 * The cursor of a list walk (`X-Cursor-ID`): the (createdAt, id) of the last item handed out,
 * signed with the link secret together with the list, the account and the filters it belongs
 * to. Opaque to clients and tamper-evident: a cursor that was cut, edited, made for another
 * list, account or filter set, or signed with an older secret decodes to null, and the walk
 * restarts from the beginning with `X-Cursor-Was-Broken: true`.
 */
import { looksLikeTaskId, signParts, signaturesMatch } from "@transmute/core";

/** A position in a list ordered by (createdAt, id): items strictly after it come next. */
export interface CursorPosition {
  createdAt: Date;
  id: string;
}

/** What a cursor is bound to. */
export interface CursorScope {
  secret: string;
  /** Which list: "tasks" or "jobs". */
  list: string;
  accountId: string;
  /** The filters of the walk; a cursor is only valid with the same ones. */
  filters: Record<string, string | undefined>;
}

/** The position before every item: a walk's start. */
export const START_POSITION: CursorPosition = { createdAt: new Date(0), id: "00000000-0000-0000-0000-000000000000" };

const SIGNATURE_CHARS = 22; // 132 bits of HMAC-SHA256

function signCursor(scope: CursorScope, body: string): string {
  const filters = Object.keys(scope.filters)
    .sort()
    .filter((name) => scope.filters[name] !== undefined)
    .map((name) => `${name}=${scope.filters[name]}`)
    .join("&");
  return signParts(scope.secret, ["list-cursor", scope.list, scope.accountId, filters, body], SIGNATURE_CHARS);
}

/** Encodes a position as an opaque cursor for `scope`. */
export function encodeCursor(scope: CursorScope, position: CursorPosition): string {
  const body = Buffer.from(JSON.stringify([position.createdAt.getTime(), position.id]), "utf8").toString("base64url");
  return `${body}.${signCursor(scope, body)}`;
}

/** Decodes a cursor of `scope`; null when it is corrupt, forged or of another scope. */
export function decodeCursor(scope: CursorScope, cursor: string): CursorPosition | null {
  const match = /^([A-Za-z0-9_-]{1,200})\.([A-Za-z0-9_-]+)$/.exec(cursor);
  if (!match) return null;
  const [, body, signature] = match as unknown as [string, string, string];
  if (!signaturesMatch(signCursor(scope, body), signature)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
  } catch {
    return null;
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) return null;
  const [ms, id] = parsed as [unknown, unknown];
  if (typeof ms !== "number" || !Number.isSafeInteger(ms) || ms < 0 || typeof id !== "string" || !looksLikeTaskId(id)) return null;
  return { createdAt: new Date(ms), id };
}
