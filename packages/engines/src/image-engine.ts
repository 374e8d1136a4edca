/** The image engine: sharp behind the Engine interface, each conversion in a pool child. */
import { AppError, COMPRESSIBLE_IMAGES, normalizeFormat, parseCompressOptions, parseImageOptions, parseMergeOptions } from "@transmute/core";
import type { AnimateImagesResult } from "./animate-images.js";
import type { CompressImageResult } from "./compress-image.js";
import type { ConvertImageResult } from "./convert-image.js";
import type { CompressRequest, CompressResult, ConvertContext, ConvertRequest, ConvertResult, Engine, EngineProbe, MergeRequest, MergeResult } from "./engine.js";
import type { ImageChildRequest } from "./image-child.js";
import { createProcessPool } from "./process-pool.js";

/** Settings of the image engine. */
export interface ImageEngineOptions {
  /** Conversions running at once, one child process each (default 2). */
  poolSize?: number;
  /** Wall-clock limit of one conversion (default 120 s). */
  timeoutMs?: number;
  /** Largest input and output, in pixels (default 100 000 000, i.e. 10000 x 10000). */
  maxPixels?: number;
}

/** The image engine: an Engine whose results always have pixel dimensions. */
export interface ImageEngine extends Engine {
  /** Converts one image; rejects with invalid_option, image_too_large, corrupt_file, engine_timeout... */
  convert(request: ConvertRequest, context?: ConvertContext): Promise<ImageConvertResult>;
  /** Re-encodes an image in its own format (jpg, png, webp, avif, gif, tiff) with compress options. */
  compress(request: CompressRequest, context?: ConvertContext): Promise<CompressResult>;
  /** Merges images into an animated GIF, one frame each; other outputs are unsupported_conversion. */
  merge(request: MergeRequest, context?: ConvertContext): Promise<MergeResult>;
}

/** What an image conversion produced. */
export interface ImageConvertResult extends ConvertResult {
  width: number;
  height: number;
}

/**
 * Lists the conversions sharp can do here. sharp is imported lazily so a process that only
 * dispatches never loads libvips; an unloadable sharp reports `available: false`.
 */
export async function probeImageEngine(): Promise<EngineProbe> {
  try {
    const { default: sharp } = await import("sharp");
    const { listImageFormats } = await import("./convert-image.js");
    const { inputs, outputs } = listImageFormats();
    const compressible = COMPRESSIBLE_IMAGES.filter((f) => inputs.includes(f) && outputs.includes(f));
    return {
      version: `sharp ${sharp.versions.sharp ?? "?"}, libvips ${sharp.versions.vips}`,
      conversions: [
        ...inputs.flatMap((from) => outputs.map((to) => ({ from, to }))),
        ...compressible.map((f) => ({ from: f, to: f, operation: "compress" as const })),
        ...(outputs.includes("gif") ? inputs.map((from) => ({ from, to: "gif", operation: "merge" as const })) : []),
      ],
      available: true,
    };
  } catch (err) {
    return { version: "unknown", conversions: [], available: false, missing: `sharp could not be loaded: ${String(err)}` };
  }
}

/** Creates the sharp engine; its child processes start on the first conversion. */
export function createImageEngine(options: ImageEngineOptions = {}): ImageEngine {
  const maxPixels = options.maxPixels ?? 100_000_000;
  const pool = createProcessPool<ImageChildRequest, ConvertImageResult | CompressImageResult | AnimateImagesResult>({
    size: options.poolSize ?? 2,
    modulePath: new URL("./image-child.js", import.meta.url),
    timeoutMs: options.timeoutMs ?? 120_000,
  });
  const limitsOf = (request: { limits?: { maxPixels?: number } }) => ({ maxPixels: Math.min(maxPixels, request.limits?.maxPixels ?? Infinity) });
  return {
    name: "sharp",
    engineClass: "image",
    probe: probeImageEngine,
    async convert(request, context = {}) {
      // Validated here too, not only at job creation: a queued payload may predate a table change.
      const { values, ignored } = parseImageOptions(request.options, { outputFormat: request.outputFormat });
      const result = (await pool.run(
        {
          inputPath: request.inputPath,
          outputPath: request.outputPath,
          inputFormat: request.inputFormat,
          outputFormat: request.outputFormat,
          options: values,
          limits: limitsOf(request),
        },
        context,
      )) as ConvertImageResult;
      return { ...result, ignoredOptions: ignored };
    },
    async compress(request, context = {}) {
      const format = normalizeFormat(request.format);
      const { values, ignored } = parseCompressOptions(request.options, { format });
      const result = (await pool.run(
        { kind: "compress", inputPath: request.inputPath, outputPath: request.outputPath, format, options: values, limits: limitsOf(request) },
        context,
      )) as CompressImageResult;
      return { format: result.format, size: result.size, ignoredOptions: ignored };
    },
    async merge(request, context = {}) {
      if (normalizeFormat(request.outputFormat) !== "gif") {
        throw new AppError("unsupported_conversion", `the image engine merges into gif only, not ${normalizeFormat(request.outputFormat)}`);
      }
      const { values, ignored } = parseMergeOptions(request.options, "gif");
      const result = (await pool.run(
        { kind: "animate", inputs: request.inputs.map((i) => ({ path: i.path, format: i.format })), outputPath: request.outputPath, options: values, limits: limitsOf(request) },
        context,
      )) as AnimateImagesResult;
      return { format: "gif", size: result.size, pages: result.frames, width: result.width, height: result.height, ignoredOptions: ignored };
    },
    close: () => pool.close(),
  };
}
