/**
 * The engines a worker runs, probed at start. What a probe finds is what the worker registers;
 * a missing engine is reported with what to install, and its conversions are never offered.
 */
import type { Config } from "@transmute/config";
import { createGhostscriptEngine, createImageEngine, createPdfEngine, loadEngineRegistry } from "@transmute/engines";
import type { EngineProbe } from "@transmute/worker";
import type { Compressor, Converter, Extractor, ImageConverter, Merger, PageCapturer } from "@transmute/operations";

/** The worker's engines. */
export interface Engines {
  image: ImageConverter;
  /** Dispatches a compression to the engine that compresses the format (sharp, Ghostscript). */
  compressor: Compressor;
  /** Dispatches a merge to the engine that merges into the output format (pdf-lib, sharp). */
  merger: Merger;
  /** Dispatches a conversion to the first engine that converts the pair. */
  converter: Converter;
  /** Dispatches an extraction to the archive engine. */
  extractor: Extractor;
  /** Captures web pages with the browser engine. */
  browser: PageCapturer;
  probes: EngineProbe[];
  close(): Promise<void>;
}

/** Creates and probes the engines. */
export async function createEngines(config: Config): Promise<Engines> {
  const timeoutMs = config.taskTimeoutMaxSeconds * 1000;
  const image = createImageEngine({ poolSize: config.workerConcurrency, timeoutMs, maxPixels: config.maxPixels });
  const pdf = createPdfEngine({ poolSize: config.workerConcurrency, timeoutMs, maxPixels: config.maxPixels });
  const ghostscript = createGhostscriptEngine({ timeoutMs });
  // Order is preference when two engines can do the same pair.
  const registry = await loadEngineRegistry([image, pdf, ghostscript]);
  return {
    image,
    compressor: registry,
    merger: registry,
    converter: registry,
    extractor: registry,
    browser: registry,
    probes: registry.probes.map((p) => ({ ...p })),
    close: () => registry.close(),
  };
}
