/**
 * Runs one task message: claim, run the operation's handler with a wall-clock limit and a
 * heartbeat, then complete or fail the task under the claim's token. Outputs of an attempt
 * that does not complete are deleted; the scratch directory is always removed.
 */
import { AppError, getOperation, isAppError, openSecrets, restoreSecrets, validateTaskPayload, type ErrorCode } from "@transmute/core";
import { claimTask, completeTask, failTask, heartbeatTask, type Claim, type EngineDeps } from "@transmute/jobs";
import { HANDLERS, OutputSink, type Compressor, type Converter, type Extractor, type ImageConverter, type Merger, type OperationContext, type PageCapturer, type Securer } from "@transmute/operations";
import type { OutboundPolicy } from "@transmute/outbound";
import { createScratchDir, type BlobStore } from "@transmute/storage";
import type { RunningTasks } from "./running-tasks.js";

/** What running a message needs. */
export interface RunnerDeps {
  engine: EngineDeps;
  storage: BlobStore;
  outbound: OutboundPolicy;
  image: ImageConverter;
  compressor?: Compressor | undefined;
  merger?: Merger | undefined;
  /** Every convert pair of this worker's engines (images included); absent: images only, through `image`. */
  converter?: Converter | undefined;
  extractor?: Extractor | undefined;
  browser?: PageCapturer | undefined;
  securer?: Securer | undefined;
  workerId: string;
  scratchBase: string;
  /** The registry that stops a run when its task is canceled or deleted (none: only the heartbeat notices). */
  running?: RunningTasks;
  limits: {
    maxPixels: number;
    taskTimeoutSeconds: number;
    taskTimeoutMaxSeconds: number;
    importUrlMaxBytes: number;
    importUrlTimeoutSeconds: number;
    heartbeatSeconds: number;
    maxPages?: number;
    maxMediaSeconds?: number;
    archive?: { maxEntries: number; maxBytes: number; maxRatio: number; maxDepth: number };
  };
}

/** Least time between two progress events of one task, and the least change worth one. */
const PROGRESS_EVENT_MS = 1000;
const PROGRESS_EVENT_STEP = 1;

/** Why a run was stopped from outside the handler. */
class StopReason extends Error {
  constructor(
    readonly code: ErrorCode | "claim_lost",
    message: string,
  ) {
    super(message);
  }
}

/** Handles one queue message for `taskId`. Never throws: failures are recorded on the task. */
export async function runTaskMessage(deps: RunnerDeps, taskId: string): Promise<void> {
  const log = deps.engine.log;
  const claim = await claimTask(deps.engine, taskId, deps.workerId).catch((err) => {
    log.error({ err, taskId }, "claiming a task failed");
    return null;
  });
  if (!claim) return;
  const { task } = claim;
  const timeoutSec = Math.min(task.timeoutSec ?? deps.limits.taskTimeoutSeconds, deps.limits.taskTimeoutMaxSeconds);
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new StopReason("engine_timeout", `The task did not finish within its time limit of ${timeoutSec} s.`)),
    timeoutSec * 1000,
  );
  let lastPercent: number | undefined;
  let lastPublished = 0;
  let lastProgressEvent = 0;
  const renewClaim = () => {
    if (controller.signal.aborted) return;
    heartbeatTask(deps.engine, task.id, claim.token, lastPercent)
      .then((alive) => {
        if (!alive) controller.abort(new StopReason("claim_lost", "The task was canceled, deleted or taken over."));
      })
      .catch((err) => log.warn({ err, taskId }, "task heartbeat failed"));
  };
  const beat = setInterval(renewClaim, deps.limits.heartbeatSeconds * 1000);
  // An event about this task (canceled, deleted) checks the claim at once.
  const unwatch = deps.running?.add(task.id, renewClaim);
  const sink = new OutputSink(deps.storage, task.id, claim.attempt);
  const scratch = await createScratchDir(deps.scratchBase, task.id);
  const started = Date.now();
  try {
    const handler = HANDLERS.get(task.operation);
    if (!handler) throw new AppError("unknown_operation", `This worker has no handler for "${task.operation}".`);
    const payload = restoreSecrets(task.payload as Record<string, unknown>, openSecrets(deps.engine.settings.secret, task.secrets));
    // The payload was validated at creation; validate again, in case the worker is newer or older.
    validateTaskPayload(task.name, task.operation, payload, getOperation(task.operation).minInputs > 0 ? Math.max(1, claim.inputs.length) : 0);
    const ctx: OperationContext = {
      task: { id: task.id, jobId: task.jobId, accountId: task.accountId, name: task.name, operation: task.operation, payload, attempt: claim.attempt },
      inputs: claim.inputs,
      storage: deps.storage,
      scratchDir: scratch.path,
      signal: controller.signal,
      limits: {
        maxPixels: deps.limits.maxPixels,
        timeoutMs: timeoutSec * 1000,
        importUrlMaxBytes: deps.limits.importUrlMaxBytes,
        importUrlTimeoutMs: deps.limits.importUrlTimeoutSeconds * 1000,
        ...(deps.limits.maxPages !== undefined ? { maxPages: deps.limits.maxPages } : {}),
        ...(deps.limits.maxMediaSeconds !== undefined ? { maxMediaSeconds: deps.limits.maxMediaSeconds } : {}),
        ...(deps.limits.archive !== undefined ? { archive: deps.limits.archive } : {}),
      },
      outbound: deps.outbound,
      engines: {
        image: deps.image,
        ...(deps.converter ? { converter: deps.converter } : {}),
        ...(deps.compressor ? { compressor: deps.compressor } : {}),
        ...(deps.merger ? { merger: deps.merger } : {}),
        ...(deps.extractor ? { extractor: deps.extractor } : {}),
        ...(deps.browser ? { browser: deps.browser } : {}),
        ...(deps.securer ? { securer: deps.securer } : {}),
      },
      output: sink,
      progress: (percent) => {
        lastPercent = Math.max(0, Math.min(100, Math.round(percent)));
        // The percent is stored with the next heartbeat; socket clients get it sooner, at most
        // once a second, as task_min_update. Progress is advisory: a lost event is not retried.
        const now = Date.now();
        if (now - lastProgressEvent < PROGRESS_EVENT_MS || Math.abs(lastPercent - lastPublished) < PROGRESS_EVENT_STEP) return;
        lastProgressEvent = now;
        lastPublished = lastPercent;
        deps.engine.events
          .publish({ type: "task.progress", accountId: task.accountId, jobId: task.jobId, taskId: task.id, at: now, percent: lastPercent })
          .catch((err) => log.warn({ err, taskId }, "publishing task progress failed"));
      },
      log,
    };
    const outcome = await raceAbort(handler.run(ctx), controller.signal);
    // Scratch goes before the task ends, so a client that sees the end sees nothing left behind.
    await scratch.cleanup();
    const done = await completeTask(deps.engine, claim, sink.files, outcome.result ?? {});
    if (!done) await discardOutputs(deps, sink, claim, "the claim was lost before completion");
    else await removeEarlierAttempts(deps, claim);
    log.info({ taskId, operation: task.operation, ms: Date.now() - started, files: sink.files.length, completed: done }, "task ran");
  } catch (raw) {
    const reason = controller.signal.aborted ? controller.signal.reason : null;
    await scratch.cleanup();
    await discardOutputs(deps, sink, claim, "the attempt failed");
    if (reason instanceof StopReason && reason.code === "claim_lost") {
      log.info({ taskId }, "task stopped: its claim was lost");
      return;
    }
    const { code, message } = describeFailure(reason instanceof StopReason ? reason : raw);
    if (!isAppError(raw) && !(reason instanceof StopReason)) log.error({ err: raw, taskId, operation: task.operation }, "task failed unexpectedly");
    else log.info({ taskId, operation: task.operation, code, detail: isAppError(raw) ? raw.detail : undefined }, "task failed");
    const failed = await failTask(deps.engine, claim, code, message).catch((err) => {
      log.error({ err, taskId }, "recording a task failure failed");
      return false;
    });
    if (failed) await removeEarlierAttempts(deps, claim);
  } finally {
    clearTimeout(timer);
    clearInterval(beat);
    unwatch?.();
    await scratch.cleanup();
  }
}

/** Rejects as soon as `signal` aborts, even if the handler ignores the signal. */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

function describeFailure(err: unknown): { code: ErrorCode; message: string } {
  if (err instanceof StopReason && err.code !== "claim_lost") return { code: err.code, message: err.message };
  if (isAppError(err)) {
    // Request-level codes raised inside a handler are still the caller's input problems.
    return { code: err.code, message: err.message };
  }
  return { code: "processing_failed", message: "The operation failed unexpectedly; the operator's log has the details." };
}

/**
 * Once this attempt has ended the task, no earlier attempt can: what one left in storage (a
 * worker killed after writing its outputs but before committing them) is removed.
 */
async function removeEarlierAttempts(deps: RunnerDeps, claim: Claim): Promise<void> {
  for (let attempt = 1; attempt < claim.attempt; attempt++) {
    const prefix = new OutputSink(deps.storage, claim.task.id, attempt).prefix;
    await deps.storage.deletePrefix(prefix).catch((err) => deps.engine.log.warn({ err, taskId: claim.task.id, prefix }, "removing an earlier attempt's outputs failed"));
  }
}

async function discardOutputs(deps: RunnerDeps, sink: OutputSink, claim: Claim, why: string): Promise<void> {
  if (!sink.files.some((f) => !f.reference)) return;
  await deps.storage.deletePrefix(sink.prefix).catch((err) => deps.engine.log.warn({ err, taskId: claim.task.id, why }, "removing outputs failed"));
}
