/**
 * The options of `compress`, as one table: validation at job creation and in the worker, the
 * docs and the options endpoint all read COMPRESS_OPTIONS. Which options apply depends on the
 * input's format (known for sure only once its bytes are read): the others are ignored and
 * listed in the task result, as convert does with image options.
 */
import { AppError } from "./errors.js";
import { normalizeFormat } from "./formats.js";
import { invalidOption, parseOptionsWith, parseOptionValue, type OptionSpec } from "./option-table.js";
import { parseBitrate } from "./media-options.js";

/** Parsed compress options, keyed by their canonical names. Absent means "not given". */
export interface CompressOptions {
  quality?: number;
  mozjpeg?: boolean;
  png_palette?: boolean;
  colors?: number;
  lossless?: boolean;
  keep_metadata?: boolean;
  pdf_compression_level?: PdfCompressionLevel;
  pdf_convert_to_gray?: boolean;
  video_crf?: number;
  video_max_width?: number;
  video_max_height?: number;
  /** Bits per second. */
  audio_bitrate?: number;
}

/** How hard Ghostscript compresses a PDF: the image resolution it keeps and its JPEG quality. */
export type PdfCompressionLevel = "low" | "medium" | "strong";

/** Image formats compress re-encodes in their own format (sharp). */
export const COMPRESSIBLE_IMAGES = ["jpg", "png", "webp", "avif", "gif", "tiff"] as const;

/** Video formats compress re-encodes in their own format (ffmpeg); gif is an image here. */
export const COMPRESSIBLE_VIDEO = ["mp4", "webm", "mov", "mkv", "avi"] as const;

/** Audio formats compress re-encodes in their own format (ffmpeg). */
export const COMPRESSIBLE_AUDIO = ["mp3", "wav", "ogg", "flac", "aac", "m4a", "opus"] as const;

/** Every format compress takes: the images above, PDF (Ghostscript), video and audio (ffmpeg). */
export const COMPRESSIBLE_FORMATS: readonly string[] = [...COMPRESSIBLE_IMAGES, "pdf", ...COMPRESSIBLE_VIDEO, ...COMPRESSIBLE_AUDIO];

/** Formats whose audio is re-encoded lossily, so a bitrate applies (wav and flac stay lossless). */
const LOSSY_AUDIO_CONTAINERS = [...COMPRESSIBLE_VIDEO, "mp3", "ogg", "aac", "m4a", "opus"];

/**
 * The default quality of each lossy image format when `quality` is not given: mozjpeg at 75
 * looks like libjpeg at 80-85 and is about a third smaller; AVIF's scale runs lower.
 */
export const DEFAULT_COMPRESS_QUALITY: Readonly<Record<string, number>> = { jpg: 75, webp: 75, avif: 45, png: 80 };

const TABLE = {
  quality: {
    type: "integer", min: 1, max: 100, aliases: ["image_quality"], appliesTo: ["jpg", "webp", "avif", "png"],
    defaultText: "75 for jpg and webp, 45 for avif, 80 for png's palette",
    description: "Quality of the re-encoded image (higher = more faithful, larger). For png it is the palette quantiser's target quality; ignored for lossless webp and avif.",
  },
  mozjpeg: {
    type: "boolean", aliases: [], appliesTo: ["jpg"],
    defaultText: "true",
    description: "Encode with mozjpeg's trellis quantisation, progressive scans and optimised Huffman tables: smaller at the same quality, slower. false uses plain libjpeg settings (baseline, optimised Huffman).",
  },
  png_palette: {
    type: "boolean", aliases: [], appliesTo: ["png"],
    defaultText: "true",
    description: "Quantise to a palette of at most `colors` colours (libimagequant, lossy, usually 60-80% smaller). false keeps every colour and only recompresses (zlib level 9 with adaptive filtering).",
  },
  colors: {
    type: "integer", min: 2, max: 256, aliases: ["colours"], appliesTo: ["png", "gif"],
    defaultText: "256",
    description: "Most palette entries of a gif, or of a quantised png: fewer colours, smaller file. For png it is rounded up to a PNG bit depth (2, 4, 16 or 256 colours): libvips writes 1, 2, 4 or 8-bit palettes.",
  },
  lossless: {
    type: "boolean", aliases: [], appliesTo: ["webp", "avif"],
    defaultText: "false",
    description: "Re-encode webp or avif losslessly (quality is then ignored).",
  },
  keep_metadata: {
    type: "boolean", aliases: [], appliesTo: ["jpg", "png", "webp", "avif", "gif", "tiff"],
    defaultText: "false",
    description: "Keep EXIF, XMP and the ICC profile. By default they are stripped (part of the saving); the orientation is applied to the pixels either way.",
  },
  pdf_compression_level: {
    type: "enum", values: ["low", "medium", "strong"], aliases: [], appliesTo: ["pdf"],
    defaultText: "medium",
    description: "How far images are downsampled: low to 300 ppi (Ghostscript's /printer settings, high JPEG quality), medium to 150 ppi (/ebook), strong to 72 ppi (/screen, low JPEG quality); an image is downsampled when it is more than 10% over the target. Fonts are subset and duplicate images stored once at every level.",
  },
  pdf_convert_to_gray: {
    type: "boolean", aliases: ["pdf_convert_to_grey"], appliesTo: ["pdf"],
    defaultText: "false",
    description: "Convert every colour (images, text, vector art) to grayscale: a further saving on colour photos.",
  },
  video_crf: {
    type: "integer", min: 0, max: 51, aliases: ["crf"], appliesTo: COMPRESSIBLE_VIDEO,
    defaultText: "28 for h264 (mp4, mov, mkv), 35 for vp9 (webm); avi's mpeg4 maps it to its 1-31 quantiser",
    description: "Constant quality target of the re-encoded video: higher is smaller and blurrier (h264: 18 looks lossless, 28 is small, 35+ visibly soft).",
  },
  video_max_width: {
    type: "integer", min: 16, max: 8192, unit: "px", aliases: [], appliesTo: COMPRESSIBLE_VIDEO,
    defaultText: "no limit",
    description: "Scales a wider video down to this width, keeping the aspect ratio; a narrower one is left as it is.",
  },
  video_max_height: {
    type: "integer", min: 16, max: 8192, unit: "px", aliases: [], appliesTo: COMPRESSIBLE_VIDEO,
    defaultText: "no limit",
    description: "Scales a taller video down to this height, keeping the aspect ratio; a shorter one is left as it is.",
  },
  audio_bitrate: {
    type: "text", valuesText: "a bitrate like \"96k\" (a bare number is kbit/s), from 8k to 640k", aliases: [], appliesTo: LOSSY_AUDIO_CONTAINERS,
    defaultText: "96k (opus 64k), or the input's bitrate when that is lower",
    description: "Average bitrate of the re-encoded audio. wav is rewritten as 16-bit PCM and flac at its highest compression level: both stay lossless, so this does not apply.",
  },
} as const satisfies { readonly [K in keyof CompressOptions]-?: Omit<OptionSpec<K>, "name"> };

/** The compress options table, in display order. */
export const COMPRESS_OPTIONS: readonly OptionSpec<keyof CompressOptions>[] = Object.entries(TABLE).map(
  ([name, spec]) => ({ name, ...spec }) as OptionSpec<keyof CompressOptions>,
);

/** Parsed compress options and the given names that have no effect (unknown, or not for this format). */
export interface ParsedCompressOptions {
  values: CompressOptions;
  ignored: string[];
}

/**
 * Validates the `options` of a compress task. With `context.format` (the input's format), options
 * that do not apply to it are moved to `ignored`. A known option with a bad value throws
 * AppError("invalid_option") naming the option, the value and what is accepted.
 */
export function parseCompressOptions(options: unknown, context: { format?: string } = {}): ParsedCompressOptions {
  const { values, ignored } = parseOptionsWith(COMPRESS_OPTIONS, options, (spec, givenAs, raw) => {
    if (spec.name !== "audio_bitrate") return parseOptionValue(spec, givenAs, raw);
    const bits = parseBitrate(raw, 8_000, 640_000);
    if (bits === null) throw invalidOption(spec, givenAs, raw);
    return bits;
  });
  const parsed = values as CompressOptions;
  const drop = (name: keyof CompressOptions, givenAs: string) => {
    delete parsed[name];
    ignored.push(givenAs);
  };
  if (context.format !== undefined) {
    const format = normalizeFormat(context.format);
    for (const spec of COMPRESS_OPTIONS) {
      if (spec.name in parsed && spec.appliesTo && !spec.appliesTo.includes(format)) drop(spec.name, spec.name);
    }
    if (parsed.lossless === true && parsed.quality !== undefined) drop("quality", "quality");
    if (format === "png" && parsed.png_palette === false && parsed.quality !== undefined) drop("quality", "quality");
  }
  return { values: parsed, ignored };
}

/** Whether compress takes files of `format` (by the table, not by what a machine has installed). */
export function isCompressible(format: string): boolean {
  return COMPRESSIBLE_FORMATS.includes(normalizeFormat(format));
}

/** The unsupported_format failure of a compress input, naming what is accepted. */
export function notCompressible(format: string | null, name: string): AppError {
  const what = format === null ? "could not be identified from its bytes" : `is ${format}`;
  return new AppError("unsupported_format", `The file "${name}" ${what}; compress takes ${COMPRESSIBLE_FORMATS.join(", ")}.`);
}
