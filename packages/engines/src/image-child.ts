/**
 * The handler module of image pool children (see pool-child.ts). Each child runs one request at
 * a time on one libvips thread: the pool, not libvips, decides how many run in parallel.
 */
import sharp from "sharp";
import { animateImages, type AnimateImagesRequest, type AnimateImagesResult } from "./animate-images.js";
import { compressImage, type CompressImageRequest, type CompressImageResult } from "./compress-image.js";
import { convertImage, type ConvertImageRequest, type ConvertImageResult } from "./convert-image.js";

sharp.concurrency(1);
// Inputs are one-shot scratch files: caching open files or decoded tiles buys nothing but memory.
sharp.cache({ memory: 32, files: 0, items: 16 });

/** What the image children do: a conversion (no `kind`, the original request), a compression or a GIF merge. */
export type ImageChildRequest = (ConvertImageRequest & { kind?: "convert" }) | CompressImageRequest | AnimateImagesRequest;

/** Runs one request for the parent. */
export function handle(request: ImageChildRequest): Promise<ConvertImageResult | CompressImageResult | AnimateImagesResult> {
  switch (request.kind) {
    case "compress":
      return compressImage(request);
    case "animate":
      return animateImages(request);
    default:
      return convertImage(request);
  }
}
