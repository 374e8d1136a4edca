// The option tables of docs/engines.md, generated from the engines' option tables in core
// (packages/core, built):
//   node scripts/options-tables.mjs            prints them
//   node scripts/options-tables.mjs --write    rewrites them in docs/engines.md, between the markers
// test/docs-options.test.ts fails when the docs differ from what this prints.
import { readFileSync, writeFileSync } from "node:fs";
import { ARCHIVE_OPTIONS, BROWSER_OPTIONS, COMPRESS_OPTIONS, MEDIA_OPTIONS, PDF_OPTIONS, SECURE_OPTIONS, describeOptionValues } from "@transmute/core";

const TABLES = {
  pdf: PDF_OPTIONS,
  media: MEDIA_OPTIONS,
  browser: BROWSER_OPTIONS,
  archive: ARCHIVE_OPTIONS,
  compress: COMPRESS_OPTIONS,
  secure: SECURE_OPTIONS,
};

const cell = (text) => String(text).replaceAll("|", "\\|").replaceAll("\n", " ");

/** One table in Markdown: option (aliases), accepted values, applies to, default, what it does. */
export function renderTable(specs) {
  const rows = specs.map((s) => {
    const names = [`\`${s.name}\``, ...s.aliases.map((a) => `\`${a}\``)].join(", ");
    const applies = s.appliesTo ? s.appliesTo.join(", ") : "all";
    return `| ${names} | ${cell(describeOptionValues(s))} | ${applies} | ${cell(s.defaultText)} | ${cell(s.description)} |`;
  });
  return ["| option (aliases) | accepted | applies to | default | what it does |", "|---|---|---|---|---|", ...rows].join("\n");
}

/** The docs text with every `<!-- options:NAME:start --> ... <!-- options:NAME:end -->` block regenerated. */
export function renderDocs(text) {
  let out = text;
  for (const [name, specs] of Object.entries(TABLES)) {
    const start = `<!-- options:${name}:start -->`;
    const end = `<!-- options:${name}:end -->`;
    const a = out.indexOf(start);
    const b = out.indexOf(end);
    if (a < 0 || b < a) throw new Error(`docs/engines.md has no ${start} ... ${end} block`);
    out = `${out.slice(0, a + start.length)}\n${renderTable(specs)}\n${out.slice(b)}`;
  }
  return out;
}

const path = new URL("../docs/engines.md", import.meta.url);
if (process.argv[1] && new URL(`file://${process.argv[1]}`).href === import.meta.url) {
  if (process.argv.includes("--write")) {
    writeFileSync(path, renderDocs(readFileSync(path, "utf8")));
    console.log(`options-tables: wrote ${Object.keys(TABLES).length} tables into docs/engines.md`);
  } else {
    for (const [name, specs] of Object.entries(TABLES)) console.log(`## ${name}\n\n${renderTable(specs)}\n`);
  }
}
