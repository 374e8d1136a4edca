/**
 * The options of audio and video conversion (ffmpeg), as one table: validation at job creation
 * and in the worker, the docs and the options endpoint all read MEDIA_OPTIONS. Which options
 * apply depends on the output format: the others are ignored and listed in the task result.
 */
import { AppError } from "./errors.js";
import { normalizeFormat } from "./formats.js";
import { invalidOption, parseOptionsWith, parseOptionValue, showValue, toNumber, type OptionSpec } from "./option-table.js";

/** Video codecs an option can ask for, by their common names (the engine maps them to encoders). */
export type VideoCodec = "h264" | "vp9" | "vp8" | "mpeg4";
/** Audio codecs an option can ask for; `pcm` is 16-bit PCM (wav). */
export type AudioCodec = "aac" | "mp3" | "opus" | "vorbis" | "flac" | "pcm";

/** Parsed media options, keyed by their canonical names. Absent means "not given". */
export interface MediaOptions {
  video_codec?: VideoCodec;
  audio_codec?: AudioCodec;
  /** Bits per second. */
  video_bitrate?: number;
  /** Bits per second. */
  audio_bitrate?: number;
  width?: number;
  height?: number;
  /** "WxH", folded into width and height by parseMediaOptions. */
  resolution?: { width: number; height: number };
  fps?: number;
  /** Seconds from the start of the input. */
  start?: number;
  /** Seconds from the start of the input. */
  end?: number;
  crf?: number;
  audio_channels?: number;
  audio_sample_rate?: number;
}

/** What an output container holds: its kind and the codecs it takes, the default first. */
export interface MediaContainer {
  kind: "video" | "audio";
  videoCodecs: readonly VideoCodec[];
  audioCodecs: readonly AudioCodec[];
}

/** Every media output format and the codecs it may carry (gif: its own palette codec, no audio). */
export const MEDIA_CONTAINERS: Readonly<Record<string, MediaContainer>> = {
  mp4: { kind: "video", videoCodecs: ["h264", "mpeg4"], audioCodecs: ["aac", "mp3"] },
  mov: { kind: "video", videoCodecs: ["h264", "mpeg4"], audioCodecs: ["aac", "mp3"] },
  mkv: { kind: "video", videoCodecs: ["h264", "vp9", "vp8", "mpeg4"], audioCodecs: ["aac", "opus", "vorbis", "mp3", "flac"] },
  webm: { kind: "video", videoCodecs: ["vp9", "vp8"], audioCodecs: ["opus", "vorbis"] },
  avi: { kind: "video", videoCodecs: ["mpeg4", "h264"], audioCodecs: ["mp3", "aac", "pcm"] },
  gif: { kind: "video", videoCodecs: [], audioCodecs: [] },
  mp3: { kind: "audio", videoCodecs: [], audioCodecs: ["mp3"] },
  wav: { kind: "audio", videoCodecs: [], audioCodecs: ["pcm"] },
  ogg: { kind: "audio", videoCodecs: [], audioCodecs: ["vorbis", "opus", "flac"] },
  flac: { kind: "audio", videoCodecs: [], audioCodecs: ["flac"] },
  aac: { kind: "audio", videoCodecs: [], audioCodecs: ["aac"] },
  m4a: { kind: "audio", videoCodecs: [], audioCodecs: ["aac"] },
  opus: { kind: "audio", videoCodecs: [], audioCodecs: ["opus"] },
};

/** Sample rates libopus encodes; ffmpeg refuses others rather than resampling. */
const OPUS_RATES = [8000, 12000, 16000, 24000, 48000];
const VIDEO_OUT = ["mp4", "mov", "mkv", "webm", "avi"];
const PICTURE_OUT = [...VIDEO_OUT, "gif"];
const AUDIO_OUT = [...VIDEO_OUT, "mp3", "wav", "ogg", "flac", "aac", "m4a", "opus"];
const LOSSY_AUDIO_OUT = [...VIDEO_OUT, "mp3", "ogg", "aac", "m4a", "opus"];
const ALL_OUT = [...PICTURE_OUT, ...AUDIO_OUT.filter((f) => !VIDEO_OUT.includes(f))];

/** A media option row: a table row, plus a parser for the values a plain kind cannot check. */
export interface MediaOptionSpec extends OptionSpec<keyof MediaOptions> {
  /** Converts a raw value; null when it is not one this option takes. */
  readonly parse?: (raw: unknown) => unknown;
}

const TABLE = {
  video_codec: {
    type: "enum", values: ["h264", "vp9", "vp8", "mpeg4"], aliases: ["vcodec"], appliesTo: VIDEO_OUT, valueAliases: { x264: "h264", avc: "h264", libx264: "h264", xvid: "mpeg4" },
    defaultText: "h264 for mp4, mov and mkv; vp9 for webm; mpeg4 (Xvid-compatible) for avi",
    description: "Video codec of the output. mp4 and mov take h264 or mpeg4; webm vp9 or vp8; mkv any; avi mpeg4 or h264.",
  },
  audio_codec: {
    type: "enum", values: ["aac", "mp3", "opus", "vorbis", "flac", "pcm"], aliases: ["acodec"], appliesTo: [...VIDEO_OUT, "ogg"],
    defaultText: "aac for mp4, mov and mkv; opus for webm; mp3 for avi; vorbis for ogg (other audio formats have one codec)",
    description: "Audio codec of the output. mp4 and mov take aac or mp3; webm opus or vorbis; mkv aac, opus, vorbis, mp3 or flac; avi mp3, aac or pcm; ogg vorbis, opus or flac.",
  },
  video_bitrate: {
    type: "text", valuesText: "a bitrate like \"2500k\" or \"2M\" (a bare number is kbit/s), from 16k to 200M", aliases: [], appliesTo: VIDEO_OUT,
    parse: (raw: unknown) => parseBitrate(raw, 16_000, 200_000_000),
    defaultText: "none: quality-based (crf) encoding",
    description: "Average video bitrate. Given, it replaces the crf quality target with a bitrate target.",
  },
  audio_bitrate: {
    type: "text", valuesText: "a bitrate like \"128k\" (a bare number is kbit/s), from 8k to 640k", aliases: [], appliesTo: LOSSY_AUDIO_OUT,
    parse: (raw: unknown) => parseBitrate(raw, 8_000, 640_000),
    defaultText: "the encoder's default (128k for aac and mp3, 96k for opus, quality 3 for vorbis)",
    description: "Average audio bitrate. Ignored for lossless outputs (wav, flac).",
  },
  resolution: {
    type: "text", valuesText: "WxH in pixels, like \"1280x720\", each side from 16 to 8192", aliases: ["video_resolution", "screen_size"], appliesTo: PICTURE_OUT,
    parse: parseResolution,
    defaultText: "the input size (gif: at most 480 px wide)",
    description: "Output frame size, exactly as given (the aspect ratio may change). Odd sizes are rounded down to even for mp4, mov, mkv, webm and avi.",
  },
  width: {
    type: "integer", min: 16, max: 8192, unit: "px", aliases: ["video_width"], appliesTo: PICTURE_OUT,
    defaultText: "the input width (or the width that keeps the aspect ratio when only height is given)",
    description: "Output frame width. Given alone, the height follows the aspect ratio.",
  },
  height: {
    type: "integer", min: 16, max: 8192, unit: "px", aliases: ["video_height"], appliesTo: PICTURE_OUT,
    defaultText: "the input height (or the height that keeps the aspect ratio when only width is given)",
    description: "Output frame height. Given alone, the width follows the aspect ratio.",
  },
  fps: {
    type: "number", min: 1, max: 120, unit: "frames per second", aliases: ["frame_rate", "framerate"], appliesTo: PICTURE_OUT,
    defaultText: "the input's frame rate (gif: 10)",
    description: "Output frame rate; frames are dropped or repeated to reach it.",
  },
  start: {
    type: "text", valuesText: "seconds (\"12.5\") or hh:mm:ss[.ms] (\"00:01:05.250\")", aliases: ["cut_start", "trim_start"], appliesTo: ALL_OUT,
    parse: parseTime,
    defaultText: "0, the beginning",
    description: "Where the output starts in the input: the part before it is cut.",
  },
  end: {
    type: "text", valuesText: "seconds (\"12.5\") or hh:mm:ss[.ms] (\"00:01:05.250\")", aliases: ["cut_end", "trim_end"], appliesTo: ALL_OUT,
    parse: parseTime,
    defaultText: "the end of the input",
    description: "Where the output ends, as a time in the input (not a length): the part after it is cut. Must be after start.",
  },
  crf: {
    type: "integer", min: 0, max: 51, aliases: ["video_crf"], appliesTo: VIDEO_OUT,
    defaultText: "23 for h264, 31 for vp9 and vp8; mpeg4 maps it to its own 1-31 quantiser",
    description: "Constant quality target: lower is better and larger (0 is lossless for h264). Ignored when video_bitrate is given.",
  },
  audio_channels: {
    type: "integer", min: 1, max: 8, aliases: ["channels"], appliesTo: AUDIO_OUT,
    defaultText: "the input's channels",
    description: "Audio channels of the output: 1 mixes down to mono, 2 to stereo. mp3 takes at most 2.",
  },
  audio_sample_rate: {
    type: "integer", min: 8000, max: 96000, unit: "Hz", aliases: ["sample_rate"], appliesTo: AUDIO_OUT,
    defaultText: "the input's rate (opus: 48000)",
    description: "Audio sample rate of the output. opus takes 8000, 12000, 16000, 24000 or 48000; mp3 at most 48000.",
  },
} as const satisfies { readonly [K in keyof MediaOptions]-?: Omit<MediaOptionSpec, "name"> };

/** The media options table, in display order. */
export const MEDIA_OPTIONS: readonly MediaOptionSpec[] = Object.entries(TABLE).map(([name, spec]) => ({ name, ...spec }) as MediaOptionSpec);

/** Parsed media options and the given names that have no effect (unknown, or not for this output). */
export interface ParsedMediaOptions {
  values: MediaOptions;
  ignored: string[];
}

/**
 * Validates the `options` of an audio or video conversion. With `context.outputFormat`, options
 * that do not apply to it are moved to `ignored` and codecs are checked against the container.
 * A bad value throws AppError("invalid_option") naming the option and what is accepted.
 */
export function parseMediaOptions(options: unknown, context: { outputFormat?: string } = {}): ParsedMediaOptions {
  const { values, ignored, givenAs } = parseOptionsWith(MEDIA_OPTIONS, options, (spec, name, raw) => {
    if (!spec.parse) return parseOptionValue(spec, name, raw);
    const value = spec.parse(raw);
    if (value === null) throw invalidOption(spec, name, raw);
    return value;
  });
  const parsed = values as MediaOptions;
  const named = (key: keyof MediaOptions) => givenAs.get(key) ?? key;
  if (parsed.resolution) {
    for (const side of ["width", "height"] as const) {
      if (parsed[side] !== undefined && parsed[side] !== parsed.resolution[side]) {
        throw new AppError("invalid_option", `options ${named("resolution")} and ${named(side)} disagree: give one of them`);
      }
      parsed[side] = parsed.resolution[side];
    }
    delete parsed.resolution;
  }
  if (parsed.start !== undefined && parsed.end !== undefined && parsed.end <= parsed.start) {
    throw new AppError("invalid_option", `option ${named("end")} (${parsed.end} s) must be after ${named("start")} (${parsed.start} s)`);
  }
  if (context.outputFormat === undefined) return { values: parsed, ignored };
  const format = normalizeFormat(context.outputFormat);
  for (const spec of MEDIA_OPTIONS) {
    if (spec.name in parsed && spec.appliesTo && !spec.appliesTo.includes(format)) {
      delete parsed[spec.name];
      ignored.push(named(spec.name));
    }
  }
  const container = MEDIA_CONTAINERS[format];
  if (container) checkForContainer(parsed, format, container, named);
  return { values: parsed, ignored };
}

function checkForContainer(parsed: MediaOptions, format: string, container: MediaContainer, named: (key: keyof MediaOptions) => string): void {
  if (parsed.video_codec && !container.videoCodecs.includes(parsed.video_codec)) {
    throw new AppError("invalid_option", `option ${named("video_codec")} for ${format} must be one of ${container.videoCodecs.join(", ")}; got ${showValue(parsed.video_codec)}`);
  }
  if (parsed.audio_codec && !container.audioCodecs.includes(parsed.audio_codec)) {
    throw new AppError("invalid_option", `option ${named("audio_codec")} for ${format} must be one of ${container.audioCodecs.join(", ")}; got ${showValue(parsed.audio_codec)}`);
  }
  const audio = parsed.audio_codec ?? container.audioCodecs[0];
  if (audio === "opus" && parsed.audio_sample_rate !== undefined && !OPUS_RATES.includes(parsed.audio_sample_rate)) {
    throw new AppError("invalid_option", `option ${named("audio_sample_rate")} for opus audio must be one of ${OPUS_RATES.join(", ")}; got ${parsed.audio_sample_rate}`);
  }
  if (audio === "mp3" && (parsed.audio_sample_rate ?? 0) > 48000) {
    throw new AppError("invalid_option", `option ${named("audio_sample_rate")} for mp3 audio must be at most 48000; got ${parsed.audio_sample_rate}`);
  }
  if (audio === "mp3" && (parsed.audio_channels ?? 0) > 2) {
    throw new AppError("invalid_option", `option ${named("audio_channels")} for mp3 audio must be 1 or 2; got ${parsed.audio_channels}`);
  }
}

/** A bitrate in bits per second from "128k", "2.5M", "96000bps" or a bare number of kbit/s; null when it is none or out of range. */
export function parseBitrate(raw: unknown, min: number, max: number): number | null {
  let bits: number | null = null;
  const bare = toNumber(raw);
  if (bare !== null) bits = bare * 1000;
  else if (typeof raw === "string") {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(k|m)?(?:bps|b\/s|bit\/s)?\s*$/i.exec(raw);
    if (m) bits = Number(m[1]) * (m[2] === undefined ? 1 : m[2].toLowerCase() === "k" ? 1000 : 1_000_000);
  }
  if (bits === null || !Number.isFinite(bits)) return null;
  bits = Math.round(bits);
  return bits >= min && bits <= max ? bits : null;
}

/** Seconds from 12.5, "12.5", "01:05", "00:01:05.250"; null for anything else (negative, minutes or seconds past 59, over 100 h). */
export function parseTime(raw: unknown): number | null {
  const plain = toNumber(raw);
  let seconds: number | null = plain;
  if (plain === null && typeof raw === "string") {
    const m = /^\s*(?:(\d+):)?([0-5]?\d):([0-5]?\d(?:\.\d+)?)\s*$/.exec(raw);
    if (m) seconds = Number(m[1] ?? 0) * 3600 + Number(m[2]) * 60 + Number(m[3]);
  }
  if (seconds === null || seconds < 0 || seconds > 360_000) return null;
  return Math.round(seconds * 1000) / 1000;
}

/** A frame size from "1280x720" (also X, ×, spaces); null for anything else or a side outside 16..8192. */
export function parseResolution(raw: unknown): { width: number; height: number } | null {
  if (typeof raw !== "string") return null;
  const m = /^\s*(\d{1,5})\s*[xX×]\s*(\d{1,5})\s*$/.exec(raw);
  if (!m) return null;
  const width = Number(m[1]);
  const height = Number(m[2]);
  const ok = (n: number) => n >= 16 && n <= 8192;
  return ok(width) && ok(height) ? { width, height } : null;
}
