/**
 * The handler module of image pool children (see pool-child.ts). Each child converts one image
 * at a time on one libvips thread: the pool, not libvips, decides how many run in parallel.
 */
import sharp from "sharp";
import { convertImage, type ConvertImageRequest, type ConvertImageResult } from "./convert-image.js";

sharp.concurrency(1);
// Inputs are one-shot scratch files: caching open files or decoded tiles buys nothing but memory.
sharp.cache({ memory: 32, files: 0, items: 16 });

/** Runs one conversion for the parent. */
export function handle(request: ConvertImageRequest): Promise<ConvertImageResult> {
  return convertImage(request);
}
