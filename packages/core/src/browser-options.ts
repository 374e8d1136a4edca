/**
 * The options of converting a web page (mhtml, html, md) with Chromium, as one table
 * (BROWSER_OPTIONS): the viewport pages are laid out in, then the screenshot (png, jpg) or the
 * print settings (pdf). Options for the other kind of output are ignored and listed as such.
 */
import { invalidOption, parseOptionsWith, type OptionSpec } from "./option-table.js";
import { normalizeFormat } from "./formats.js";

/** Parsed browser options, keyed by their canonical names. Absent means "not given". */
export interface BrowserOptions {
  viewport_width?: number;
  viewport_height?: number;
  full_page?: boolean;
  quality?: number;
  page_size?: BrowserPageSize;
  landscape?: boolean;
  /** A CSS length Chromium's printer takes: "10mm", "0.5in", "1cm", "20px". */
  margin?: string;
  print_background?: boolean;
}

/** Paper sizes Chromium prints to. */
export type BrowserPageSize = "A3" | "A4" | "A5" | "Letter" | "Legal";

/** Output formats of the browser engine's conversions. */
export const BROWSER_OUTPUTS = ["png", "jpg", "pdf"] as const;

/** Defaults applied by the engine when an option is absent. */
export const BROWSER_DEFAULTS = {
  viewport_width: 1280,
  viewport_height: 800,
  full_page: true,
  quality: 85,
  page_size: "A4",
  landscape: false,
  margin: "10mm",
  print_background: true,
} as const satisfies Required<BrowserOptions>;

/** Largest margin accepted, in millimetres: more leaves no room on an A5 page. */
const MAX_MARGIN_MM = 50;
const MM_PER_UNIT: Readonly<Record<string, number>> = { mm: 1, cm: 10, in: 25.4, px: 25.4 / 96 };

const TABLE = {
  viewport_width: {
    type: "integer", min: 100, max: 4096, unit: "px", aliases: ["width"], appliesTo: ["png", "jpg", "pdf"],
    defaultText: "1280",
    description: "Width of the browser window the page is laid out in; a screenshot is this wide.",
  },
  viewport_height: {
    type: "integer", min: 100, max: 4096, unit: "px", aliases: ["height"], appliesTo: ["png", "jpg", "pdf"],
    defaultText: "800",
    description: "Height of the browser window; a screenshot without full_page is this high.",
  },
  full_page: {
    type: "boolean", aliases: ["screenshot_full_page"], appliesTo: ["png", "jpg"],
    defaultText: "true",
    description: "Capture the whole page, as long as it is (within the pixel limit); false captures only the viewport.",
  },
  quality: {
    type: "integer", min: 1, max: 100, aliases: ["image_quality"], appliesTo: ["jpg"],
    defaultText: "85",
    description: "JPEG quality of the screenshot.",
  },
  page_size: {
    type: "enum", values: ["A4", "Letter", "Legal", "A3", "A5"], aliases: ["pdf_page_size"], appliesTo: ["pdf"],
    defaultText: "A4",
    description: "Paper size of the PDF pages.",
  },
  landscape: {
    type: "boolean", aliases: [], appliesTo: ["pdf"],
    defaultText: "false",
    description: "Print the PDF pages in landscape orientation.",
  },
  margin: {
    type: "text", aliases: ["pdf_margin"], appliesTo: ["pdf"],
    valuesText: `a length such as "10mm", "1cm", "0.5in" or "20px" (0 to ${MAX_MARGIN_MM} mm)`,
    defaultText: "10mm",
    description: "Margin on every side of each PDF page.",
  },
  print_background: {
    type: "boolean", aliases: [], appliesTo: ["pdf"],
    defaultText: "true",
    description: "Print background colours and images, as the page shows them on screen.",
  },
} as const satisfies { readonly [K in keyof BrowserOptions]-?: Omit<OptionSpec<K>, "name"> };

/** The browser options table, in display order. */
export const BROWSER_OPTIONS: readonly OptionSpec<keyof BrowserOptions>[] = Object.entries(TABLE).map(
  ([name, spec]) => ({ name, ...spec }) as OptionSpec<keyof BrowserOptions>,
);

/** Parsed browser options and the given names that have no effect (unknown, or not for this output). */
export interface ParsedBrowserOptions {
  values: BrowserOptions;
  ignored: string[];
}

/**
 * Validates the `options` of a conversion by Chromium into `outputFormat`; options for the other
 * kind of output are moved to `ignored`. A bad value throws AppError("invalid_option") naming the
 * option and the accepted values.
 */
export function parseBrowserOptions(options: unknown, outputFormat: string): ParsedBrowserOptions {
  const { values, ignored, givenAs } = parseOptionsWith(BROWSER_OPTIONS, options);
  const parsed: Record<string, unknown> = { ...values };
  if (typeof parsed.margin === "string") {
    const spec = BROWSER_OPTIONS.find((s) => s.name === "margin")!;
    parsed.margin = parseMargin(parsed.margin, spec, givenAs.get("margin") ?? "margin");
  }
  const output = normalizeFormat(outputFormat);
  for (const spec of BROWSER_OPTIONS) {
    if (spec.name in parsed && spec.appliesTo && !spec.appliesTo.includes(output)) {
      delete parsed[spec.name];
      ignored.push(givenAs.get(spec.name) ?? spec.name);
    }
  }
  return { values: parsed as BrowserOptions, ignored };
}

/** A margin as Chromium takes it ("10mm"); a bare number is millimetres. */
function parseMargin(text: string, spec: OptionSpec, givenAs: string): string {
  const match = /^(\d+(?:\.\d+)?)\s*(mm|cm|in|px)?$/i.exec(text.trim());
  const unit = (match?.[2] ?? "mm").toLowerCase();
  const size = Number(match?.[1]);
  if (!match || !(size * MM_PER_UNIT[unit]! <= MAX_MARGIN_MM)) throw invalidOption(spec, givenAs, text);
  return `${size}${unit}`;
}
