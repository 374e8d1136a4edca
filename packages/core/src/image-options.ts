/**
 * The options of image conversion, as one table: validation, the docs and the options endpoint
 * are all generated from IMAGE_OPTIONS, so a new option is one row here plus its use in the engine.
 */
import { AppError } from "./errors.js";
import { parseOptionsWith, showValue, toBoolean, toNumber, toNumberInRange } from "./option-table.js";
import { normalizeFormat } from "./formats.js";

/** A colour with 0..255 channels and an alpha from 0 (transparent) to 1 (opaque), as sharp takes it. */
export interface Rgba {
  r: number;
  g: number;
  b: number;
  alpha: number;
}

/** Parsed image options, keyed by their canonical option names. Absent means "not given". */
export interface ImageOptions {
  image_custom_width?: number;
  image_custom_height?: number;
  image_resize_percentage?: number;
  background?: Rgba;
  png_compression_quality?: number;
  png_compression_level?: number | "lossless" | "lossy";
  jpg_convert_compression_level?: number;
  quality?: number;
  keep_metadata?: boolean;
}

/** The kinds of value an image option takes. */
export type ImageOptionType = "integer" | "number" | "color" | "boolean";

/** One row of the image options table. */
export interface ImageOptionSpec {
  /** Canonical option name, as FreeConvert spells it. */
  readonly name: keyof ImageOptions;
  /** The kind of value; numbers may also arrive as numeric strings ("70"). */
  readonly type: ImageOptionType;
  /** Other names accepted for the same option. */
  readonly aliases: readonly string[];
  /** Smallest accepted number, inclusive. */
  readonly min?: number;
  /** Largest accepted number, inclusive. */
  readonly max?: number;
  /** Unit of the number, for the docs. */
  readonly unit?: "px" | "%";
  /** Words accepted besides numbers (case-insensitive). */
  readonly keywords?: readonly string[];
  /** Output formats the option affects; absent means every output format. */
  readonly appliesTo?: readonly string[];
  /** The behaviour when the option is absent, for the docs. */
  readonly defaultText: string;
  /** What the option does, for the docs. */
  readonly description: string;
}

const LOSSY_OUTPUTS = ["jpg", "webp", "avif", "heic"];

const TABLE = {
  image_custom_width: {
    type: "integer", min: 1, max: 50_000, unit: "px", aliases: [],
    defaultText: "the input width (or the width that keeps the aspect ratio when only the height is given)",
    description: "Output width. Given alone, the height follows the aspect ratio; given with image_custom_height, the image is resized to exactly that size.",
  },
  image_custom_height: {
    type: "integer", min: 1, max: 50_000, unit: "px", aliases: [],
    defaultText: "the input height (or the height that keeps the aspect ratio when only the width is given)",
    description: "Output height. Given alone, the width follows the aspect ratio.",
  },
  image_resize_percentage: {
    type: "number", min: 1, max: 1000, unit: "%", aliases: [],
    defaultText: "100",
    description: "Scales both sides by this percentage, keeping the aspect ratio. Ignored when image_custom_width or image_custom_height is given.",
  },
  background: {
    type: "color", aliases: ["background_color"],
    defaultText: "transparency is kept where the output format has it; jpg is flattened on white",
    description: "Colour that fills transparent areas (and the canvas behind an SVG): #rgb, #rrggbb, #rrggbbaa, rgb(r, g, b), rgba(r, g, b, a), a CSS basic colour name, or transparent (keeps transparency).",
  },
  png_compression_quality: {
    type: "integer", min: 1, max: 100, aliases: ["png_convert_quality"], appliesTo: ["png"],
    defaultText: "80 when png_compression_level is \"lossy\"; otherwise no quantisation",
    description: "Lossy PNG: quantises to a palette of at most 256 colours, keeping this quality (higher = more faithful, larger). Giving it implies lossy compression unless png_compression_level is \"lossless\".",
  },
  png_compression_level: {
    type: "integer", min: 0, max: 9, keywords: ["lossless", "lossy"], aliases: [], appliesTo: ["png"],
    defaultText: "6, lossless",
    description: "zlib level 0 (fastest, largest) to 9 (slowest, smallest), lossless unless png_compression_quality is given; or \"lossless\" (level 9, png_compression_quality ignored) or \"lossy\" (palette quantisation at png_compression_quality, level 9).",
  },
  jpg_convert_compression_level: {
    type: "integer", min: 1, max: 100, aliases: ["jpeg_convert_compression_level"], appliesTo: ["jpg"],
    defaultText: "quality 80 (level 21)",
    description: "JPEG compression level: higher = smaller file, lower quality. The JPEG quality used is 101 - level (level 1 = quality 100). Takes precedence over quality.",
  },
  quality: {
    type: "integer", min: 1, max: 100, aliases: [], appliesTo: LOSSY_OUTPUTS,
    defaultText: "the encoder's: 80 for jpg and webp, 50 for avif and heic",
    description: "Output quality of lossy formats (jpg, webp, avif, heic): higher = more faithful, larger.",
  },
  keep_metadata: {
    type: "boolean", aliases: [],
    defaultText: "false",
    description: "Keep EXIF, XMP and the ICC profile. By default they are stripped; the orientation is applied to the pixels either way.",
  },
} as const satisfies { readonly [K in keyof ImageOptions]-?: Omit<ImageOptionSpec, "name"> };

/** The image options table, in display order: the single source for validation, docs and the options endpoint. */
export const IMAGE_OPTIONS: readonly ImageOptionSpec[] = Object.entries(TABLE).map(
  ([name, spec]) => ({ name, ...spec }) as ImageOptionSpec,
);

/** The JPEG quality that jpg_convert_compression_level stands for: 101 - level, so 1 is best and 100 smallest. */
export function toJpegQuality(compressionLevel: number): number {
  return Math.min(100, Math.max(1, 101 - Math.round(compressionLevel)));
}

/** The accepted values of an option in words, as error messages and docs show them. */
export function describeImageOptionValues(spec: ImageOptionSpec): string {
  switch (spec.type) {
    case "boolean":
      return "true or false";
    case "color":
      return "a colour such as #ffffff, #fff, rgb(255, 255, 255), white or transparent";
    default: {
      const kind = spec.type === "integer" ? "a whole number" : "a number";
      const unit = spec.unit === undefined ? "" : ` (${spec.unit})`;
      const words = spec.keywords?.length ? `, or ${spec.keywords.map((k) => `"${k}"`).join(" or ")}` : "";
      return `${kind} from ${spec.min} to ${spec.max}${unit}${words}`;
    }
  }
}

/** Parsed options and the names that were given but have no effect (unknown, or not for this output). */
export interface ParsedImageOptions {
  values: ImageOptions;
  ignored: string[];
}

/**
 * Validates the `options` object of an image conversion. Numbers may be numeric strings; null and
 * "" mean "not given". Unknown options are listed in `ignored`, as are options that do not apply
 * to `context.outputFormat` when it is given. A known option with a bad value throws
 * AppError("invalid_option") naming the option, the value and what is accepted.
 */
export function parseImageOptions(options: unknown, context: { outputFormat?: string } = {}): ParsedImageOptions {
  const { values, ignored, givenAs } = parseOptionsWith(IMAGE_OPTIONS, options, parseValue);
  const drop = (name: keyof ImageOptions) => {
    if (!(name in values)) return;
    delete values[name];
    ignored.push(givenAs.get(name) ?? name);
  };
  if ("image_custom_width" in values || "image_custom_height" in values) drop("image_resize_percentage");
  if (values.png_compression_level === "lossless") drop("png_compression_quality");
  if (context.outputFormat !== undefined) {
    const output = normalizeFormat(context.outputFormat);
    for (const spec of IMAGE_OPTIONS) {
      if (spec.appliesTo && !spec.appliesTo.includes(output)) drop(spec.name);
    }
    if (output === "jpg" && "jpg_convert_compression_level" in values) drop("quality");
  }
  return { values: values as ImageOptions, ignored };
}

function parseValue(spec: ImageOptionSpec, key: string, raw: unknown): unknown {
  const invalid = () => new AppError("invalid_option", `option ${key} must be ${describeImageOptionValues(spec)}; got ${showValue(raw)}`);
  switch (spec.type) {
    case "boolean": {
      const flag = toBoolean(raw);
      if (flag === null) throw invalid();
      return flag;
    }
    case "color": {
      // An Rgba object is what parsing produced: accepting it makes re-validation in the worker a no-op.
      const color = typeof raw === "string" ? parseColor(raw) : toRgba(raw);
      if (color === null) throw invalid();
      return color;
    }
    default: {
      if (typeof raw === "string" && spec.keywords) {
        const word = spec.keywords.find((k) => k === raw.trim().toLowerCase());
        if (word !== undefined) return word;
      }
      const n = toNumberInRange(spec, raw);
      if (n === null) throw invalid();
      return n;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Colours.

const NAMED_COLORS: Readonly<Record<string, string>> = {
  black: "000000", white: "ffffff", red: "ff0000", lime: "00ff00", green: "008000", blue: "0000ff",
  yellow: "ffff00", cyan: "00ffff", aqua: "00ffff", magenta: "ff00ff", fuchsia: "ff00ff", gray: "808080",
  grey: "808080", silver: "c0c0c0", maroon: "800000", olive: "808000", navy: "000080", purple: "800080",
  teal: "008080", orange: "ffa500",
};

/**
 * Parses a CSS-ish colour: #rgb, #rgba, #rrggbb, #rrggbbaa (or 6 hex digits without #),
 * rgb()/rgba() with 0..255 or percentage channels and a 0..1 or percentage alpha, a CSS basic
 * colour name, or transparent / none. Null when it is none of these.
 */
export function parseColor(text: string): Rgba | null {
  const s = text.trim().toLowerCase();
  if (s === "transparent" || s === "none") return { r: 0, g: 0, b: 0, alpha: 0 };
  const named = NAMED_COLORS[s];
  if (named !== undefined) return parseHex(named);
  if (s.startsWith("#")) return parseHex(s.slice(1));
  if (/^[0-9a-f]{6}$/.test(s)) return parseHex(s);
  const fn = /^rgba?\(\s*([^,\s/]+)\s*[,\s]\s*([^,\s/]+)\s*[,\s]\s*([^,\s/)]+)\s*(?:[,/]\s*([^,\s/)]+)\s*)?\)$/.exec(s);
  if (!fn) return null;
  const [r, g, b] = [fn[1], fn[2], fn[3]].map((c) => parseChannel(c ?? "", 255));
  const alpha = fn[4] === undefined ? 1 : parseChannel(fn[4], 1);
  if (r === null || g === null || b === null || alpha === null || r === undefined || g === undefined || b === undefined) return null;
  return { r: Math.round(r), g: Math.round(g), b: Math.round(b), alpha };
}

function toRgba(value: unknown): Rgba | null {
  if (typeof value !== "object" || value === null) return null;
  const { r, g, b, alpha = 1 } = value as Record<string, unknown>;
  const channel = (c: unknown) => typeof c === "number" && Number.isInteger(c) && c >= 0 && c <= 255;
  if (!channel(r) || !channel(g) || !channel(b) || typeof alpha !== "number" || !(alpha >= 0 && alpha <= 1)) return null;
  return { r: r as number, g: g as number, b: b as number, alpha };
}

function parseHex(hex: string): Rgba | null {
  if (!/^([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/.test(hex)) return null;
  const full = hex.length <= 4 ? [...hex].map((c) => c + c).join("") : hex;
  const byte = (i: number) => parseInt(full.slice(i * 2, i * 2 + 2), 16);
  return { r: byte(0), g: byte(1), b: byte(2), alpha: full.length === 8 ? Math.round((byte(3) / 255) * 1000) / 1000 : 1 };
}

function parseChannel(text: string, max: number): number | null {
  const percent = text.endsWith("%");
  const n = toNumber(percent ? text.slice(0, -1) : text);
  if (n === null) return null;
  const value = percent ? (n / 100) * max : n;
  return value >= 0 && value <= max ? value : null;
}
