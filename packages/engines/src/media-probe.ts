/**
 * ffprobe of a media file before and after ffmpeg: the input must open with one of the allowed
 * demuxers and be what it was declared as; the output's duration and size go into the result.
 */
import { AppError, normalizeFormat } from "@transmute/core";
import { DEMUXERS_OF, INPUT_DEMUXERS, type MediaInput } from "./media-args.js";
import { runTool, type RunToolOptions } from "./run-tool.js";

/** How to run ffprobe: the command and the runTool options (env, timeout, signal). */
export interface ProbeRun {
  command: string;
  options: RunToolOptions;
}

interface FfprobeStream {
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  duration?: string;
  bit_rate?: string;
  disposition?: { attached_pic?: number };
}

interface FfprobeOutput {
  format?: { format_name?: string; duration?: string };
  streams?: FfprobeStream[];
}

/** What a file is by its demuxer, for messages. */
const DEMUXER_NAMES: Readonly<Record<string, string>> = {
  mov: "an MP4/MOV file", matroska: "a Matroska/WebM file", avi: "an AVI file", gif: "a GIF", mp3: "an MP3 file",
  wav: "a WAV file", ogg: "an Ogg file", flac: "a FLAC file", aac: "an AAC (ADTS) file",
};

/** Runs ffprobe on `path` (only local files, only the allowed demuxers) and returns its JSON. */
async function ffprobe(run: ProbeRun, path: string): Promise<{ json: FfprobeOutput | null; stderr: string }> {
  const args = [
    "-v", "error", "-hide_banner", "-protocol_whitelist", "file", "-format_whitelist", INPUT_DEMUXERS.join(","),
    "-print_format", "json", "-show_format", "-show_streams", `file:${path}`,
  ];
  const result = await runTool(run.command, args, { ...run.options, tailBytes: 1 << 20 });
  if (result.code !== 0) return { json: null, stderr: result.stderr };
  try {
    return { json: JSON.parse(result.stdout) as FfprobeOutput, stderr: result.stderr };
  } catch {
    return { json: null, stderr: `unparsable ffprobe output: ${result.stdout.slice(0, 200)}` };
  }
}

/** The demuxer ffprobe used, among INPUT_DEMUXERS (its format_name lists aliases: "mov,mp4,m4a,..."). */
function demuxerOf(formatName: string | undefined): string | undefined {
  const names = (formatName ?? "").split(",");
  return INPUT_DEMUXERS.find((d) => names.includes(d));
}

function seconds(text: string | undefined): number | undefined {
  const n = text === undefined ? NaN : Number(text);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/**
 * Probes an input declared as `format`: corrupt_file when nothing decodable is found,
 * unsupported_format when the bytes are another format than declared.
 */
export async function probeInput(run: ProbeRun, path: string, format: string): Promise<MediaInput> {
  const declared = normalizeFormat(format);
  const allowed = DEMUXERS_OF[declared];
  if (!allowed) throw new AppError("unsupported_format", `the media engine does not read ${declared} files`);
  const { json, stderr } = await ffprobe(run, path);
  const detail = `ffprobe ${path}: ${stderr.trim().slice(-2000)}`;
  const demuxer = demuxerOf(json?.format?.format_name);
  if (!json || !demuxer) {
    throw new AppError("corrupt_file", `the file could not be read as ${declared}: it is empty, damaged or not an audio or video file`, { detail });
  }
  if (!allowed.includes(demuxer)) {
    throw new AppError("unsupported_format", `the file was declared as ${declared} but its bytes are ${DEMUXER_NAMES[demuxer] ?? demuxer}; name it with its real extension`, { detail });
  }
  const streams = json.streams ?? [];
  // A cover picture in an MP3 or M4A is a "video" stream of one frame, not a video.
  const video = streams.find((s) => s.codec_type === "video" && !s.disposition?.attached_pic);
  const audio = streams.find((s) => s.codec_type === "audio");
  if (!video && !audio) {
    throw new AppError("corrupt_file", `the ${declared} file has no audio or video stream`, { detail: `${detail}; streams: ${streams.map((s) => s.codec_type).join(", ") || "none"}` });
  }
  const durations = streams.map((s) => seconds(s.duration)).filter((d): d is number => d !== undefined);
  const duration = seconds(json.format?.duration) ?? (durations.length ? Math.max(...durations) : undefined);
  const input: MediaInput = { path, demuxer, hasVideo: video !== undefined, hasAudio: audio !== undefined };
  if (video?.width) input.width = video.width;
  if (video?.height) input.height = video.height;
  if (duration !== undefined) input.duration = duration;
  const bitrate = Number(audio?.bit_rate);
  if (Number.isFinite(bitrate) && bitrate > 0) input.audioBitrate = bitrate;
  if (audio?.codec_name) input.audioCodec = audio.codec_name;
  return input;
}

/** What ffprobe says about an output ffmpeg wrote: its duration and frame size. */
export async function probeOutput(run: ProbeRun, path: string): Promise<{ duration?: number; width?: number; height?: number; streams: number }> {
  const { json } = await ffprobe(run, path);
  const streams = json?.streams ?? [];
  const video = streams.find((s) => s.codec_type === "video" && !s.disposition?.attached_pic);
  const durations = streams.map((s) => seconds(s.duration)).filter((d): d is number => d !== undefined);
  const duration = seconds(json?.format?.duration) ?? (durations.length ? Math.max(...durations) : undefined);
  return {
    streams: streams.length,
    ...(duration === undefined ? {} : { duration: Math.round(duration * 1000) / 1000 }),
    ...(video?.width ? { width: video.width, height: video.height ?? 0 } : {}),
  };
}
