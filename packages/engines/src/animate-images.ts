/**
 * merge into an animated GIF: each input image is one frame, in input order, on a canvas the
 * size of the first image. Runs inside an image pool child (image-child.ts).
 */
import { readFile, rm } from "node:fs/promises";
import sharp from "sharp";
import { AppError, normalizeFormat, type MergeOptions } from "@transmute/core";
import { checkPixels, toAppError, type ImageLimits } from "./convert-image.js";

/** One GIF merge, as sent to a pool child. */
export interface AnimateImagesRequest {
  kind: "animate";
  inputs: Array<{ path: string; format: string }>;
  outputPath: string;
  /** Options already validated by parseMergeOptions for gif. */
  options: MergeOptions;
  limits: ImageLimits;
}

/** What a GIF merge wrote. */
export interface AnimateImagesResult {
  format: "gif";
  size: number;
  width: number;
  height: number;
  frames: number;
}

/** Default time a frame shows, ms. */
export const DEFAULT_FRAME_DELAY_MS = 500;

/**
 * Builds the animation: every frame is scaled to fit the canvas (down always, up only with
 * enlarge_images_to_fit), centred on transparency. Only the first frame of an animated input
 * is used. Fails with image_too_large (any input, or the whole animation, over the pixel cap),
 * corrupt_file, or processing_failed; leaves no output behind on failure.
 */
export async function animateImages(request: AnimateImagesRequest): Promise<AnimateImagesResult> {
  const { limits, options } = request;
  const frames: Buffer[] = [];
  let canvas: { width: number; height: number } | undefined;
  let current = "image";
  try {
    for (const input of request.inputs) {
      current = normalizeFormat(input.format);
      const source = current === "svg" ? await readFile(input.path) : input.path;
      const meta = await sharp(source, { limitInputPixels: false, autoOrient: true }).metadata();
      const width = meta.autoOrient?.width ?? meta.width;
      const height = meta.autoOrient?.height ?? meta.height;
      if (!width || !height) throw new AppError("corrupt_file", `the ${current} file has no readable dimensions`);
      checkPixels(width, height, 1, limits.maxPixels, "image");
      canvas ??= { width, height };
      // The whole animation is decoded at once by the encoder: bound it before any pixel is.
      checkPixels(canvas.width, canvas.height, request.inputs.length, limits.maxPixels, "output");
      const fit = Math.min(canvas.width / width, canvas.height / height);
      const scale = fit < 1 || options.enlarge_images_to_fit ? fit : 1;
      const w = Math.min(canvas.width, Math.max(1, Math.round(width * scale)));
      const h = Math.min(canvas.height, Math.max(1, Math.round(height * scale)));
      const frame = await sharp(source, { limitInputPixels: limits.maxPixels, failOn: "error", autoOrient: true, pages: 1 })
        .resize({ width: w, height: h, fit: "fill" })
        .ensureAlpha()
        .extend({
          left: Math.floor((canvas.width - w) / 2),
          right: Math.ceil((canvas.width - w) / 2),
          top: Math.floor((canvas.height - h) / 2),
          bottom: Math.ceil((canvas.height - h) / 2),
          background: { r: 0, g: 0, b: 0, alpha: 0 },
        })
        .raw()
        .toBuffer();
      frames.push(frame);
    }
    if (!canvas) throw new AppError("no_input", "there is no image to merge");
    current = "gif";
    const delay = options.gif_frame_delay ?? DEFAULT_FRAME_DELAY_MS;
    const info = await sharp(Buffer.concat(frames), {
      raw: { width: canvas.width, height: canvas.height * frames.length, channels: 4, pageHeight: canvas.height },
      limitInputPixels: false,
    })
      // One frame per input even when two are the same image: the frame count is the contract.
      .gif({ delay: frames.map(() => delay), loop: options.gif_loop ?? 0, effort: 7, keepDuplicateFrames: true })
      .toFile(request.outputPath);
    return { format: "gif", size: info.size, width: canvas.width, height: canvas.height, frames: frames.length };
  } catch (err) {
    await rm(request.outputPath, { force: true });
    throw toAppError(err, current, limits.maxPixels);
  }
}
