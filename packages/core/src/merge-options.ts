/**
 * The options of `merge`, as one table (MERGE_OPTIONS), and the page geometry they describe:
 * named and `WxH` page sizes, orientation, where an image sits on its page. Pure, so the
 * layout is table-tested here and the PDF engine only draws what placeImage says.
 */
import { AppError } from "./errors.js";
import { normalizeFormat } from "./formats.js";
import { invalidOption, parseOptionsWith, type OptionSpec } from "./option-table.js";

/** A page size in PDF points (1/72 inch); `name` is the named size it came from, if any. */
export interface PageSize {
  name: string | null;
  width: number;
  height: number;
}

/** Where an image sits on a page larger than it. */
export type ImageAlignment = "center" | "top" | "bottom" | "left" | "right" | "top-left" | "top-right" | "bottom-left" | "bottom-right";

/** Parsed merge options. Absent means "not given". */
export interface MergeOptions {
  /** `auto`: each image page is the image's own size (1 px = 1 pt). */
  pdf_page_size?: PageSize | "auto";
  pdf_orientation?: "portrait" | "landscape" | "auto";
  pdf_image_alignment?: ImageAlignment;
  enlarge_images_to_fit?: boolean;
  gif_frame_delay?: number;
  gif_loop?: number;
}

/** Output formats merge produces. */
export const MERGE_OUTPUTS = ["pdf", "gif"] as const;

/** Named page sizes in points, portrait; names match ignoring case. */
export const PAGE_SIZES: Readonly<Record<string, readonly [number, number]>> = {
  A0: [2383.94, 3370.39], A1: [1683.78, 2383.94], A2: [1190.55, 1683.78], A3: [841.89, 1190.55],
  A4: [595.28, 841.89], A5: [419.53, 595.28], A6: [297.64, 419.53], B4: [708.66, 1000.63], B5: [498.9, 708.66],
  Letter: [612, 792], Legal: [612, 1008], Tabloid: [792, 1224], Ledger: [792, 1224], Executive: [521.86, 756],
};

/** PDF's largest page side (ISO 32000 implementation limit), in points. */
const MAX_PAGE_POINTS = 14_400;
const ALIGNMENTS: readonly ImageAlignment[] = ["center", "top", "bottom", "left", "right", "top-left", "top-right", "bottom-left", "bottom-right"];

const TABLE = {
  pdf_page_size: {
    type: "text", aliases: ["page_size"], appliesTo: ["pdf"],
    valuesText: `auto, a named size (${Object.keys(PAGE_SIZES).join(", ")}) or WxH in points such as "1240.2x1753.95" (each side 1 to ${MAX_PAGE_POINTS})`,
    defaultText: "auto",
    description: "Size of the pages made from images. auto: each page is its image's size (1 px = 1 pt). A PDF input's pages keep their own size whatever this says.",
  },
  pdf_orientation: {
    type: "enum", values: ["portrait", "landscape", "auto"], aliases: ["orientation"], appliesTo: ["pdf"],
    defaultText: "auto",
    description: "Orientation of image pages of a named or WxH size: portrait puts the long side vertical, landscape horizontal, auto follows each image (a wide image gets a landscape page). No effect with pdf_page_size auto.",
  },
  pdf_image_alignment: {
    type: "enum", values: ALIGNMENTS, valueAliases: { middle: "center", centre: "center" }, aliases: ["image_alignment"], appliesTo: ["pdf"],
    defaultText: "center",
    description: "Where an image smaller than its page sits: center, top, bottom, left, right, top-left, top-right, bottom-left or bottom-right (any case; TopLeft, top_left and \"Top Left\" are the same).",
  },
  enlarge_images_to_fit: {
    type: "boolean", aliases: [], appliesTo: ["pdf", "gif"],
    defaultText: "false",
    description: "Scale images smaller than the page (or than a gif's first frame) up until they fit, keeping their aspect ratio. Larger images are always scaled down to fit.",
  },
  gif_frame_delay: {
    type: "integer", min: 20, max: 60_000, unit: "ms", aliases: ["delay"], appliesTo: ["gif"],
    defaultText: "500",
    description: "How long each frame of the animated gif shows.",
  },
  gif_loop: {
    type: "integer", min: 0, max: 65_535, aliases: ["loop"], appliesTo: ["gif"],
    defaultText: "0 (forever)",
    description: "How many times the animation plays; 0 loops forever.",
  },
} as const satisfies { readonly [K in keyof MergeOptions]-?: Omit<OptionSpec<K>, "name"> };

/** The merge options table, in display order. */
export const MERGE_OPTIONS: readonly OptionSpec<keyof MergeOptions>[] = Object.entries(TABLE).map(
  ([name, spec]) => ({ name, ...spec }) as OptionSpec<keyof MergeOptions>,
);

/** Parsed merge options and the given names that have no effect (unknown, or not for this output). */
export interface ParsedMergeOptions {
  values: MergeOptions;
  ignored: string[];
}

/**
 * Validates the `options` of a merge to `outputFormat`; options for the other output are moved
 * to `ignored`. A bad value throws AppError("invalid_option") naming the option and the accepted values.
 */
export function parseMergeOptions(options: unknown, outputFormat: string): ParsedMergeOptions {
  const { values, ignored } = parseOptionsWith(MERGE_OPTIONS, options);
  const parsed: Record<string, unknown> = { ...values };
  if (typeof values.pdf_page_size === "string") {
    const givenAs = Object.keys(options as object).find((k) => k === "pdf_page_size" || k === "page_size") ?? "pdf_page_size";
    parsed.pdf_page_size = parsePageSize(values.pdf_page_size, givenAs);
  }
  const output = normalizeFormat(outputFormat);
  for (const spec of MERGE_OPTIONS) {
    if (spec.name in parsed && spec.appliesTo && !spec.appliesTo.includes(output)) {
      delete parsed[spec.name];
      ignored.push(spec.name);
    }
  }
  return { values: parsed as MergeOptions, ignored };
}

/** Parses `auto`, a named size (any case) or `WxH` in points ("1240.2x1753.95", also with × or *). */
export function parsePageSize(text: string, givenAs = "pdf_page_size"): PageSize | "auto" {
  const spec = MERGE_OPTIONS.find((s) => s.name === "pdf_page_size")!;
  const trimmed = text.trim();
  if (trimmed.toLowerCase() === "auto") return "auto";
  const named = Object.entries(PAGE_SIZES).find(([name]) => name.toLowerCase() === trimmed.toLowerCase());
  if (named) return { name: named[0], width: named[1][0], height: named[1][1] };
  const match = /^(\d+(?:\.\d+)?)\s*[x×*]\s*(\d+(?:\.\d+)?)$/i.exec(trimmed);
  const width = Number(match?.[1]);
  const height = Number(match?.[2]);
  if (!match || !(width >= 1 && width <= MAX_PAGE_POINTS && height >= 1 && height <= MAX_PAGE_POINTS)) {
    throw invalidOption(spec, givenAs, text);
  }
  return { name: null, width, height };
}

/** A rectangle on a page, in points from the bottom-left corner (PDF's origin). */
export interface PlacedImage {
  pageWidth: number;
  pageHeight: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Lays one image (its size in pixels, 1 px = 1 pt) on its page: the page size after
 * orientation, the image scaled down to fit (up too with enlarge_images_to_fit), aligned.
 */
export function placeImage(image: { width: number; height: number }, options: MergeOptions): PlacedImage {
  if (!(image.width > 0 && image.height > 0)) throw new AppError("corrupt_file", "the image has no dimensions");
  const size = options.pdf_page_size ?? "auto";
  if (size === "auto") return { pageWidth: image.width, pageHeight: image.height, x: 0, y: 0, width: image.width, height: image.height };
  const short = Math.min(size.width, size.height);
  const long = Math.max(size.width, size.height);
  const orientation = options.pdf_orientation ?? "auto";
  const landscape = orientation === "landscape" || (orientation === "auto" && image.width > image.height);
  const pageWidth = landscape ? long : short;
  const pageHeight = landscape ? short : long;
  const fit = Math.min(pageWidth / image.width, pageHeight / image.height);
  const scale = fit < 1 || options.enlarge_images_to_fit ? fit : 1;
  const width = image.width * scale;
  const height = image.height * scale;
  const align = options.pdf_image_alignment ?? "center";
  const horizontal = align.endsWith("left") ? 0 : align.endsWith("right") ? 1 : 0.5;
  const vertical = align.startsWith("top") ? 1 : align.startsWith("bottom") ? 0 : 0.5;
  return { pageWidth, pageHeight, x: (pageWidth - width) * horizontal, y: (pageHeight - height) * vertical, width, height };
}
