/** docs/engines.md's option tables are generated from the engines' option tables: they must match. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs script without types
import { renderDocs } from "../scripts/options-tables.mjs";

describe("docs/engines.md", () => {
  it("shows every engine option as the code declares it (regenerate: node scripts/options-tables.mjs --write)", () => {
    const docs = readFileSync(new URL("../docs/engines.md", import.meta.url), "utf8");
    expect(renderDocs(docs)).toBe(docs);
  });
});
