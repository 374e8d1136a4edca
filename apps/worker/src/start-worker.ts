/**
 * A worker: registers itself and its engines, keeps a heartbeat, consumes the queues of the
 * engine classes it serves, and runs the reconciler. Patient by design: it waits out a database
 * or Redis outage instead of exiting, and on close it finishes the tasks it is running.
 */
import { hostname } from "node:os";
import { heartbeatWorker, registerWorker, startReconciler, startSweeper, unregisterWorker, type EngineDeps, type Reconciler } from "@transmute/jobs";
import { missingHandlers, type Compressor, type Converter, type Extractor, type ImageConverter, type Merger, type PageCapturer, type Securer } from "@transmute/operations";
import type { OutboundPolicy } from "@transmute/outbound";
import type { QueueConsumer } from "@transmute/queue";
import { sweepScratch, type BlobStore, type LocalDiskStore } from "@transmute/storage";
import { runTaskMessage, type RunnerDeps } from "./run-message.js";
import { watchRunningTasks } from "./running-tasks.js";

/** An engine the worker found at start. */
export interface EngineProbe {
  name: string;
  engineClass: string;
  available: boolean;
  version?: string;
  /** What to install when it is missing. */
  missing?: string;
  conversions?: Array<{ from: string; to: string }>;
}

/** What a worker needs. */
export interface WorkerDeps {
  engine: EngineDeps;
  storage: BlobStore;
  outbound: OutboundPolicy;
  image: ImageConverter;
  /** Compression (sharp, Ghostscript) and merging (pdf-lib, sharp); absent: those tasks fail. */
  compressor?: Compressor;
  merger?: Merger;
  /** Every convert pair of the worker's engines; absent: images only, through `image`. */
  converter?: Converter;
  /** Archive extraction and web-page capture; absent: those tasks fail. */
  extractor?: Extractor;
  browser?: PageCapturer;
  /** Disarm and rebuild (secure); absent: those tasks fail. */
  securer?: Securer;
  probes: EngineProbe[];
  scratchBase: string;
  settings: {
    concurrency: number;
    /** Engine classes to serve (null: every available one). */
    engines: readonly string[] | null;
    heartbeatSeconds: number;
    reconcileSeconds: number;
    maxPixels: number;
    taskTimeoutSeconds: number;
    taskTimeoutMaxSeconds: number;
    importUrlMaxBytes: number;
    importUrlTimeoutSeconds: number;
    /** Engine limits: pages of a document, seconds of media, archive guards (absent: the engines' own). */
    maxPages?: number;
    maxMediaSeconds?: number;
    archive?: { maxEntries: number; maxBytes: number; maxRatio: number; maxDepth: number };
    /** Jobs and their tasks are deleted this long after creation (TRANSMUTE_TASK_RETENTION_SECONDS). */
    taskRetentionSeconds: number;
    /** Interval of the sweeper (TRANSMUTE_SWEEP_SECONDS). */
    sweepSeconds: number;
  };
}

/** A running worker. */
export interface RunningWorker {
  id: string;
  classes: string[];
  close(): Promise<void>;
}

/** Starts a worker. */
export async function startWorker(deps: WorkerDeps): Promise<RunningWorker> {
  const log = deps.engine.log;
  const missing = missingHandlers();
  if (missing.length > 0) throw new Error(`This worker has no handler for: ${missing.join(", ")}. Refusing to start.`);
  const available = deps.probes.filter((p) => p.available);
  for (const p of deps.probes.filter((p) => !p.available)) {
    log.warn({ engine: p.name }, `engine ${p.name} is unavailable: ${p.missing ?? "not installed"}`);
  }
  const offered = ["io", ...new Set(available.map((p) => p.engineClass))];
  const classes = deps.settings.engines ? offered.filter((c) => c === "io" || deps.settings.engines!.includes(c)) : offered;
  const id = `${hostname()}:${process.pid}:${crypto.randomUUID().slice(0, 8)}`;

  // Scratch directories older than the longest task belong to a worker that was killed.
  await sweepScratch(deps.scratchBase, (deps.settings.taskTimeoutMaxSeconds + 60) * 1000).catch(() => undefined);

  await registerWorker(deps.engine.prisma, {
    id,
    host: hostname(),
    pid: process.pid,
    engines: {
      classes,
      engines: available
        .filter((p) => classes.includes(p.engineClass))
        .map((p) => ({ name: p.name, engineClass: p.engineClass, version: p.version ?? null, conversions: p.conversions ?? [] })),
    },
  });
  const beat = setInterval(() => {
    heartbeatWorker(deps.engine.prisma, id).catch((err) => log.warn({ err }, "worker heartbeat failed"));
  }, deps.settings.heartbeatSeconds * 1000);
  beat.unref();

  // Cancels and deletes reach the running task through the event bus at once.
  const running = watchRunningTasks(deps.engine.events);
  const runner: RunnerDeps = {
    engine: deps.engine,
    storage: deps.storage,
    outbound: deps.outbound,
    image: deps.image,
    compressor: deps.compressor,
    merger: deps.merger,
    converter: deps.converter,
    extractor: deps.extractor,
    browser: deps.browser,
    securer: deps.securer,
    workerId: id,
    scratchBase: deps.scratchBase,
    running,
    limits: {
      maxPixels: deps.settings.maxPixels,
      taskTimeoutSeconds: deps.settings.taskTimeoutSeconds,
      taskTimeoutMaxSeconds: deps.settings.taskTimeoutMaxSeconds,
      importUrlMaxBytes: deps.settings.importUrlMaxBytes,
      importUrlTimeoutSeconds: deps.settings.importUrlTimeoutSeconds,
      heartbeatSeconds: deps.settings.heartbeatSeconds,
      ...(deps.settings.maxPages !== undefined ? { maxPages: deps.settings.maxPages } : {}),
      ...(deps.settings.maxMediaSeconds !== undefined ? { maxMediaSeconds: deps.settings.maxMediaSeconds } : {}),
      ...(deps.settings.archive !== undefined ? { archive: deps.settings.archive } : {}),
    },
  };
  // Conversions share one budget across engine classes (the machine's cores); imports and
  // exports wait on the network, not the CPU, and get a budget of the same size of their own.
  const run = (message: { taskId: string }) => runTaskMessage(runner, message.taskId);
  const conversions = createLimiter(deps.settings.concurrency);
  const engineClasses = classes.filter((c) => c !== "io");
  const consumers: QueueConsumer[] = [deps.engine.queue.consume(["io"], run, { concurrency: deps.settings.concurrency })];
  if (engineClasses.length > 0) {
    consumers.push(deps.engine.queue.consume(engineClasses, (message) => conversions(() => run(message)), { concurrency: deps.settings.concurrency }));
  }
  let reconciler: Reconciler | null = null;
  try {
    reconciler = await startReconciler(deps.engine, { intervalMs: deps.settings.reconcileSeconds * 1000, boot: deps.engine.queue.kind === "in-process" });
  } catch (err) {
    log.warn({ err }, "the first reconciler pass failed; it will run again");
    reconciler = await startReconciler(deps.engine, { intervalMs: deps.settings.reconcileSeconds * 1000, boot: false }).catch(() => null);
  }
  const sweeper = startWorkerSweeper(deps);
  log.info({ worker: id, classes, concurrency: deps.settings.concurrency }, "worker started");

  return {
    id,
    classes,
    async close() {
      clearInterval(beat);
      await reconciler?.close();
      await sweeper.close();
      await Promise.all(consumers.map((c) => c.close()));
      running.close();
      await unregisterWorker(deps.engine.prisma, id).catch(() => undefined);
    },
  };
}

/** Seconds a gateway holds an idle connection at most (the longest /wait, 3600 s, plus 60 s). */
const LONGEST_IDLE_UPLOAD_SECONDS = 3660;

/**
 * Starts the retention sweeper: expired files and old jobs (one worker at a time), this worker's
 * leftover scratch directories, and the local store's stale temp files. A temp file is written
 * continuously (its mtime moves with every write), so one untouched for longer than any writer
 * can stay silent (a task's longest run, or an upload's idle connection) belongs to a dead process.
 */
function startWorkerSweeper(deps: WorkerDeps) {
  const { taskTimeoutMaxSeconds, taskRetentionSeconds, sweepSeconds } = deps.settings;
  const scratchAgeMs = (taskTimeoutMaxSeconds + 60) * 1000;
  const tempAgeMs = (Math.max(taskTimeoutMaxSeconds, LONGEST_IDLE_UPLOAD_SECONDS) + 600) * 1000;
  const local = deps.storage as Partial<LocalDiskStore>;
  return startSweeper(deps.engine, deps.storage, {
    intervalMs: sweepSeconds * 1000,
    taskRetentionSeconds,
    sweepLocal: async () => (await sweepScratch(deps.scratchBase, scratchAgeMs)).length,
    sweepShared: typeof local.sweepTempFiles === "function" ? () => local.sweepTempFiles!(tempAgeMs) : undefined,
  });
}

/** Runs at most `limit` of the functions given to it at once; the others wait their turn. */
export function createLimiter(limit: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async (fn) => {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await fn();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}
