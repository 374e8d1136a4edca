import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor, START_POSITION, type CursorScope } from "../src/list-cursor.js";
import { buildPageEnvelope, pageWindow } from "../src/paging.js";

describe("the page envelope", () => {
  const cases: Array<[string, number, number, number, Record<string, unknown>]> = [
    ["empty list: one empty page", 0, 1, 50, { totalPages: 1, pagingCounter: 1, hasPrevPage: false, hasNextPage: false, prevPage: null, nextPage: null }],
    ["first of three", 120, 1, 50, { totalPages: 3, pagingCounter: 1, hasPrevPage: false, hasNextPage: true, prevPage: null, nextPage: 2 }],
    ["middle", 120, 2, 50, { totalPages: 3, pagingCounter: 51, hasPrevPage: true, hasNextPage: true, prevPage: 1, nextPage: 3 }],
    ["last, partial", 120, 3, 50, { totalPages: 3, pagingCounter: 101, hasPrevPage: true, hasNextPage: false, prevPage: 2, nextPage: null }],
    ["exact multiple", 100, 2, 50, { totalPages: 2, pagingCounter: 51, hasNextPage: false, nextPage: null }],
    ["past the end", 120, 7, 50, { totalPages: 3, pagingCounter: 301, hasPrevPage: true, hasNextPage: false, prevPage: 6, nextPage: null }],
  ];
  it.each(cases)("%s", (_name, total, page, limit, expected) => {
    const envelope = buildPageEnvelope([], total, page, limit);
    expect(envelope).toMatchObject({ docs: [], totalDocs: total, limit, page, ...expected });
  });

  const windows: Array<[number, number, number, { skip: number; take: number } | null]> = [
    [1, 50, 120, { skip: 0, take: 50 }],
    [3, 50, 120, { skip: 100, take: 50 }],
    [4, 50, 120, null],
    [1, 50, 0, null],
    [Number.MAX_SAFE_INTEGER, 200, 10, null],
  ];
  it.each(windows)("page %i of %i over %i rows reads %j", (page, limit, total, expected) => {
    expect(pageWindow(page, limit, total)).toEqual(expected);
  });
});

describe("list cursors", () => {
  const scope: CursorScope = { secret: "s".repeat(40), list: "tasks", accountId: "acc-1", filters: { status: "completed", job: undefined } };
  const position = { createdAt: new Date("2026-01-02T03:04:05.678Z"), id: "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d" };

  it("round-trips a position and the start", () => {
    expect(decodeCursor(scope, encodeCursor(scope, position))).toEqual(position);
    expect(decodeCursor(scope, encodeCursor(scope, START_POSITION))).toEqual(START_POSITION);
  });

  it("is opaque: no id or date in clear, only header-safe characters", () => {
    const cursor = encodeCursor(scope, position);
    expect(cursor).toMatch(/^[A-Za-z0-9_.-]+$/);
    expect(cursor).not.toContain(position.id);
  });

  const broken: Array<[string, (cursor: string) => string, CursorScope?]> = [
    ["cut short", (c) => c.slice(0, -3)],
    ["one character changed", (c) => (c[3] === "A" ? `${c.slice(0, 3)}B${c.slice(4)}` : `${c.slice(0, 3)}A${c.slice(4)}`)],
    ["no signature", (c) => c.split(".")[0]!],
    ["garbage", () => "not a cursor at all"],
    ["empty signature", (c) => `${c.split(".")[0]}.`],
    ["another account", (c) => c, { ...scope, accountId: "acc-2" }],
    ["other filters", (c) => c, { ...scope, filters: { status: "failed" } }],
    ["the other list", (c) => c, { ...scope, list: "jobs" }],
    ["another secret", (c) => c, { ...scope, secret: "t".repeat(40) }],
  ];
  it.each(broken)("a cursor %s decodes to null", (_name, mangle, readScope) => {
    expect(decodeCursor(readScope ?? scope, mangle(encodeCursor(scope, position)))).toBeNull();
  });

  it("a validly signed body of the wrong shape decodes to null", async () => {
    const { signParts } = await import("@transmute/core");
    const body = Buffer.from(JSON.stringify(["yesterday", "not-a-uuid"])).toString("base64url");
    const sig = signParts(scope.secret, ["list-cursor", "tasks", "acc-1", "status=completed", body], 22);
    expect(decodeCursor(scope, `${body}.${sig}`)).toBeNull();
  });
});
