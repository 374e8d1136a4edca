/**
 * Image conversion with sharp (libvips). Runs inside a pool child (image-child.ts): it decodes
 * untrusted bytes with native code, so a hang or a crash must only cost that child.
 */
import { readFile, rm } from "node:fs/promises";
import sharp, { type Sharp, type SharpOptions } from "sharp";
import { AppError, isAppError, normalizeFormat, toJpegQuality, type ImageOptions } from "@transmute/core";

/** Limits a conversion must stay within. */
export interface ImageLimits {
  /** Most pixels (width x height x frames) of the input and of the output. */
  maxPixels: number;
}

/** One image conversion, as sent to a pool child. */
export interface ConvertImageRequest {
  inputPath: string;
  outputPath: string;
  inputFormat: string;
  outputFormat: string;
  /** Options already validated by parseImageOptions. */
  options: ImageOptions;
  limits: ImageLimits;
}

/** The output of an image conversion. */
export interface ConvertImageResult {
  width: number;
  /** Height of one frame (the whole image unless animated). */
  height: number;
  /** Canonical output format. */
  format: string;
  /** Output size in bytes. */
  size: number;
}

/** Our format names to sharp's, for inputs. `heic` counts only where libheif decodes HEVC. */
const IMAGE_INPUTS: Readonly<Record<string, keyof typeof sharp.format>> = {
  jpg: "jpeg", png: "png", webp: "webp", avif: "heif", heic: "heif", gif: "gif", tiff: "tiff", svg: "svg",
};

/** Outputs convertImage has an encoder setup for, with sharp's format id. */
const IMAGE_OUTPUTS: Readonly<Record<string, keyof typeof sharp.format>> = {
  jpg: "jpeg", png: "png", webp: "webp", avif: "heif", gif: "gif", tiff: "tiff",
};

/**
 * The formats this build of sharp reads and writes, among those convertImage handles. Prebuilt
 * sharp has no HEVC (patents), so heic drops out unless libvips was built with it.
 */
export function listImageFormats(): { inputs: string[]; outputs: string[] } {
  const inputs = Object.entries(IMAGE_INPUTS).filter(([ext, id]) => {
    const input = sharp.format[id]?.input;
    // Files are read by path, SVG from a buffer; the heif loader lists the suffixes its codecs cover.
    return input?.file && input.buffer && (id !== "heif" || (input.fileSuffix ?? []).includes(`.${ext}`));
  });
  const outputs = Object.entries(IMAGE_OUTPUTS).filter(([, id]) => sharp.format[id]?.output.file);
  return { inputs: inputs.map(([ext]) => ext), outputs: outputs.map(([ext]) => ext) };
}

let formats: { inputs: string[]; outputs: string[] } | undefined;

const ANIMATED = new Set(["gif", "webp"]);
const WITHOUT_ALPHA = new Set(["jpg"]);
const WHITE = { r: 255, g: 255, b: 255 };
/** librsvg's and sharp's default: an SVG's user unit is one pixel at 72 DPI. */
const SVG_BASE_DENSITY = 72;

/**
 * Converts one image file to another format, resizing and flattening as the options say.
 * Fails with image_too_large (input or output over limits.maxPixels, checked from the header
 * before any pixel is decoded), corrupt_file (undecodable input), unsupported_conversion, or
 * processing_failed. A failed conversion leaves no output file behind.
 */
export async function convertImage(request: ConvertImageRequest): Promise<ConvertImageResult> {
  const from = normalizeFormat(request.inputFormat);
  const to = normalizeFormat(request.outputFormat);
  formats ??= listImageFormats();
  if (!formats.inputs.includes(from) || !formats.outputs.includes(to)) {
    throw new AppError("unsupported_conversion", `the image engine cannot convert ${from} to ${to}`);
  }
  try {
    return await runConversion(request, from, to);
  } catch (err) {
    await rm(request.outputPath, { force: true });
    throw toAppError(err, from, request.limits.maxPixels);
  }
}

async function runConversion(request: ConvertImageRequest, from: string, to: string): Promise<ConvertImageResult> {
  const { options, limits } = request;
  // librsvg resolves external references against a file's location; from a buffer it has none.
  const input = from === "svg" ? await readFile(request.inputPath) : request.inputPath;
  const animated = ANIMATED.has(from) && ANIMATED.has(to);
  const base: SharpOptions = { limitInputPixels: limits.maxPixels, failOn: "error", autoOrient: true, animated };

  // The header alone, unlimited so our own check below can name the size; no pixel is decoded.
  const meta = await sharp(input, { ...base, limitInputPixels: false }).metadata();
  const width = meta.autoOrient?.width ?? meta.width;
  const fullHeight = meta.autoOrient?.height ?? meta.height;
  if (!width || !fullHeight) throw new AppError("corrupt_file", `the ${from} file has no readable dimensions`);
  const pages = animated ? Math.max(1, meta.pages ?? 1) : 1;
  const height = animated && meta.pageHeight ? meta.pageHeight : fullHeight;
  checkPixels(width, fullHeight, 1, limits.maxPixels, "image");

  const target = targetSize(width, height, options);
  if (target) checkPixels(target.width, target.height, pages, limits.maxPixels, "output");

  let image: Sharp;
  if (from === "svg") {
    // Render at the density that gives the target size, so a small SVG scaled up stays sharp.
    const scale = target ? Math.max(target.width / width, target.height / height) : 1;
    const density = Math.min(100_000, Math.max(1, SVG_BASE_DENSITY * scale));
    image = sharp(input, { ...base, density });
  } else {
    image = sharp(input, base);
  }
  if (target) image = image.resize({ width: target.width, height: target.height, fit: "fill" });

  const background = options.background;
  if (background && background.alpha > 0) {
    image = image.flatten({ background: { r: background.r, g: background.g, b: background.b } });
  } else if (WITHOUT_ALPHA.has(to)) {
    image = image.flatten({ background: WHITE });
  }
  if (options.keep_metadata) image = image.keepMetadata();
  image = encode(image, to, options);

  const info = await image.toFile(request.outputPath);
  return { width: info.width, height: info.pageHeight ?? info.height, format: to, size: info.size };
}

/** The output size the options ask for, or undefined to keep the input size. */
function targetSize(width: number, height: number, options: ImageOptions): { width: number; height: number } | undefined {
  const w = options.image_custom_width;
  const h = options.image_custom_height;
  if (w !== undefined && h !== undefined) return { width: w, height: h };
  if (w !== undefined) return { width: w, height: Math.max(1, Math.round((height * w) / width)) };
  if (h !== undefined) return { width: Math.max(1, Math.round((width * h) / height)), height: h };
  const percent = options.image_resize_percentage;
  if (percent === undefined || percent === 100) return undefined;
  return { width: Math.max(1, Math.round((width * percent) / 100)), height: Math.max(1, Math.round((height * percent) / 100)) };
}

/** Fails with image_too_large when width x height x pages is over the pixel cap. */
export function checkPixels(width: number, height: number, pages: number, maxPixels: number, what: "image" | "output"): void {
  if (width * height * pages <= maxPixels) return;
  const frames = pages > 1 ? ` x ${pages} frames` : "";
  const subject = what === "image" ? "the image is" : "the output would be";
  throw new AppError("image_too_large", `${subject} ${width} x ${height} pixels${frames}; the limit is ${maxPixels} pixels`);
}

function encode(image: Sharp, to: string, options: ImageOptions): Sharp {
  switch (to) {
    case "jpg": {
      const level = options.jpg_convert_compression_level;
      return image.jpeg({ quality: level !== undefined ? toJpegQuality(level) : (options.quality ?? 80), mozjpeg: true });
    }
    case "png": {
      const level = options.png_compression_level;
      const lossy = level === "lossy" || (level !== "lossless" && options.png_compression_quality !== undefined);
      const compressionLevel = typeof level === "number" ? level : level === undefined ? 6 : 9;
      return lossy
        ? image.png({ compressionLevel, palette: true, quality: options.png_compression_quality ?? 80 })
        : image.png({ compressionLevel });
    }
    case "webp":
      return image.webp({ quality: options.quality ?? 80 });
    case "avif":
      return image.avif({ quality: options.quality ?? 50 });
    case "gif":
      return image.gif();
    case "tiff":
      // sharp's default TIFF compression is JPEG, which is lossy and drops alpha; LZW is neither.
      return image.tiff({ compression: "lzw" });
    default:
      throw new AppError("unsupported_conversion", `the image engine cannot write ${to}`);
  }
}

/**
 * Maps a sharp/libvips failure to our codes. libvips reports only text, so this is the one place
 * that reads error messages; the raw text goes to `detail` (it can hold paths).
 */
export function toAppError(err: unknown, format: string, maxPixels: number): AppError {
  if (isAppError(err)) return err;
  const text = err instanceof Error ? err.message : String(err);
  if (/exceeds pixel limit/i.test(text)) {
    return new AppError("image_too_large", `the image is larger than the limit of ${maxPixels} pixels`, { detail: text });
  }
  // Failures of the machine, not the file: checked first since the path in them may contain anything.
  if (/unable to open for write|write error|system error|no space left|permission denied|input file is missing/i.test(text)) {
    return new AppError("processing_failed", "the image conversion failed", { detail: text, retryable: true });
  }
  if (/unsupported image format|corrupt|premature end|unexpected end|read error|bad seek|invalid|truncated|not a known|VipsJpeg|vipspng|libpng|gifload|webp|tiff2vips|heif|svgload|rsvg/i.test(text)) {
    return new AppError("corrupt_file", `the file is damaged or is not a ${format} image`, { detail: text });
  }
  return new AppError("processing_failed", "the image conversion failed", { detail: text });
}
