/**
 * Runs an external tool (gs, pdftoppm, soffice, ffmpeg, 7zz) where it can be stopped: in its own
 * process group, with a wall-clock limit and an abort signal that SIGKILL the whole group, and,
 * when asked, without network access (an empty network namespace through `unshare -n`). Only the
 * tails of its output are kept; a line callback sees every line (ffmpeg's progress).
 */
import { spawn, spawnSync } from "node:child_process";
import { AppError } from "@transmute/core";

/** How to run a tool. */
export interface RunToolOptions {
  /** The tool's whole environment: it parses untrusted files and gets no secrets. */
  env: Record<string, string>;
  /** Working directory (the task's scratch). */
  cwd?: string;
  /** Wall-clock limit; past it the group is killed and the run rejects with engine_timeout. */
  timeoutMs: number;
  /** Aborting kills the group; the run rejects with canceled. */
  signal?: AbortSignal;
  /**
   * Run in an empty network namespace. `required`: refuse to run (processing_failed) where none
   * can be made; `preferred`: run without one there; absent: run as is.
   */
  isolateNetwork?: "required" | "preferred";
  /** What the work is, for the messages of a timeout or cancel (default "the conversion"). */
  what?: string;
  /** Called with each line the tool writes to stdout / stderr (without the newline). */
  onStdoutLine?(line: string): void;
  onStderrLine?(line: string): void;
  /** Bytes of each stream kept for the result (default 4096). */
  tailBytes?: number;
}

/** How a tool run ended. */
export interface ToolRun {
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  /** The last `tailBytes` of stdout and stderr. */
  stdout: string;
  stderr: string;
  /** Whether it ran inside an empty network namespace. */
  isolated: boolean;
}

let unshareWorks: boolean | undefined;

/**
 * Whether this machine lets us make an empty network namespace (`unshare -n`: needs root or user
 * namespaces; Docker's default seccomp profile refuses it). Probed once, synchronously, in ~5 ms.
 */
export function canIsolateNetwork(): boolean {
  if (unshareWorks === undefined) {
    const probe = spawnSync("unshare", ["-n", "--", "true"], { stdio: "ignore", timeout: 5000 });
    unshareWorks = probe.status === 0;
  }
  return unshareWorks;
}

/**
 * Runs `command args` and resolves with its exit code and output tails, whatever the code.
 * Rejects with engine_timeout past the limit, canceled on abort (both after SIGKILLing the
 * group), or the spawn error (ENOENT for a missing tool).
 */
export function runTool(command: string, args: readonly string[], opts: RunToolOptions): Promise<ToolRun> {
  const what = opts.what ?? "the conversion";
  const isolated = opts.isolateNetwork !== undefined && canIsolateNetwork();
  if (opts.isolateNetwork === "required" && !isolated) {
    return Promise.reject(
      new AppError("processing_failed", `${what} needs a process without network access and this machine cannot make one`, {
        detail: "unshare -n failed: run the worker as root or allow user namespaces",
      }),
    );
  }
  const [file, argv] = isolated ? ["unshare", ["-n", "--", command, ...args]] : [command, [...args]];
  const tail = opts.tailBytes ?? 4096;
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(new AppError("canceled", `${what} was canceled`));
    const child = spawn(file, argv, { cwd: opts.cwd, env: opts.env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let settled = false;
    const lines = (onLine: ((line: string) => void) | undefined) => {
      let partial = "";
      return (chunk: string) => {
        if (!onLine) return;
        const parts = (partial + chunk).split(/\r?\n|\r/);
        partial = parts.pop() ?? "";
        for (const line of parts) onLine(line);
      };
    };
    const outLines = lines(opts.onStdoutLine);
    const errLines = lines(opts.onStderrLine);
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout = (stdout + chunk).slice(-tail);
      outLines(chunk);
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-tail);
      errLines(chunk);
    });
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      fn();
    };
    const kill = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    };
    const timer = setTimeout(() => {
      kill();
      settle(() => reject(new AppError("engine_timeout", `${what} took longer than ${Math.round(opts.timeoutMs / 1000)} s and was stopped`)));
    }, opts.timeoutMs);
    const onAbort = () => {
      kill();
      settle(() => reject(new AppError("canceled", `${what} was canceled`)));
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    child.once("error", (err) => settle(() => reject(err)));
    // 'close' waits for the streams: the group may still hold them after the leader exits, so a
    // leftover grandchild is killed once the leader is gone.
    child.once("exit", () => setTimeout(kill, 0));
    child.once("close", (code) => settle(() => resolve({ code, stdout, stderr, isolated })));
  });
}

/** The PATH external tools get: Debian's, nothing of the server's own environment. */
export const TOOL_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
