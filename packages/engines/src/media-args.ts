/**
 * The ffmpeg command lines of the media engine, pure so the tests can read the contract: which
 * encoder each codec name means, what each output muxer is, and how options become arguments.
 */
import { MEDIA_CONTAINERS, type AudioCodec, type CompressOptions, type MediaOptions, type VideoCodec } from "@transmute/core";

/** The demuxers ffmpeg may pick for an input: never hls, concat, image2 or anything that opens other files. */
export const INPUT_DEMUXERS = ["mov", "matroska", "avi", "gif", "mp3", "wav", "ogg", "flac", "aac"] as const;

/** The demuxers a file declared as each format may really be (an iTunes .aac is often an MP4 box). */
export const DEMUXERS_OF: Readonly<Record<string, readonly string[]>> = {
  mp4: ["mov"], mov: ["mov"], m4a: ["mov"], aac: ["aac", "mov"], webm: ["matroska"], mkv: ["matroska"],
  avi: ["avi"], gif: ["gif"], mp3: ["mp3"], wav: ["wav"], ogg: ["ogg"], opus: ["ogg"], flac: ["flac"],
};

/** The output muxer of each format (-f): never guessed from a file name. */
export const MUXER_OF: Readonly<Record<string, string>> = {
  mp4: "mp4", mov: "mov", mkv: "matroska", webm: "webm", avi: "avi", gif: "gif",
  mp3: "mp3", wav: "wav", ogg: "ogg", flac: "flac", aac: "adts", m4a: "ipod", opus: "opus",
};

/** The ffmpeg encoder behind each codec name. */
export const ENCODER_OF: Readonly<Record<VideoCodec | AudioCodec | "gif", string>> = {
  h264: "libx264", vp9: "libvpx-vp9", vp8: "libvpx", mpeg4: "mpeg4", gif: "gif",
  aac: "aac", mp3: "libmp3lame", opus: "libopus", vorbis: "libvorbis", flac: "flac", pcm: "pcm_s16le",
};

/** What ffprobe told about the input, as far as the arguments need it. */
export interface MediaInput {
  /** Absolute path. */
  path: string;
  /** The demuxer to force (one of INPUT_DEMUXERS). */
  demuxer: string;
  hasVideo: boolean;
  hasAudio: boolean;
  width?: number;
  height?: number;
  /** Seconds, when known. */
  duration?: number;
  /** Of the first audio stream, bits per second, when known. */
  audioBitrate?: number;
  /** Codec name of the first audio stream (ffprobe's). */
  audioCodec?: string;
}

/** Codecs chosen for one output (undefined: that kind of stream is not written). */
export interface MediaCodecs {
  video?: VideoCodec | "gif";
  audio?: AudioCodec;
}

/** The first codec of `list` whose encoder this ffmpeg has. */
export function firstEncodable<C extends VideoCodec | AudioCodec>(list: readonly C[], encoders: ReadonlySet<string>): C | undefined {
  return list.find((codec) => encoders.has(ENCODER_OF[codec]));
}

/** The arguments every run starts with: no stdin, machine-readable progress, a locked-down input. */
export function inputArgs(input: MediaInput, trim: { start?: number; end?: number } = {}): string[] {
  const args = ["-nostdin", "-hide_banner", "-loglevel", "error", "-progress", "pipe:1", "-nostats"];
  // Input options: only local files, only the demuxer the probe found (so a playlist inside the
  // file cannot send ffmpeg to other files or hosts), seeking done before decoding.
  args.push("-protocol_whitelist", "file", "-format_whitelist", INPUT_DEMUXERS.join(","), "-f", input.demuxer);
  if (trim.start !== undefined) args.push("-ss", String(trim.start));
  if (trim.end !== undefined) args.push("-to", String(trim.end));
  args.push("-i", `file:${input.path}`);
  return args;
}

/** The arguments of a conversion after the input: stream choice, encoders, filters, muxer, output. */
export function convertArgs(input: MediaInput, outputPath: string, format: string, options: MediaOptions, codecs: MediaCodecs, capSeconds?: number): string[] {
  const args = inputArgs(input, options);
  args.push("-map_metadata", "0", "-sn", "-dn");
  if (codecs.video === "gif") {
    args.push("-map", "0:v:0", "-an", "-vf", gifFilter(input, options));
  } else if (codecs.video && input.hasVideo) {
    args.push("-map", "0:v:0", ...videoEncoderArgs(codecs.video, options.crf, options.video_bitrate, "veryfast"));
    const filters = [...scaleFilter(input, options), ...(options.fps ? [`fps=${options.fps}`] : [])];
    if (filters.length) args.push("-vf", filters.join(","));
  } else {
    args.push("-vn");
  }
  if (codecs.audio && input.hasAudio) {
    args.push("-map", "0:a:0", ...audioEncoderArgs(codecs.audio, options.audio_bitrate));
    if (options.audio_channels) args.push("-ac", String(options.audio_channels));
    if (options.audio_sample_rate) args.push("-ar", String(options.audio_sample_rate));
  } else if (codecs.video !== "gif") {
    args.push("-an");
  }
  return [...args, ...outputArgs(format, outputPath, capSeconds)];
}

/** The arguments of a compression: the same container re-encoded smaller (crf, bitrate, max size). */
export function compressArgs(input: MediaInput, outputPath: string, format: string, options: CompressOptions, codecs: MediaCodecs, capSeconds?: number): string[] {
  const args = [...inputArgs(input), "-map_metadata", "0", "-sn", "-dn"];
  if (codecs.video && codecs.video !== "gif" && input.hasVideo) {
    const crf = options.video_crf ?? (codecs.video === "h264" ? 28 : codecs.video === "mpeg4" ? undefined : 35);
    args.push("-map", "0:v:0", ...videoEncoderArgs(codecs.video, crf, undefined, "medium"));
    if (codecs.video === "mpeg4" && crf === undefined) args.push("-q:v", "8");
    const maxW = options.video_max_width;
    const maxH = options.video_max_height;
    if (maxW !== undefined || maxH !== undefined) {
      // Only ever down: min() keeps a smaller side, force_divisible_by keeps 4:2:0 encoders happy.
      args.push("-vf", `scale=w=min(iw\\,${maxW ?? "iw"}):h=min(ih\\,${maxH ?? "ih"}):force_original_aspect_ratio=decrease:force_divisible_by=2`);
    } else {
      args.push(...evenFilterArgs(input));
    }
  } else {
    args.push("-vn");
  }
  if (codecs.audio && input.hasAudio) {
    const lossless = codecs.audio === "flac" || codecs.audio === "pcm";
    const target = options.audio_bitrate ?? (codecs.audio === "opus" ? 64_000 : 96_000);
    // Re-encoding below the input's own bitrate is the point; above it only adds bytes.
    const bitrate = lossless ? undefined : Math.max(8_000, Math.min(target, options.audio_bitrate ?? input.audioBitrate ?? target));
    args.push("-map", "0:a:0", ...audioEncoderArgs(codecs.audio, bitrate));
    if (codecs.audio === "flac") args.push("-compression_level", "12");
  } else {
    args.push("-an");
  }
  return [...args, ...outputArgs(format, outputPath, capSeconds)];
}

function outputArgs(format: string, outputPath: string, capSeconds: number | undefined): string[] {
  const args = capSeconds === undefined ? [] : ["-t", String(capSeconds)];
  // The moov box first: the file plays while it downloads.
  if (format === "mp4" || format === "mov" || format === "m4a") args.push("-movflags", "+faststart");
  if (format === "avi") args.push("-vtag", "XVID");
  args.push("-f", MUXER_OF[format] ?? format, "-y", `file:${outputPath}`);
  return args;
}

function videoEncoderArgs(codec: VideoCodec, crf: number | undefined, bitrate: number | undefined, preset: string): string[] {
  const args = ["-c:v", ENCODER_OF[codec]];
  switch (codec) {
    case "h264":
      args.push("-preset", preset, "-pix_fmt", "yuv420p");
      return bitrate ? [...args, "-b:v", String(bitrate)] : [...args, "-crf", String(crf ?? 23)];
    case "vp9":
      args.push("-pix_fmt", "yuv420p", "-deadline", "good", "-cpu-used", "4", "-row-mt", "1");
      // -b:v 0 with -crf is libvpx-vp9's constant-quality mode; a bitrate makes it average-bitrate.
      return bitrate ? [...args, "-b:v", String(bitrate)] : [...args, "-crf", String(crf ?? 31), "-b:v", "0"];
    case "vp8":
      args.push("-pix_fmt", "yuv420p", "-deadline", "good", "-cpu-used", "4");
      // VP8 has no pure constant-quality mode: crf with a generous ceiling comes closest.
      return bitrate ? [...args, "-b:v", String(bitrate)] : [...args, "-crf", String(crf ?? 31), "-b:v", "20M"];
    case "mpeg4":
      if (bitrate) return [...args, "-b:v", String(bitrate)];
      return crf === undefined ? [...args, "-q:v", "4"] : [...args, "-q:v", String(Math.max(1, Math.min(31, Math.round((crf * 31) / 51))))];
  }
}

function audioEncoderArgs(codec: AudioCodec, bitrate: number | undefined): string[] {
  const args = ["-c:a", ENCODER_OF[codec]];
  switch (codec) {
    case "vorbis":
      return bitrate ? [...args, "-b:a", String(bitrate)] : [...args, "-q:a", "3"];
    case "aac":
    case "mp3":
      return [...args, "-b:a", String(bitrate ?? 128_000)];
    case "opus":
      return [...args, "-b:a", String(bitrate ?? 96_000)];
    default:
      return args;
  }
}

/** Scale for width/height options; 4:2:0 encoders need even sides, so odd ones are rounded down. */
function scaleFilter(input: MediaInput, options: MediaOptions): string[] {
  const even = (n: number) => n - (n % 2);
  if (options.width !== undefined && options.height !== undefined) return [`scale=${even(options.width)}:${even(options.height)}`];
  if (options.width !== undefined) return [`scale=${even(options.width)}:-2`];
  if (options.height !== undefined) return [`scale=-2:${even(options.height)}`];
  return evenFilterArgs(input).slice(1);
}

function evenFilterArgs(input: MediaInput): string[] {
  const odd = (input.width ?? 0) % 2 === 1 || (input.height ?? 0) % 2 === 1;
  return odd ? ["-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2"] : [];
}

/** GIF: one palette made for the whole clip (palettegen), then mapped with light dithering. */
function gifFilter(input: MediaInput, options: MediaOptions): string {
  const fps = options.fps ?? 10;
  let size: string;
  if (options.width !== undefined && options.height !== undefined) size = `${options.width}:${options.height}`;
  else if (options.width !== undefined) size = `${options.width}:-1`;
  else if (options.height !== undefined) size = `-1:${options.height}`;
  else size = `${Math.min(input.width ?? 480, 480)}:-1`;
  return `fps=${fps},scale=${size}:flags=lanczos,split[a][b];[a]palettegen=stats_mode=diff[p];[b][p]paletteuse=dither=bayer:bayer_scale=5`;
}

/** The default codecs of an output format that this ffmpeg can encode, the options' choice first. */
export function chooseCodecs(format: string, options: { video_codec?: VideoCodec; audio_codec?: AudioCodec }, encoders: ReadonlySet<string>): MediaCodecs | undefined {
  const container = MEDIA_CONTAINERS[format];
  if (!container) return undefined;
  if (format === "gif") return encoders.has("gif") ? { video: "gif" } : undefined;
  const audio = options.audio_codec ?? firstEncodable(container.audioCodecs, encoders);
  if (container.kind === "audio") return audio ? { audio } : undefined;
  const video = options.video_codec ?? firstEncodable(container.videoCodecs, encoders);
  return video && audio ? { video, audio } : undefined;
}
