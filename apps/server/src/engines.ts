/**
 * The engines a worker runs, probed at start. What a probe finds is what the worker registers;
 * a missing engine is reported with what to install, and its conversions are never offered.
 */
import type { Config } from "@transmute/config";
import { createImageEngine } from "@transmute/engines";
import type { EngineProbe } from "@transmute/worker";
import type { ImageConverter } from "@transmute/operations";

/** The worker's engines. */
export interface Engines {
  image: ImageConverter;
  probes: EngineProbe[];
  close(): Promise<void>;
}

/** Creates and probes the engines. */
export async function createEngines(config: Config): Promise<Engines> {
  const image = createImageEngine({
    poolSize: config.workerConcurrency,
    timeoutMs: config.taskTimeoutMaxSeconds * 1000,
    maxPixels: config.maxPixels,
  });
  const probe = await image.probe();
  return {
    image,
    probes: [{ name: image.name, engineClass: image.engineClass, ...probe }],
    close: () => image.close(),
  };
}
