/**
 * Which LibreOffice module opens each input format, and which filter writes each output: the
 * filter names are the contract with soffice (`--infilter`, `--convert-to ext:filter:options`).
 */
import { CONVERSION_TABLE, normalizeFormat } from "@transmute/core";
import type { ConversionPair } from "./engine.js";

/** The LibreOffice module a document opens in. */
export type OfficeModule = "writer" | "calc" | "impress";

const MODULE_OF: Readonly<Record<string, OfficeModule>> = {
  doc: "writer", docx: "writer", odt: "writer", rtf: "writer", txt: "writer", html: "writer",
  xls: "calc", xlsx: "calc", ods: "calc", csv: "calc",
  ppt: "impress", pptx: "impress", odp: "impress",
};

/** The shared library of each module in LibreOffice's program directory (its nogui package installs it). */
export const MODULE_LIBRARY: Readonly<Record<OfficeModule, string>> = { writer: "libswlo.so", calc: "libsclo.so", impress: "libsdlo.so" };

/** The Debian package of each module. */
export const MODULE_PACKAGE: Readonly<Record<OfficeModule, string>> = {
  writer: "libreoffice-writer-nogui", calc: "libreoffice-calc-nogui", impress: "libreoffice-impress-nogui",
};

/**
 * Input filters forced where type detection would pick another module or guess: a .txt or .html
 * would open in Writer/Web (whose PDF export differs) and a .csv's separator, quote and encoding
 * are fixed (comma, double quote, UTF-8) instead of sniffed. Other formats are detected from
 * their bytes, which the engine has already checked against the declared format.
 */
const INPUT_FILTERS: Readonly<Record<string, (encoding: TextEncoding) => string>> = {
  txt: (encoding) => `Text (encoded):${{ utf8: "UTF8", utf16: "UNICODE", latin1: "MS_1252" }[encoding]},LF,,,`,
  html: () => "HTML (StarWriter)",
  csv: (encoding) => `Text - txt - csv (StarCalc):44,34,${{ utf8: 76, utf16: 65535, latin1: 1 }[encoding]},1`,
};

/** How a text input is encoded, as the engine found it (legacy 8-bit text is read as Windows-1252). */
export type TextEncoding = "utf8" | "utf16" | "latin1";

/** Export filters per module and output format. */
const EXPORT_FILTERS: Readonly<Record<OfficeModule, Readonly<Record<string, string>>>> = {
  writer: { pdf: "writer_pdf_Export", docx: "MS Word 2007 XML", odt: "writer8" },
  calc: { pdf: "calc_pdf_Export", xlsx: "Calc MS Excel 2007 XML", ods: "calc8", csv: "Text - txt - csv (StarCalc):44,34,76" },
  impress: { pdf: "impress_pdf_Export", pptx: "Impress MS PowerPoint 2007 XML", odp: "impress8" },
};

/** The module that opens `format`, or undefined when LibreOffice is not used for it. */
export function officeModule(format: string): OfficeModule | undefined {
  return MODULE_OF[normalizeFormat(format)];
}

/** The `--infilter` value for `format` (text read in `encoding`, default UTF-8), when one is forced. */
export function officeInputFilter(format: string, encoding: TextEncoding = "utf8"): string | undefined {
  return INPUT_FILTERS[normalizeFormat(format)]?.(encoding);
}

/** The `--convert-to` value ("ext:filter[:options]") of `from` to `to`, or undefined when the pair is not done. */
export function officeConvertTo(from: string, to: string): string | undefined {
  const module = officeModule(from);
  const target = normalizeFormat(to);
  if (!module || target === normalizeFormat(from)) return undefined;
  const filter = EXPORT_FILTERS[module][target];
  return filter === undefined ? undefined : `${target}:${filter}`;
}

/** The office rows of CONVERSION_TABLE as pairs (same-format pairs left out), for the modules given. */
export function officeConversionPairs(modules: ReadonlySet<OfficeModule>): ConversionPair[] {
  const pairs: ConversionPair[] = [];
  for (const row of CONVERSION_TABLE) {
    if (row.engineClass !== "office" || row.operation !== "convert") continue;
    for (const from of row.from) {
      const module = officeModule(from);
      if (!module || !modules.has(module)) continue;
      for (const to of row.to) if (officeConvertTo(from, to) !== undefined) pairs.push({ from, to });
    }
  }
  return pairs;
}
