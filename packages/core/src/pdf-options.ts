/**
 * The options of conversions from and to PDF, as one table (PDF_OPTIONS): page rendering (dpi,
 * page_range), splitting (page_ranges) and the password of an encrypted input. Page ranges are
 * checked for syntax when the options are parsed and against the document's page count only
 * once the engine has read it (resolvePageRange, resolvePageGroups).
 */
import { AppError } from "./errors.js";
import { normalizeFormat } from "./formats.js";
import { parseMergeOptions, type MergeOptions } from "./merge-options.js";
import { invalidOption, parseOptionsWith, type OptionSpec } from "./option-table.js";

/** A run of pages, 1-based and inclusive; `last` null runs to the document's end ("8-"). */
export interface PageSpan {
  first: number;
  last: number | null;
}

/** Parsed PDF options. Absent means "not given". */
export interface PdfOptions {
  dpi?: number;
  /** The pages rendered or extracted, in the order of the text ("1-3,5,8-"). */
  page_range?: PageSpan[];
  /** One output PDF per span. */
  page_ranges?: PageSpan[];
  password?: string;
}

/** Resolution pages are rendered at when `dpi` is not given. */
export const DEFAULT_PDF_DPI = 150;

const RANGE_TEXT = 'comma-separated pages and ranges counted from 1, such as "1-3,5,8-" ("8-" runs to the last page)';
const RENDER_OUTPUTS = ["png", "jpg", "webp"];

const TABLE = {
  dpi: {
    type: "integer", min: 10, max: 1200, unit: "dpi", aliases: ["resolution"], appliesTo: RENDER_OUTPUTS,
    defaultText: String(DEFAULT_PDF_DPI),
    description: "Resolution PDF pages are rendered at: a page of W x H points becomes W x H x dpi / 72 pixels.",
  },
  page_range: {
    type: "text", aliases: ["pages"], appliesTo: [...RENDER_OUTPUTS, "txt"], valuesText: RANGE_TEXT,
    defaultText: "every page",
    description: "The pages rendered to images (one file per page) or extracted as text. Pages past the document's end are an error.",
  },
  page_ranges: {
    type: "text", aliases: ["split_ranges"], appliesTo: ["pdf"], valuesText: RANGE_TEXT,
    defaultText: "one PDF per page",
    description: "Splits a PDF: one output PDF per comma-separated group, e.g. \"1-3,4-6,7\" makes three PDFs.",
  },
  password: {
    type: "text", aliases: ["pdf_password"], appliesTo: [...RENDER_OUTPUTS, "txt", "pdf"], valuesText: "the PDF's password",
    defaultText: "none (an encrypted PDF fails with password_protected)",
    description: "The user or owner password of an encrypted PDF input. Never echoed in task results.",
  },
} as const satisfies { readonly [K in keyof PdfOptions]-?: Omit<OptionSpec<K>, "name"> };

/** The PDF options table, in display order. */
export const PDF_OPTIONS: readonly OptionSpec<keyof PdfOptions>[] = Object.entries(TABLE).map(
  ([name, spec]) => ({ name, ...spec }) as OptionSpec<keyof PdfOptions>,
);

/** Parsed PDF options, the page layout of image inputs (merge's pdf_* options), and the names that have no effect. */
export interface ParsedPdfOptions {
  values: PdfOptions;
  /** For image -> pdf: page size, orientation, alignment (see MERGE_OPTIONS). Empty otherwise. */
  layout: MergeOptions;
  ignored: string[];
}

/**
 * Validates the `options` of a conversion from or to PDF. Options that do not apply to the
 * pair (dpi for text, page_ranges for images...) go to `ignored`. A bad value throws
 * AppError("invalid_option") naming the option and what is accepted.
 */
export function parsePdfOptions(options: unknown, context: { inputFormat: string; outputFormat: string }): ParsedPdfOptions {
  const { values: raw, ignored, givenAs } = parseOptionsWith(PDF_OPTIONS, options);
  const input = normalizeFormat(context.inputFormat);
  const output = normalizeFormat(context.outputFormat);
  const values: PdfOptions = {};
  for (const spec of PDF_OPTIONS) {
    if (!(spec.name in raw)) continue;
    const name = givenAs.get(spec.name) ?? spec.name;
    // Every PDF option reads a PDF input; for an image input they mean nothing.
    if (input !== "pdf" || (spec.appliesTo && !spec.appliesTo.includes(output))) {
      ignored.push(name);
      continue;
    }
    const value = raw[spec.name];
    if (spec.name === "page_range" || spec.name === "page_ranges") values[spec.name] = parsePageSpans(value as string, spec, name);
    else if (spec.name === "dpi") values.dpi = value as number;
    else values.password = value as string;
  }
  let layout: MergeOptions = {};
  if (input !== "pdf" && output === "pdf") {
    // An image becomes a page as merge lays it out: the same pdf_* options, the same defaults.
    const merged = parseMergeOptions(options, "pdf");
    layout = merged.values;
    return { values, layout, ignored: ignored.filter((name) => merged.ignored.includes(name)) };
  }
  return { values, layout, ignored };
}

/** Parses "1-3,5,8-" into spans; throws invalid_option naming `givenAs` on bad syntax, page 0 or a backward range. */
export function parsePageSpans(text: string, spec: OptionSpec = PDF_OPTIONS[1]!, givenAs = spec.name): PageSpan[] {
  const spans: PageSpan[] = [];
  for (const part of text.split(",")) {
    const match = /^\s*(\d{1,9})\s*(?:(-)\s*(\d{1,9})?)?\s*$/.exec(part);
    if (!match) throw invalidOption(spec, givenAs, text);
    const first = Number(match[1]);
    const last = match[2] === undefined ? first : match[3] === undefined ? null : Number(match[3]);
    if (first < 1 || (last !== null && last < first)) throw invalidOption(spec, givenAs, text);
    spans.push({ first, last });
  }
  return spans;
}

/** The pages of `spans` in a document of `pageCount` pages, ascending, each once; every page absent: all. */
export function resolvePageRange(spans: readonly PageSpan[] | undefined, pageCount: number, givenAs = "page_range"): number[] {
  if (!spans) return Array.from({ length: pageCount }, (_, i) => i + 1);
  const pages = new Set<number>();
  for (const span of resolvePageGroups(spans, pageCount, givenAs)) {
    for (let page = span.first; page <= span.last; page++) pages.add(page);
  }
  return [...pages].sort((a, b) => a - b);
}

/** The spans with open ends closed at `pageCount`; invalid_option naming the page count when one starts or ends past it. */
export function resolvePageGroups(spans: readonly PageSpan[], pageCount: number, givenAs = "page_ranges"): Array<{ first: number; last: number }> {
  return spans.map((span) => {
    const last = span.last ?? pageCount;
    if (span.first > pageCount || last > pageCount) {
      const shown = span.last === null ? `${span.first}-` : span.first === span.last ? String(span.first) : `${span.first}-${span.last}`;
      throw new AppError("invalid_option", `option ${givenAs} names page${span.first === last ? "" : "s"} ${shown}, but the PDF has ${pageCount} page${pageCount === 1 ? "" : "s"}`);
    }
    return { first: span.first, last };
  });
}
