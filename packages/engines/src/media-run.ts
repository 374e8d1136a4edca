/**
 * One ffmpeg run of the media engine: in a private scratch directory under the task's workDir
 * (ffmpeg's HOME and TMPDIR, and where the output is written first), with progress read from
 * `-progress pipe:1`; the output is moved into place only when ffmpeg succeeded, and the
 * scratch directory is removed whatever happened.
 */
import { copyFile, mkdtemp, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { AppError } from "@transmute/core";
import { probeInput, probeOutput, type ProbeRun } from "./media-probe.js";
import type { MediaInput } from "./media-args.js";
import { runTool } from "./run-tool.js";

/** The engine settings a run needs. */
export interface MediaRunSettings {
  ffmpeg: string;
  ffprobe: string;
  env: Record<string, string>;
  timeoutMs: number;
}

/** One run: where, how long, and who listens. */
export interface MediaJob {
  inputPath: string;
  inputFormat: string;
  outputPath: string;
  workDir: string;
  signal?: AbortSignal;
  timeoutMs: number;
  onProgress?: (percent: number) => void;
  /** "the conversion" or "the compression", for messages. */
  what: string;
}

/** The scratch directory of one run and the runTool options bound to it. */
export interface MediaSession {
  scratch: string;
  tempOutput: string;
  /** Probes the input (see probeInput). */
  probe(): Promise<MediaInput>;
  /** Runs ffmpeg with `args`; `total` is the output's expected length in seconds, for progress. */
  ffmpeg(args: string[], total: number | undefined): Promise<void>;
  /** Moves the output into place and probes it. */
  finish(): Promise<{ size: number; duration?: number; width?: number; height?: number }>;
}

/**
 * Runs `body` with a fresh session and removes the session's scratch directory afterwards,
 * whether `body` succeeded, failed, timed out or was canceled.
 */
export async function withMediaSession<T>(settings: MediaRunSettings, job: MediaJob, outputExt: string, body: (session: MediaSession) => Promise<T>): Promise<T> {
  const scratch = await mkdtemp(join(job.workDir, ".ffmpeg-"));
  const deadline = Date.now() + job.timeoutMs;
  const toolOptions = () => ({
    env: { ...settings.env, HOME: scratch, TMPDIR: scratch },
    cwd: scratch,
    timeoutMs: Math.max(1, deadline - Date.now()),
    isolateNetwork: "preferred" as const,
    what: job.what,
    ...(job.signal ? { signal: job.signal } : {}),
  });
  const probeRun = (): ProbeRun => ({ command: settings.ffprobe, options: toolOptions() });
  const tempOutput = join(scratch, `output.${outputExt}`);
  const session: MediaSession = {
    scratch,
    tempOutput,
    probe: () => probeInput(probeRun(), job.inputPath, job.inputFormat),
    async ffmpeg(args, total) {
      let last = -1;
      const report = (percent: number) => {
        const p = Math.max(0, Math.min(100, Math.round(percent * 10) / 10));
        if (p > last) {
          last = p;
          job.onProgress?.(p);
        }
      };
      const run = await runTool(settings.ffmpeg, args, {
        ...toolOptions(),
        onStdoutLine(line) {
          // out_time_us and out_time_ms are both microseconds (the latter misnamed in ffmpeg).
          const m = /^out_time_(?:us|ms)=(\d+)$/.exec(line);
          if (m && total && total > 0) report(Math.min(99, (Number(m[1]) / 1e6 / total) * 100));
          else if (line === "progress=end") report(100);
        },
      });
      if (run.code !== 0) throw describeFfmpegFailure(run.stderr, job.what);
    },
    async finish() {
      const size = (await stat(tempOutput).catch(() => null))?.size ?? 0;
      if (size === 0) throw new AppError("corrupt_file", `ffmpeg produced no output from the file: it holds no decodable frames in the part asked for`);
      const info = await probeOutput(probeRun(), tempOutput);
      await rename(tempOutput, job.outputPath).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== "EXDEV") throw err;
        await copyFile(tempOutput, job.outputPath);
      });
      return { size, ...info };
    },
  };
  try {
    return await body(session);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Maps ffmpeg's failure to a code: damaged input is the caller's, anything else is ours. */
function describeFfmpegFailure(stderr: string, what: string): AppError {
  const detail = stderr.trim().slice(-4000);
  if (/Invalid data found|moov atom not found|Error while decoding|corrupt|invalid frame|Truncating packet|End of file/i.test(stderr)) {
    return new AppError("corrupt_file", `${what} failed: the file is damaged and ffmpeg could not decode it`, { detail });
  }
  return new AppError("processing_failed", `${what} failed in ffmpeg`, { detail });
}
