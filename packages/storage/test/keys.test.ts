import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { assertValidKey, buildKey, createLocalDiskStore, explainInvalidKey } from "../src/index.js";

const VALID = ["tasks/abc/1/0", "uploads/slot_1", "a", "a.b/c-d_e", "x/0.5", "A".repeat(255)];

// [key, the reason explainInvalidKey gives]
const INVALID: Array<[unknown, string]> = [
  ["", "empty"],
  ["/etc/passwd", "absolute"],
  ["../secret", "'..'"],
  ["tasks/../../x", "'..'"],
  ["tasks/./x", "'.'"],
  ["tasks\\x", "backslash"],
  ["tasks/x\0y", "NUL"],
  ["tasks//x", "empty segment"],
  ["tasks/x/", "empty segment"],
  [".tmp/abc", "segment '.tmp'"],
  ["tasks/.hidden", "segment '.hidden'"],
  ["tasks/report final.pdf", "segment 'report final.pdf'"],
  ["tasks/résumé", "segment 'résumé'"],
  ["C:/x", "segment 'C:'"],
  ["a".repeat(256), "segment"],
  ["a/".repeat(600) + "a", "longer than 1024"],
  [42, "not a string"],
];

/** A test title for a key: long ones are shortened so the report stays readable. */
function label(key: unknown): string {
  const json = JSON.stringify(key);
  return json.length > 40 ? `${json.slice(0, 20)}... (${String(key).length} chars)` : json;
}

const INVALID_ROWS = INVALID.map(([key, reason]) => ({ key, reason, title: label(key) }));

describe("storage keys", () => {
  it.each(VALID.map((key) => ({ key, title: label(key) })))("accepts $title", ({ key }) => {
    expect(explainInvalidKey(key)).toBeNull();
    expect(() => assertValidKey(key)).not.toThrow();
  });

  it.each(INVALID_ROWS)("refuses $title ($reason) with an internal error", ({ key, reason }) => {
    expect(explainInvalidKey(key)).toContain(reason);
    expect(() => assertValidKey(key)).toThrow(expect.objectContaining({ code: "internal_error", status: 500 }));
  });

  it("keeps the reason out of the caller-facing message", () => {
    try {
      assertValidKey("../x");
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toBe("Internal error");
      expect((err as { detail: string }).detail).toContain('"../x"');
    }
  });

  it("builds keys from ids and refuses unsafe ids", () => {
    expect(buildKey("tasks", "t1", 2, 0)).toBe("tasks/t1/2/0");
    expect(() => buildKey("tasks", "../t1")).toThrow(expect.objectContaining({ code: "internal_error" }));
    expect(() => buildKey("tasks", "")).toThrow(expect.objectContaining({ code: "internal_error" }));
  });

  it.each(INVALID_ROWS.filter((row): row is typeof row & { key: string } => typeof row.key === "string"))(
    "every store method refuses $title",
    async ({ key }) => {
      const root = await mkdtemp(path.join(os.tmpdir(), "transmute-keys-"));
      const store = createLocalDiskStore({ root });
      const source = Readable.from([Buffer.from("x")]);
      const refused = expect.objectContaining({ code: "internal_error" });
      await expect(store.put(key, source)).rejects.toThrow(refused);
      expect(source.destroyed).toBe(true);
      await expect(store.get(key)).rejects.toThrow(refused);
      await expect(store.stat(key)).rejects.toThrow(refused);
      await expect(store.delete(key)).rejects.toThrow(refused);
      await expect(store.materialize(key, root)).rejects.toThrow(refused);
      // A prefix may end with one slash ("tasks/x/"), and list("") lists everything.
      if (key !== "tasks/x/") await expect(store.deletePrefix(key)).rejects.toThrow(refused);
      if (key !== "tasks/x/" && key !== "") await expect(store.list(key)[Symbol.asyncIterator]().next()).rejects.toThrow(refused);
      await rm(root, { recursive: true, force: true });
    },
  );
});
