/**
 * The options of `secure` (content disarm and reconstruction): the limits a Filewall authorize
 * request sets, under the same names. Each is a positive whole number; the operator's own caps
 * (pixels, pages, archive totals, time) apply whatever is asked.
 */
import { AppError } from "./errors.js";
import { parseOptionsWith, showValue, type OptionSpec } from "./option-table.js";

/** Parsed secure options. Absent means "no limit of the caller's" (the operator's still apply). */
export interface SecureOptions {
  max_pages_per_document?: number;
  max_files_per_archive?: number;
  max_width?: number;
  max_height?: number;
  max_dpi?: number;
}

/** Resolution PDF pages are rendered at when the caller sets no `max_dpi`. */
export const DEFAULT_SECURE_DPI = 150;

/** The largest value any secure option takes (a Filewall limit is a plain integer). */
const MAX_LIMIT = 1_000_000;

/** The secure options' table. */
export const SECURE_OPTIONS: readonly OptionSpec<keyof SecureOptions>[] = [
  {
    name: "max_pages_per_document",
    type: "integer",
    aliases: [],
    min: 1,
    max: MAX_LIMIT,
    appliesTo: ["pdf", "office documents"],
    defaultText: "TRANSMUTE_MAX_PAGES",
    description: "Pages kept of a document: the pages after it are dropped from the rebuilt PDF.",
  },
  {
    name: "max_files_per_archive",
    type: "integer",
    aliases: [],
    min: 1,
    max: MAX_LIMIT,
    appliesTo: ["zip", "tar", "tgz"],
    defaultText: "TRANSMUTE_ARCHIVE_MAX_ENTRIES",
    description: "Members of an archive taken, in archive order; the rest are dropped and listed in the result.",
  },
  {
    name: "max_width",
    type: "integer",
    aliases: [],
    min: 1,
    max: MAX_LIMIT,
    unit: "px",
    appliesTo: ["images", "pdf pages"],
    defaultText: "no limit but TRANSMUTE_MAX_PIXELS",
    description: "Widest output image; larger ones are scaled down, keeping the aspect ratio.",
  },
  {
    name: "max_height",
    type: "integer",
    aliases: [],
    min: 1,
    max: MAX_LIMIT,
    unit: "px",
    appliesTo: ["images", "pdf pages"],
    defaultText: "no limit but TRANSMUTE_MAX_PIXELS",
    description: "Tallest output image; larger ones are scaled down, keeping the aspect ratio.",
  },
  {
    name: "max_dpi",
    type: "integer",
    aliases: [],
    min: 1,
    max: 1200,
    unit: "dpi",
    appliesTo: ["images", "pdf pages"],
    defaultText: `${DEFAULT_SECURE_DPI} for PDF pages; images keep their pixels`,
    description: "Resolution PDF pages are rendered at, and the most an image's stored density may say.",
  },
];

/** Parses `secure`'s options: unknown names are ignored (listed), a value that is not a positive integer in range throws invalid_option. */
export function parseSecureOptions(options: unknown): { values: SecureOptions; ignored: string[] } {
  const { values, ignored } = parseOptionsWith(SECURE_OPTIONS, options, (spec, givenAs, raw) => {
    const n = typeof raw === "string" && /^\s*\d+\s*$/.test(raw) ? Number(raw) : raw;
    if (typeof n !== "number" || !Number.isInteger(n) || n < (spec.min ?? 1) || n > (spec.max ?? MAX_LIMIT)) {
      throw new AppError("invalid_option", `option ${givenAs} must be a whole number from ${spec.min} to ${spec.max}; got ${showValue(raw)}`);
    }
    return n;
  });
  return { values: values as SecureOptions, ignored };
}
