/**
 * A pool of forked Node processes for CPU-heavy or risky work (native decoders fed untrusted
 * bytes). A child that hangs, is canceled or crashes takes only its own request down: it is
 * SIGKILLed (with anything it spawned) and a fresh child takes its place.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { AppError } from "@transmute/core";
import type { ChildMessage, RunMessage } from "./pool-protocol.js";
import { fromWireError } from "./pool-protocol.js";

/** Settings of a process pool. */
export interface ProcessPoolOptions {
  /** Most children alive, and so most requests running at once. */
  size: number;
  /** The handler module children load (path or file URL); it must export `handle(request)`. */
  modulePath: string | URL;
  /** Default wall-clock limit of one request, counted from when a child takes it. */
  timeoutMs: number;
  /** Requests one child serves before it is retired, to bound leaks in native code (default 200). */
  maxRequestsPerChild?: number;
  /** How long a child may take to load its module before it is killed (default 30 s). */
  startupTimeoutMs?: number;
  /** Node flags for the children, e.g. ["--max-old-space-size=512"] (default none). */
  execArgv?: string[];
  /**
   * Environment of the children (default empty): they parse untrusted files, so they get no
   * secrets unless the caller hands them some on purpose.
   */
  env?: Record<string, string>;
}

/** Per-request controls. */
export interface RunOptions {
  /** Aborting rejects with `canceled` and kills the child running the request. */
  signal?: AbortSignal;
  /** Overrides the pool's timeoutMs for this request. */
  timeoutMs?: number;
}

/** A snapshot of the pool, for health checks and tests. */
export interface ProcessPoolStats {
  /** Live children (starting, idle or busy). */
  children: number;
  /** Children running a request. */
  busy: number;
  /** Requests waiting for a child. */
  queued: number;
  /** Process ids of the live children. */
  pids: number[];
}

/** A pool of warm child processes running one handler module. */
export interface ProcessPool<Req, Res> {
  /** Runs one request in a child; rejects with an AppError (engine_timeout, canceled, processing_failed...). */
  run(request: Req, options?: RunOptions): Promise<Res>;
  /** Current children and queue. */
  stats(): ProcessPoolStats;
  /** Kills every child; pending and running requests reject with `worker_lost`. Resolves once all have exited. */
  close(): Promise<void>;
}

interface Job {
  id: number;
  request: unknown;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  resolve: (response: unknown) => void;
  reject: (err: AppError) => void;
  child?: Child;
  timer?: NodeJS.Timeout;
  onAbort?: () => void;
}

interface Child {
  proc: ChildProcess;
  ready: boolean;
  job: Job | undefined;
  served: number;
  /** Taken out of service: no new work, already removed from the live set. */
  leaving: boolean;
  /** We ended it on purpose (timeout, abort, wear, close): its exit is not a crash. */
  expected: boolean;
  exited: Promise<void>;
  stderrTail: string;
  startTimer: NodeJS.Timeout | undefined;
}

const RUNNER = fileURLToPath(new URL("./pool-child.js", import.meta.url));
const STDERR_TAIL_BYTES = 2048;

/** Starts a pool. Children are forked on demand, up to `size`, and kept warm between requests. */
export function createProcessPool<Req, Res>(options: ProcessPoolOptions): ProcessPool<Req, Res> {
  const size = Math.max(1, Math.floor(options.size));
  const maxRequests = options.maxRequestsPerChild ?? 200;
  const startupTimeoutMs = options.startupTimeoutMs ?? 30_000;
  const moduleUrl = toModuleUrl(options.modulePath);
  const children = new Set<Child>();
  const dying = new Set<Child>();
  const queue: Job[] = [];
  let nextId = 1;
  let closed = false;

  // A parent that exits without close() must not leave children behind: kill is synchronous.
  const killAllOnExit = () => {
    for (const child of children) killGroup(child.proc);
  };
  process.on("exit", killAllOnExit);

  function spawnChild(): Child {
    const proc = fork(RUNNER, [moduleUrl], {
      execArgv: options.execArgv ?? [],
      env: options.env ?? {},
      serialization: "json",
      stdio: ["ignore", "ignore", "pipe", "ipc"],
      // Its own process group, so a kill also reaches tools the child spawned (ffmpeg, soffice).
      detached: true,
    });
    let onExit!: () => void;
    const child: Child = {
      proc, ready: false, job: undefined, served: 0, leaving: false, expected: false, stderrTail: "",
      exited: new Promise((resolve) => (onExit = resolve)),
      // A child stuck loading its module would hold queued requests forever.
      startTimer: setTimeout(() => retire(child, "kill", false), startupTimeoutMs),
    };
    children.add(child);
    proc.stderr?.setEncoding("utf8");
    proc.stderr?.on("data", (chunk: string) => {
      child.stderrTail = (child.stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
    });
    proc.on("message", (message: ChildMessage) => onMessage(child, message));
    proc.once("exit", (code, signal) => {
      onExit();
      onChildExit(child, code, signal);
    });
    // Spawning failed outright (e.g. EAGAIN): no exit event follows, so settle here.
    proc.on("error", (err) => {
      if (proc.pid === undefined) {
        onExit();
        child.stderrTail += String(err);
        onChildExit(child, null, null);
      }
    });
    return child;
  }

  function onMessage(child: Child, message: ChildMessage): void {
    if (message.type === "ready") {
      clearTimeout(child.startTimer);
      child.ready = true;
      idle(child);
      dispatch();
      return;
    }
    const job = child.job;
    if (message.type !== "result" || job === undefined || job.id !== message.id) return;
    child.job = undefined;
    child.served++;
    finish(job);
    if (message.ok) job.resolve(message.response);
    else job.reject(fromWireError(message.error));
    if (child.served >= maxRequests) retire(child, "graceful");
    else idle(child);
    dispatch();
  }

  function onChildExit(child: Child, code: number | null, signal: NodeJS.Signals | null): void {
    clearTimeout(child.startTimer);
    children.delete(child);
    const job = child.job;
    child.job = undefined;
    if (!child.expected) {
      if (job !== undefined) {
        finish(job);
        const how = signal ? `signal ${signal}` : `exit code ${code}`;
        job.reject(new AppError("processing_failed", "the conversion process stopped unexpectedly", {
          detail: `pool child ${child.proc.pid} (${moduleUrl}) ended with ${how}: ${child.stderrTail.trim()}`,
        }));
      } else if (!child.ready && queue.length > 0) {
        // It died while loading its module: fail one waiting request rather than respawn forever.
        const failed = queue.shift()!;
        finish(failed);
        failed.reject(new AppError("processing_failed", "the conversion process could not start", {
          detail: `pool child for ${moduleUrl} ended with ${signal ?? code} before it was ready: ${child.stderrTail.trim()}`,
        }));
      }
    }
    dispatch();
    // Keep the pool warm: a crashed child that had worked is replaced even with nothing queued.
    if (!closed && !child.expected && child.ready && children.size < size) spawnChild();
  }

  function dispatch(): void {
    if (closed) return;
    while (queue.length > 0) {
      const free = [...children].find((c) => c.ready && c.job === undefined);
      if (free === undefined) break;
      assign(queue.shift()!, free);
    }
    const starting = [...children].filter((c) => !c.ready).length;
    let missing = Math.min(queue.length - starting, size - children.size);
    while (missing-- > 0) spawnChild();
  }

  function assign(job: Job, child: Child): void {
    job.child = child;
    child.job = job;
    busy(child);
    job.timer = setTimeout(() => {
      retire(child, "kill");
      job.child = undefined;
      child.job = undefined;
      finish(job);
      job.reject(new AppError("engine_timeout", `the conversion took longer than ${formatSeconds(job.timeoutMs)} and was stopped`));
      dispatch();
    }, job.timeoutMs);
    const message: RunMessage = { type: "run", id: job.id, request: job.request };
    child.proc.send(message, (err) => {
      // The child died between being picked and receiving the request: its exit handler answers.
      if (err) retire(child, "kill", false);
    });
  }

  /**
   * Takes a child out of service: SIGKILL for a stuck or canceled one, a disconnect for a worn
   * one. `expected` false means its exit is to be reported as a failure by onChildExit.
   */
  function retire(child: Child, how: "kill" | "graceful", expected = true): void {
    if (child.leaving) return;
    child.leaving = true;
    child.expected = expected;
    children.delete(child);
    dying.add(child);
    void child.exited.then(() => dying.delete(child));
    if (how === "kill") killGroup(child.proc);
    else if (child.proc.connected) child.proc.disconnect();
    if (expected && !closed && children.size < size) spawnChild();
  }

  function finish(job: Job): void {
    if (job.timer) clearTimeout(job.timer);
    if (job.onAbort) job.signal?.removeEventListener("abort", job.onAbort);
  }

  // An idle child must not keep the parent's event loop alive.
  function idle(child: Child): void {
    child.proc.unref();
    (child.proc.stderr as { unref?: () => void } | null)?.unref?.();
    (child.proc.channel as { unref?: () => void } | undefined)?.unref?.();
  }

  function busy(child: Child): void {
    child.proc.ref();
    (child.proc.stderr as { ref?: () => void } | null)?.ref?.();
    (child.proc.channel as { ref?: () => void } | undefined)?.ref?.();
  }

  return {
    run(request, runOptions = {}) {
      const { signal } = runOptions;
      if (closed) return Promise.reject(new AppError("service_unavailable", "the conversion pool is shut down"));
      if (signal?.aborted) return Promise.reject(canceled());
      return new Promise<Res>((resolve, reject) => {
        const job: Job = {
          id: nextId++,
          request,
          timeoutMs: runOptions.timeoutMs ?? options.timeoutMs,
          signal,
          resolve: resolve as (response: unknown) => void,
          reject,
        };
        if (signal) {
          job.onAbort = () => {
            const index = queue.indexOf(job);
            if (index >= 0) queue.splice(index, 1);
            const child = job.child;
            if (child?.job === job) {
              child.job = undefined;
              retire(child, "kill");
            }
            finish(job);
            job.reject(canceled());
            dispatch();
          };
          signal.addEventListener("abort", job.onAbort, { once: true });
        }
        queue.push(job);
        dispatch();
      });
    },

    stats() {
      const live = [...children];
      return {
        children: live.length,
        busy: live.filter((c) => c.job !== undefined).length,
        queued: queue.length,
        pids: live.flatMap((c) => (c.proc.pid === undefined ? [] : [c.proc.pid])),
      };
    },

    async close() {
      if (closed) return;
      closed = true;
      const lost = () => new AppError("worker_lost", "the worker shut down before the conversion finished", { retryable: true });
      for (const job of queue.splice(0)) {
        finish(job);
        job.reject(lost());
      }
      for (const child of [...children]) {
        const job = child.job;
        child.job = undefined;
        retire(child, "kill");
        if (job) {
          finish(job);
          job.reject(lost());
        }
      }
      // A worn child that was only asked to leave gets no more patience than the others.
      for (const child of dying) killGroup(child.proc);
      await Promise.all([...dying].map((child) => child.exited));
      process.off("exit", killAllOnExit);
    },
  };
}

function formatSeconds(ms: number): string {
  return ms < 10_000 ? `${Number((ms / 1000).toFixed(1))} s` : `${Math.round(ms / 1000)} s`;
}

function canceled(): AppError {
  return new AppError("canceled", "the conversion was canceled");
}

function killGroup(proc: ChildProcess): void {
  if (proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
  try {
    process.kill(-proc.pid, "SIGKILL");
  } catch {
    // Already gone, or not a group leader after all: kill the child itself.
    try {
      proc.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

function toModuleUrl(modulePath: string | URL): string {
  if (modulePath instanceof URL) return modulePath.href;
  return modulePath.startsWith("file:") ? modulePath : pathToFileURL(modulePath).href;
}
