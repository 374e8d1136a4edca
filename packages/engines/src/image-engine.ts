/** The image engine: sharp behind the Engine interface, each conversion in a pool child. */
import { parseImageOptions } from "@transmute/core";
import type { ConvertImageRequest, ConvertImageResult } from "./convert-image.js";
import type { ConvertContext, ConvertRequest, ConvertResult, Engine, EngineProbe } from "./engine.js";
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
    return {
      version: `sharp ${sharp.versions.sharp ?? "?"}, libvips ${sharp.versions.vips}`,
      conversions: inputs.flatMap((from) => outputs.map((to) => ({ from, to }))),
      available: true,
    };
  } catch (err) {
    return { version: "unknown", conversions: [], available: false, missing: `sharp could not be loaded: ${String(err)}` };
  }
}

/** Creates the sharp engine; its child processes start on the first conversion. */
export function createImageEngine(options: ImageEngineOptions = {}): ImageEngine {
  const maxPixels = options.maxPixels ?? 100_000_000;
  const pool = createProcessPool<ConvertImageRequest, ConvertImageResult>({
    size: options.poolSize ?? 2,
    modulePath: new URL("./image-child.js", import.meta.url),
    timeoutMs: options.timeoutMs ?? 120_000,
  });
  return {
    name: "sharp",
    engineClass: "image",
    probe: probeImageEngine,
    async convert(request, context = {}) {
      // Validated here too, not only at job creation: a queued payload may predate a table change.
      const { values, ignored } = parseImageOptions(request.options, { outputFormat: request.outputFormat });
      const result = await pool.run(
        {
          inputPath: request.inputPath,
          outputPath: request.outputPath,
          inputFormat: request.inputFormat,
          outputFormat: request.outputFormat,
          options: values,
          limits: { maxPixels: Math.min(maxPixels, request.limits?.maxPixels ?? Infinity) },
        },
        context,
      );
      return { ...result, ignoredOptions: ignored };
    },
    close: () => pool.close(),
  };
}
