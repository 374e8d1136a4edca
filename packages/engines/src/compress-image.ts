/**
 * Image compression with sharp: the image is re-encoded in its own format with the settings
 * that shrink it most for the quality asked (mozjpeg, palette quantisation, higher effort).
 * Runs inside an image pool child (image-child.ts). Whether the result is kept is the
 * caller's decision: it can come out larger than an already well-compressed input.
 */
import { rm } from "node:fs/promises";
import sharp, { type Sharp } from "sharp";
import { AppError, COMPRESSIBLE_IMAGES, DEFAULT_COMPRESS_QUALITY, normalizeFormat, type CompressOptions } from "@transmute/core";
import { checkPixels, toAppError, type ImageLimits } from "./convert-image.js";

/** One image compression, as sent to a pool child. */
export interface CompressImageRequest {
  kind: "compress";
  inputPath: string;
  outputPath: string;
  format: string;
  /** Options already validated (and filtered to the format) by parseCompressOptions. */
  options: CompressOptions;
  limits: ImageLimits;
}

/** What an image compression wrote. */
export interface CompressImageResult {
  format: string;
  size: number;
  width: number;
  height: number;
}

const ANIMATED = new Set(["gif", "webp"]);

/**
 * Re-encodes one image in its own format. Fails with image_too_large (checked from the header
 * before decoding), corrupt_file or unsupported_format; leaves no output behind on failure.
 */
export async function compressImage(request: CompressImageRequest): Promise<CompressImageResult> {
  const format = normalizeFormat(request.format);
  if (!(COMPRESSIBLE_IMAGES as readonly string[]).includes(format)) {
    throw new AppError("unsupported_format", `the image engine does not compress ${format}`);
  }
  try {
    const { limits } = request;
    const meta = await sharp(request.inputPath, { limitInputPixels: false, animated: ANIMATED.has(format) }).metadata();
    if (!meta.width || !meta.height) throw new AppError("corrupt_file", `the ${format} file has no readable dimensions`);
    checkPixels(meta.width, meta.height, 1, limits.maxPixels, "image");
    // Every frame of an animation is kept; sharp decodes them as one tall image.
    const animated = ANIMATED.has(format) && (meta.pages ?? 1) > 1;
    let image = sharp(request.inputPath, { limitInputPixels: limits.maxPixels, failOn: "error", autoOrient: true, animated });
    if (request.options.keep_metadata) image = image.keepMetadata();
    const info = await encode(image, format, request.options).toFile(request.outputPath);
    return { format, size: info.size, width: info.width, height: info.pageHeight ?? info.height };
  } catch (err) {
    await rm(request.outputPath, { force: true });
    throw toAppError(err, format, request.limits.maxPixels);
  }
}

function encode(image: Sharp, format: string, options: CompressOptions): Sharp {
  const quality = options.quality ?? DEFAULT_COMPRESS_QUALITY[format];
  switch (format) {
    case "jpg":
      return options.mozjpeg === false
        ? image.jpeg({ quality, optimiseCoding: true, progressive: false })
        : image.jpeg({ quality, mozjpeg: true });
    case "png":
      return options.png_palette === false
        ? image.png({ compressionLevel: 9, adaptiveFiltering: true, palette: false })
        : image.png({ compressionLevel: 9, palette: true, quality, colours: options.colors ?? 256 });
    case "webp":
      return options.lossless ? image.webp({ lossless: true, effort: 5 }) : image.webp({ quality, effort: 5 });
    case "avif":
      return options.lossless ? image.avif({ lossless: true, effort: 4 }) : image.avif({ quality, effort: 4 });
    case "gif":
      return image.gif({ colours: options.colors ?? 256, effort: 10 });
    case "tiff":
      // Lossless: a TIFF is usually kept for fidelity, so compress never makes it lossy.
      return image.tiff({ compression: "deflate", predictor: "horizontal" });
    default:
      throw new AppError("unsupported_format", `the image engine does not compress ${format}`);
  }
}
