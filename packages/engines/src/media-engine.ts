/**
 * The media engine: audio and video through ffmpeg (convert, compress). ffmpeg parses untrusted
 * files, so every run is locked down: only local files (-protocol_whitelist file) and only the
 * demuxer ffprobe found among a short list (no hls, concat or image sequences that open other
 * files), no stdin, no network (an empty namespace where the machine allows one), a scratch
 * HOME/TMPDIR under the task's workDir, and a process group killed on timeout or abort.
 */
import { dirname, isAbsolute, join, resolve } from "node:path";
import { unlink } from "node:fs/promises";
import { AppError, CONVERSION_TABLE, normalizeFormat, parseCompressOptions, parseMediaOptions } from "@transmute/core";
import type {
  CompressRequest, CompressResult, ConversionPair, ConvertContext, ConvertLimits, ConvertRequest, ConvertResult, Engine, EngineProbe,
} from "./engine.js";
import { chooseCodecs, compressArgs, convertArgs, ENCODER_OF, type MediaCodecs, type MediaInput } from "./media-args.js";
import { withMediaSession, type MediaRunSettings } from "./media-run.js";
import { runTool, TOOL_PATH } from "./run-tool.js";

/** Settings of the media engine. */
export interface MediaEngineOptions {
  /** The ffmpeg executable, a name looked up on `env.PATH` or a path (default "ffmpeg"). */
  ffmpeg?: string;
  /** The ffprobe executable (default: "ffprobe" beside ffmpeg when that is an absolute path, else "ffprobe"). */
  ffprobe?: string;
  /** Wall-clock limit of one conversion, probes included (default 600 s). */
  timeoutMs?: number;
  /** The tools' environment (default: only a Debian PATH): they parse untrusted files and get no secrets. */
  env?: Record<string, string>;
  /** The operator's longest input in seconds; a request may only lower it (default: none). */
  maxMediaSeconds?: number;
}

/** The media engine. */
export interface MediaEngine extends Engine {
  compress(request: CompressRequest, context?: ConvertContext): Promise<CompressResult>;
}

/** What the probe found: the engine probe plus the encoders, which convert needs to pick codecs. */
interface MediaProbe extends EngineProbe {
  encoders: ReadonlySet<string>;
}

/** The encoders the media rows of CONVERSION_TABLE are made with (libvpx is the VP8 fallback of webm). */
const WANTED_ENCODERS = ["libx264", "libvpx-vp9", "libvpx", "mpeg4", "gif", "libmp3lame", "libvorbis", "libopus", "aac", "flac", "pcm_s16le"];
const INSTALL_HINT = "install the Debian package ffmpeg (scripts/install-engines.sh does) or set FFMPEG_PATH to an ffmpeg that has them";

function settingsOf(options: MediaEngineOptions): MediaRunSettings {
  const ffmpeg = options.ffmpeg ?? "ffmpeg";
  return {
    ffmpeg,
    ffprobe: options.ffprobe ?? (isAbsolute(ffmpeg) ? join(dirname(ffmpeg), "ffprobe") : "ffprobe"),
    env: options.env ?? { PATH: TOOL_PATH },
    timeoutMs: options.timeoutMs ?? 600_000,
  };
}

/** Runs `ffmpeg -version`, `ffprobe -version` and `ffmpeg -encoders`; reports the media pairs this ffmpeg can encode. */
export async function probeMedia(options: MediaEngineOptions = {}): Promise<EngineProbe> {
  const { encoders: _encoders, ...probe } = await probeTools(settingsOf(options));
  return probe;
}

async function probeTools(settings: MediaRunSettings): Promise<MediaProbe> {
  const run = async (command: string, args: string[]) => {
    const result = await runTool(command, args, { env: settings.env, timeoutMs: 15_000, what: `${command} ${args.join(" ")}`, tailBytes: 1 << 16 });
    if (result.code !== 0) throw new Error(`${command} ${args.join(" ")} exited with ${result.code}: ${result.stderr.trim().slice(-500)}`);
    return result.stdout;
  };
  try {
    const [ffmpegVersion, ffprobeVersion, list] = await Promise.all([
      run(settings.ffmpeg, ["-hide_banner", "-version"]),
      run(settings.ffprobe, ["-hide_banner", "-version"]),
      run(settings.ffmpeg, ["-hide_banner", "-encoders"]),
    ]);
    const encoders = new Set([...list.matchAll(/^\s*[VAS][A-Z.]{5}\s+(\S+)/gm)].map((m) => m[1] as string));
    const conversions = mediaPairs(encoders);
    const lacking = WANTED_ENCODERS.filter((e) => !encoders.has(e) && !(e === "libvpx" && encoders.has("libvpx-vp9")) && !(e === "libvpx-vp9" && encoders.has("libvpx")));
    const version = `${firstLine(ffmpegVersion)}; ${firstLine(ffprobeVersion)}`;
    if (conversions.length === 0) {
      return { version, conversions, encoders, available: false, missing: `ffmpeg has none of the encoders the media conversions need (${lacking.join(", ")}): ${INSTALL_HINT}.` };
    }
    const probe: MediaProbe = { version, conversions, encoders, available: true };
    // Available with fewer formats: the operator still learns what is missing.
    if (lacking.length) probe.missing = `ffmpeg lacks the encoders ${lacking.join(", ")}, so some media formats are not offered: ${INSTALL_HINT}.`;
    return probe;
  } catch (err) {
    const notFound = (err as NodeJS.ErrnoException).code === "ENOENT";
    const why = notFound ? `${settings.ffmpeg} or ${settings.ffprobe} was not found` : String(err);
    return { version: "unknown", conversions: [], encoders: new Set(), available: false, missing: `ffmpeg: ${why}; ${INSTALL_HINT}. Until then audio and video are not converted.` };
  }
}

function firstLine(text: string): string {
  return (text.split("\n")[0] ?? "").replace(/\s+Copyright.*$/, "").trim();
}

/** The media rows of CONVERSION_TABLE whose output this ffmpeg can encode with default codecs. */
function mediaPairs(encoders: ReadonlySet<string>): ConversionPair[] {
  const pairs: ConversionPair[] = [];
  for (const row of CONVERSION_TABLE) {
    if (row.engineClass !== "media") continue;
    for (const from of row.from) {
      for (const to of row.to) {
        if (row.operation === "compress" && from !== to) continue;
        if (row.operation !== "convert" && row.operation !== "compress") continue;
        if (!chooseCodecs(to, {}, encoders)) continue;
        pairs.push(row.operation === "compress" ? { from, to, operation: "compress" } : { from, to });
      }
    }
  }
  return pairs;
}

/** Creates the media engine; the tools are probed on first use and the answer kept. */
export function createMediaEngine(options: MediaEngineOptions = {}): MediaEngine {
  const settings = settingsOf(options);
  let probed: Promise<MediaProbe> | undefined;
  const tools = () => (probed ??= probeTools(settings));
  const limitOf = (limits: ConvertLimits | undefined) => {
    const all = [options.maxMediaSeconds, limits?.maxMediaSeconds].filter((n): n is number => typeof n === "number" && n > 0);
    return all.length ? Math.min(...all) : undefined;
  };
  const supported = async (from: string, to: string, operation?: "compress") => {
    const probe = await tools();
    if (!probe.available) throw new AppError("unsupported_conversion", "audio and video conversion is not available on this server", { detail: probe.missing ?? "" });
    if (!probe.conversions.some((p) => p.from === from && p.to === to && p.operation === operation)) {
      const what = operation === "compress" ? `compress ${from}` : `convert ${from} to ${to}`;
      throw new AppError("unsupported_conversion", `the media engine does not ${what}`, { detail: probe.missing ?? "" });
    }
    return probe.encoders;
  };

  return {
    name: "ffmpeg",
    engineClass: "media",
    probe: async () => {
      const { encoders: _encoders, ...probe } = await tools();
      return probe;
    },

    async convert(request: ConvertRequest, context: ConvertContext = {}): Promise<ConvertResult> {
      const from = normalizeFormat(request.inputFormat);
      const to = normalizeFormat(request.outputFormat);
      const encoders = await supported(from, to);
      const { values, ignored } = parseMediaOptions(request.options, { outputFormat: to });
      const codecs = chooseCodecs(to, values, encoders);
      const asked = [values.video_codec, values.audio_codec].find((c) => c !== undefined && !encoders.has(ENCODER_OF[c]));
      if (!codecs || asked) throw new AppError("unsupported_conversion", `this server's ffmpeg cannot encode ${asked ?? to}`, { detail: `encoder ${asked ? ENCODER_OF[asked] : "?"} missing` });
      const job = jobOf(request.inputPath, from, request.outputPath, request.workDir ?? dirname(request.outputPath), context, settings, "the conversion");
      return withMediaSession(settings, job, to, async (session) => {
        const input = await session.probe();
        const limit = checkInput(input, from, to, codecs, limitOf(request.limits));
        if (values.start !== undefined && input.duration !== undefined && values.start >= input.duration) {
          throw new AppError("invalid_option", `option start (${values.start} s) is at or past the end of the input (${round(input.duration)} s)`);
        }
        const end = Math.min(values.end ?? Infinity, input.duration ?? Infinity);
        const total = Number.isFinite(end) ? end - (values.start ?? 0) : undefined;
        await session.ffmpeg(convertArgs(input, session.tempOutput, to, values, codecs, limit.cap), total);
        const out = await session.finish();
        await refuseIfCapped(out.duration, limit, request.outputPath);
        const details: Record<string, unknown> = { duration: out.duration ?? null };
        const result: ConvertResult = { format: to, size: out.size, ignoredOptions: ignored, details };
        if (codecs.video && out.width) {
          result.width = details.width = out.width;
          result.height = details.height = out.height;
        }
        return result;
      });
    },

    async compress(request: CompressRequest, context: ConvertContext = {}): Promise<CompressResult> {
      const format = normalizeFormat(request.format);
      const encoders = await supported(format, format, "compress");
      const { values, ignored } = parseCompressOptions(request.options, { format });
      const job = jobOf(request.inputPath, format, request.outputPath, dirname(request.outputPath), context, settings, "the compression");
      return withMediaSession(settings, job, format, async (session) => {
        const input = await session.probe();
        // An Ogg may hold Opus: keep it rather than re-encode it into a worse codec.
        const codecs = chooseCodecs(format, format === "ogg" && input.audioCodec === "opus" ? { audio_codec: "opus" } : {}, encoders);
        if (!codecs) throw new AppError("unsupported_conversion", `this server's ffmpeg cannot encode ${format}`);
        const limit = checkInput(input, format, format, codecs, limitOf(request.limits));
        await session.ffmpeg(compressArgs(input, session.tempOutput, format, values, codecs, limit.cap), input.duration);
        const out = await session.finish();
        await refuseIfCapped(out.duration, limit, request.outputPath);
        return { format, size: out.size, ignoredOptions: ignored };
      });
    },

    close: () => Promise.resolve(),
  };
}

function jobOf(inputPath: string, inputFormat: string, outputPath: string, workDir: string, context: ConvertContext, settings: MediaRunSettings, what: string) {
  // Absolute paths: ffmpeg gets `file:<path>`, and a relative one would follow its cwd, the scratch.
  return {
    inputPath: resolve(inputPath), inputFormat, outputPath: resolve(outputPath), workDir: resolve(workDir), what,
    timeoutMs: context.timeoutMs ?? settings.timeoutMs,
    ...(context.signal ? { signal: context.signal } : {}),
    ...(context.onProgress ? { onProgress: context.onProgress } : {}),
  };
}

/**
 * The checks that need the probe: the length limit, and the streams the output needs. When the
 * length is unknown (a live-recorded WebM), ffmpeg is capped just past the limit instead.
 */
function checkInput(input: MediaInput, from: string, to: string, codecs: MediaCodecs, limit: number | undefined): { limit?: number; cap?: number } {
  if (limit !== undefined && input.duration !== undefined && input.duration > limit) {
    throw new AppError("limit_exceeded", `the ${from} file lasts ${round(input.duration)} s; the most allowed here is ${limit} s`);
  }
  if (codecs.video === undefined && !input.hasAudio) {
    throw new AppError("unsupported_conversion", `the ${from} file has no audio track, so there is nothing to convert to ${to}`);
  }
  if (codecs.video === "gif" && !input.hasVideo) {
    throw new AppError("unsupported_conversion", `the ${from} file has no video track, so there is nothing to convert to gif`);
  }
  if (limit === undefined) return {};
  return input.duration === undefined ? { limit, cap: limit + 1 } : { limit };
}

async function refuseIfCapped(duration: number | undefined, limit: { limit?: number; cap?: number }, outputPath: string): Promise<void> {
  if (limit.cap === undefined || limit.limit === undefined || duration === undefined || duration <= limit.limit) return;
  await unlink(outputPath).catch(() => undefined);
  throw new AppError("limit_exceeded", `the file lasts longer than ${limit.limit} s, the most allowed here`);
}

function round(seconds: number): number {
  return Math.round(seconds * 100) / 100;
}
