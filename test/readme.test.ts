/**
 * The root README's settings table is generated (scripts/settings-table.mjs); this fails when
 * a setting was added, removed or reworded in packages/config without regenerating it.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const README = readFileSync(new URL("../README.md", import.meta.url), "utf8");

describe("README.md", () => {
  it("lists every setting exactly as describeSettings() says (run node scripts/settings-table.mjs --write)", () => {
    const block = /<!-- settings-table:start -->\n([\s\S]*?)\n<!-- settings-table:end -->/.exec(README);
    expect(block, "README.md lacks the settings-table markers").not.toBeNull();
    const generated = execFileSync(process.execPath, ["scripts/settings-table.mjs"], { cwd: ROOT, encoding: "utf8" }).trimEnd();
    expect(block![1]).toBe(generated);
  });

  it("gives the test command CI runs", () => {
    expect(README).toContain("npm test");
    expect(readFileSync(new URL("../.ci/run", import.meta.url), "utf8")).toMatch(/^CI=true npm test$/m);
  });
});
