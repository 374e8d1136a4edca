// The README's table of settings, generated from describeSettings() (packages/config, built):
//   node scripts/settings-table.mjs            prints the table
//   node scripts/settings-table.mjs --write    rewrites it in README.md, between the markers
// test/readme.test.ts fails when the README's table differs from what this prints.
import { readFileSync, writeFileSync } from "node:fs";
import { describeSettings } from "@transmute/config";

const START = "<!-- settings-table:start -->";
const END = "<!-- settings-table:end -->";

const rows = describeSettings().map((s) => `| \`${s.name}\` | ${s.default} | ${s.doc} |`);
const table = ["| variable | default | what it does |", "|---|---|---|", ...rows].join("\n");

if (process.argv.includes("--write")) {
  const path = new URL("../README.md", import.meta.url);
  const text = readFileSync(path, "utf8");
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  if (start < 0 || end < start) {
    console.error(`README.md has no ${START} ... ${END} block to write the table into`);
    process.exit(1);
  }
  writeFileSync(path, `${text.slice(0, start + START.length)}\n${table}\n${text.slice(end)}`);
  console.log(`settings-table: wrote ${rows.length} settings into README.md`);
} else {
  console.log(table);
}
