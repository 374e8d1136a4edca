/**
 * The engines a worker runs, probed at start. What a probe finds is what the worker registers;
 * a missing engine is reported with what to install, and its conversions are never offered.
 */
import type { Config } from "@transmute/config";
import {
  createArchiveEngine,
  createBrowserEngine,
  createGhostscriptEngine,
  createImageEngine,
  createMediaEngine,
  createOfficeEngine,
  createPdfEngine,
  createPopplerEngine,
  createSecureEngine,
  loadEngineRegistry,
} from "@transmute/engines";
import type { EngineProbe } from "@transmute/worker";
import type { Compressor, Converter, Extractor, ImageConverter, Merger, PageCapturer, Securer } from "@transmute/operations";

/** The worker's engines. */
export interface Engines {
  image: ImageConverter;
  /** Dispatches a compression to the engine that compresses the format (sharp, Ghostscript, ffmpeg). */
  compressor: Compressor;
  /** Dispatches a merge to the engine that merges into the output format (pdf-lib, sharp). */
  merger: Merger;
  /** Dispatches a conversion to the first engine that converts the pair. */
  converter: Converter;
  /** Dispatches an extraction to the archive engine. */
  extractor: Extractor;
  /** Captures web pages with the browser engine. */
  browser: PageCapturer;
  /** Disarms and rebuilds files (secure). */
  securer: Securer;
  probes: EngineProbe[];
  close(): Promise<void>;
}

/** Creates and probes the engines. */
export async function createEngines(config: Config): Promise<Engines> {
  const timeoutMs = config.taskTimeoutMaxSeconds * 1000;
  const concurrency = config.workerConcurrency;
  const image = createImageEngine({ poolSize: concurrency, timeoutMs, maxPixels: config.maxPixels });
  const office = createOfficeEngine({ command: config.tools.soffice, timeoutMs, concurrency });
  // Order is preference when two engines can do the same pair.
  const registry = await loadEngineRegistry([
    image,
    createPdfEngine({ poolSize: concurrency, timeoutMs, maxPixels: config.maxPixels }),
    createGhostscriptEngine({ timeoutMs }),
    createPopplerEngine({ timeoutMs, maxPixels: config.maxPixels }),
    createBrowserEngine({ command: config.tools.chromium, timeoutMs, maxPixels: config.maxPixels }),
    office,
    // secure rebuilds office documents through the same LibreOffice engine (its queue, its limits).
    createSecureEngine({ office, timeoutMs, maxPixels: config.maxPixels, maxPages: config.maxPages }),
    createMediaEngine({ ffmpeg: config.tools.ffmpeg, timeoutMs, maxMediaSeconds: config.maxMediaSeconds }),
    createArchiveEngine({ timeoutMs, limits: config.archiveLimits }),
  ]);
  return {
    image,
    compressor: registry,
    merger: registry,
    converter: registry,
    extractor: registry,
    browser: registry,
    securer: registry,
    probes: registry.probes.map((p) => ({ ...p })),
    close: () => registry.close(),
  };
}
