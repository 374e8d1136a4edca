import { describe, expect, it } from "vitest";
import { buildContentDisposition, sanitizeFilename } from "../src/content-disposition.js";

/** The public Python client: the text after the last `; filename="`, up to the next quote. */
function pythonClientName(header: string): string {
  const tail = header.split('; filename="').pop()!;
  return tail.slice(0, tail.indexOf('"'));
}

/** The public Java client: split on `; filename=` and strip quotes. */
function javaClientName(header: string): string {
  const parts = header.split("; filename=");
  return parts[parts.length - 1]!.replaceAll('"', "");
}

describe("buildContentDisposition", () => {
  const table: Array<[string, string, RegExp]> = [
    ["plain ASCII", "report.pdf", /^attachment; filename="report\.pdf"$/],
    ["non-ASCII", "résumé.png", /^attachment; filename\*=UTF-8''r%C3%A9sum%C3%A9\.png; filename="r_sum_\.png"$/],
    ["quotes and CR/LF", 'a"b\r\nc.txt', /^attachment; filename="abc\.txt"$/],
    ["path separators", "../../etc/passwd", /^attachment; filename="passwd"$/],
    ["windows path", "C:\\temp\\x.png", /^attachment; filename="x\.png"$/],
    ["empty", "", /^attachment; filename="file"$/],
  ];
  it.each(table)("%s", (_label, name, expected) => {
    expect(buildContentDisposition(name)).toMatch(expected);
  });

  it.each(["report.pdf", "résumé ünïcode.png", "日本語.pdf", 'we"ird;name.jpg'])("both public parsers recover a sane name for %s", (name) => {
    const header = buildContentDisposition(name);
    const ascii = sanitizeFilename(name).replace(/[^\x20-\x7e]/g, "_").replace(/[;\\]/g, "_");
    expect(pythonClientName(header)).toBe(ascii);
    expect(javaClientName(header)).toBe(ascii);
    expect(header).not.toMatch(/[\r\n]/);
  });
});
