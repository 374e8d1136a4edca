/**
 * The media engine against the real ffmpeg: inputs made with lavfi (testsrc, sine), outputs read
 * back with ffprobe (codecs, durations, frame sizes, frame rates, frame counts); damaged,
 * mislabelled and hostile inputs; the length limit; and timeouts and aborts that leave no
 * ffmpeg running and nothing in the task's directory.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseMediaOptions } from "@transmute/core";
import { convertArgs, createMediaEngine, probeMedia, type MediaEngine } from "../dist/index.js";
import { engineAvailable } from "../../../test/support/engine-tools.js";
import { failure } from "./failure.js";

const run = promisify(execFile);
const available = await engineAvailable("ffmpeg", () => probeMedia());

let dir: string;
let engine: MediaEngine;
const input: Record<string, string> = {};

interface Probed {
  format: { format_name: string; duration?: string };
  streams: Array<{ codec_type: string; codec_name: string; width?: number; height?: number; r_frame_rate?: string; nb_read_frames?: string; channels?: number; sample_rate?: string }>;
}

async function ffprobe(path: string, countFrames = false): Promise<Probed> {
  const args = ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", ...(countFrames ? ["-count_frames"] : []), path];
  return JSON.parse((await run("ffprobe", args)).stdout) as Probed;
}

const lavfi = (args: string[]) => run("ffmpeg", ["-nostdin", "-v", "error", "-y", ...args]);
const stream = (p: Probed, type: string) => p.streams.find((s) => s.codec_type === type);

let works = 0;
async function workDir(): Promise<string> {
  return mkdtemp(join(dir, `work-${works++}-`));
}

/** Converts `name` into a fresh directory; the result, the output path and that directory. */
async function convert(name: string, from: string, to: string, options?: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const work = await workDir();
  const outputPath = join(work, `out.${to}`);
  const result = await engine.convert({ inputPath: input[name] as string, outputPath, inputFormat: from, outputFormat: to, options, ...extra });
  return { result, outputPath, work };
}

/** Live (not zombie) processes whose command line names `text`. */
async function processesNaming(text: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8");
      const status = await readFile(`/proc/${entry}/status`, "utf8");
      if (cmdline.includes(text) && !/^State:\s+Z/m.test(status)) found.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

beforeAll(async () => {
  if (!available) return;
  dir = await mkdtemp(join(tmpdir(), "transmute-media-"));
  engine = createMediaEngine({ timeoutMs: 60_000 });
  const at = (name: string) => (input[name] = join(dir, name));
  const video = ["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=2"];
  const tone = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=2"];
  await Promise.all([
    lavfi([...video, ...tone, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", at("av.mp4")]),
    lavfi(["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=1", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", at("silent.mp4")]),
    lavfi([...tone, "-ac", "2", at("tone.wav")]),
    lavfi([...tone, "-c:a", "libmp3lame", "-b:a", "192k", at("tone.mp3")]),
    // Long and tiny (5 fps): cheap to make, and slow to turn into 1080p60 VP9.
    lavfi(["-f", "lavfi", "-i", "testsrc=size=160x120:rate=5:duration=60", "-c:v", "libx264", "-preset", "ultrafast", at("slow.mp4")]),
  ]);
  await lavfi(["-i", input["av.mp4"] as string, "-c", "copy", at("really-mkv.mp4").replace(/\.mp4$/, ".mkv")]);
  await run("mv", [join(dir, "really-mkv.mkv"), at("really-mkv.mp4")]);
  // Without its moov box (written last) an MP4 cannot be decoded.
  const bytes = await readFile(input["av.mp4"] as string);
  await writeFile(at("truncated.mp4"), bytes.subarray(0, Math.floor(bytes.length / 3)));
  await writeFile(at("empty.mp4"), "");
  await writeFile(at("text.mp4"), "This is a shopping list, not a video.\n".repeat(20));
  // The classic ffmpeg local-file read: an HLS playlist named .avi that points at a local file.
  await writeFile(at("playlist.avi"), "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:10.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n");
}, 60_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("ffmpeg's command line", () => {
  it("locks the input down and names the output muxer", () => {
    const args = convertArgs({ path: "/w/in.mp4", demuxer: "mov", hasVideo: true, hasAudio: true, width: 320, height: 240 }, "/w/s/out.tmp", "mkv", { start: 1, crf: 30 }, { video: "h264", audio: "aac" });
    const input = args.indexOf("-i");
    const before = args.slice(0, input);
    expect(before).toEqual(expect.arrayContaining(["-nostdin", "-progress", "pipe:1", "-nostats"]));
    expect(before.join(" ")).toContain("-protocol_whitelist file -format_whitelist mov,matroska,avi,gif,mp3,wav,ogg,flac,aac -f mov -ss 1");
    expect(args[input + 1]).toBe("file:/w/in.mp4");
    expect(args.slice(-4)).toEqual(["-f", "matroska", "-y", "file:/w/s/out.tmp"]);
    expect(args.join(" ")).toContain("-c:v libx264 -preset veryfast -pix_fmt yuv420p -crf 30");
  });
});

describe.skipIf(!available)("media engine", () => {
  it("probes ffmpeg and reports the media pairs of the conversion table", async () => {
    const probe = await engine.probe();
    expect(probe.available).toBe(true);
    expect(probe.version).toMatch(/^ffmpeg version \S+; ffprobe version \S+/);
    const has = (from: string, to: string, operation?: string) => probe.conversions.some((p) => p.from === from && p.to === to && p.operation === operation);
    for (const [from, to] of [["mp4", "mp3"], ["mp4", "webm"], ["mov", "gif"], ["mkv", "opus"], ["wav", "flac"], ["flac", "m4a"], ["ogg", "aac"]]) expect(has(from as string, to as string), `${from}>${to}`).toBe(true);
    expect(has("mp4", "mp4", "compress")).toBe(true);
    expect(has("mp3", "mp3", "compress")).toBe(true);
    expect(has("gif", "gif", "compress")).toBe(false);
    expect(has("mp3", "mp4")).toBe(false);
    const missing = await createMediaEngine({ ffmpeg: "/nonexistent/ffmpeg" }).probe();
    expect(missing).toMatchObject({ available: false, conversions: [] });
    expect(missing.missing).toContain("Debian package ffmpeg");
  });

  it("mp4 -> mp3 keeps the length, with the audio only", async () => {
    const { result, outputPath } = await convert("av.mp4", "mp4", "mp3");
    const out = await ffprobe(outputPath);
    expect(out.streams.map((s) => s.codec_name)).toEqual(["mp3"]);
    expect(Number(out.format.duration)).toBeCloseTo(2, 0);
    expect(result).toMatchObject({ format: "mp3", size: (await stat(outputPath)).size, ignoredOptions: [] });
    expect(result.details?.duration).toBeCloseTo(2, 0);
    expect(result.width).toBeUndefined();
  });

  it("mp4 -> webm is VP9 with Opus at the input's size", async () => {
    const { result, outputPath } = await convert("av.mp4", "mp4", "webm");
    const out = await ffprobe(outputPath);
    expect(stream(out, "video")).toMatchObject({ codec_name: "vp9", width: 320, height: 240 });
    expect(stream(out, "audio")?.codec_name).toBe("opus");
    expect(result).toMatchObject({ width: 320, height: 240, details: { width: 320, height: 240 } });
  });

  it("mp4 -> gif: 10 frames a second through a palette, and width/fps options", async () => {
    const plain = await convert("av.mp4", "mp4", "gif");
    const out = stream(await ffprobe(plain.outputPath, true), "video");
    expect(out).toMatchObject({ codec_name: "gif", width: 320, height: 240 });
    expect(Number(out?.nb_read_frames)).toBeGreaterThanOrEqual(19);
    expect(Number(out?.nb_read_frames)).toBeLessThanOrEqual(21);
    const small = await convert("av.mp4", "mp4", "gif", { width: 100, fps: 5, audio_bitrate: "96k" });
    const frames = stream(await ffprobe(small.outputPath, true), "video");
    expect(frames).toMatchObject({ width: 100, height: 75 });
    expect(Number(frames?.nb_read_frames)).toBeLessThanOrEqual(11);
    expect(small.result.ignoredOptions).toEqual(["audio_bitrate"]);
  });

  it.each([
    ["flac", "flac"],
    ["ogg", "vorbis"],
    ["opus", "opus"],
    ["m4a", "aac"],
    ["aac", "aac"],
  ])("wav -> %s is %s", async (to, codec) => {
    const { outputPath } = await convert("tone.wav", "wav", to);
    const out = await ffprobe(outputPath);
    expect(out.streams.map((s) => s.codec_name)).toEqual([codec]);
    expect(Number(out.format.duration)).toBeCloseTo(2, 0);
  });

  it("trims start..end and reports progress up to 100 over the trimmed length", async () => {
    const work = await workDir();
    const outputPath = join(work, "cut.mp4");
    const seen: number[] = [];
    const result = await engine.convert(
      { inputPath: input["av.mp4"] as string, outputPath, inputFormat: "mp4", outputFormat: "mp4", options: { start: "0.5", end: "00:00:01.500" } },
      { onProgress: (p) => seen.push(p) },
    );
    expect(Number((await ffprobe(outputPath)).format.duration)).toBeCloseTo(1, 1);
    expect(result.details?.duration).toBeCloseTo(1, 1);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.at(-1)).toBe(100);
    expect(await readdir(work)).toEqual(["cut.mp4"]);
  });

  it("resizes to a resolution, keeps the aspect ratio for one side, and sets the frame rate and audio", async () => {
    const exact = await convert("av.mp4", "mp4", "mkv", { resolution: "160x90", fps: 10, audio_channels: 1, audio_sample_rate: 22050 });
    const probed = await ffprobe(exact.outputPath);
    expect(stream(probed, "video")).toMatchObject({ codec_name: "h264", width: 160, height: 90, r_frame_rate: "10/1" });
    expect(stream(probed, "audio")).toMatchObject({ codec_name: "aac", channels: 1, sample_rate: "22050" });
    const wide = await convert("av.mp4", "mp4", "mov", { height: 120, video_codec: "mpeg4", audio_codec: "mp3", video_bitrate: "300k" });
    expect(stream(await ffprobe(wide.outputPath), "video")).toMatchObject({ codec_name: "mpeg4", width: 160, height: 120 });
    expect(wide.result).toMatchObject({ width: 160, height: 120 });
  });

  it("compresses an mp4 at a high crf and an mp3 at a lower bitrate into smaller files of the same format", async () => {
    const work = await workDir();
    const video = await engine.compress({ inputPath: input["av.mp4"] as string, outputPath: join(work, "c.mp4"), format: "mp4", options: { video_crf: 40, video_max_width: 160, quality: 5 } });
    expect(video.size).toBeLessThan((await stat(input["av.mp4"] as string)).size);
    expect(video.ignoredOptions).toEqual(["quality"]);
    expect(stream(await ffprobe(join(work, "c.mp4")), "video")).toMatchObject({ codec_name: "h264", width: 160, height: 120 });
    const audio = await engine.compress({ inputPath: input["tone.mp3"] as string, outputPath: join(work, "c.mp3"), format: "mp3", options: { audio_bitrate: "64k" } });
    expect(audio.size).toBeLessThan((await stat(input["tone.mp3"] as string)).size * 0.5);
    expect((await ffprobe(join(work, "c.mp3"))).streams[0]?.codec_name).toBe("mp3");
    expect((await readdir(work)).sort()).toEqual(["c.mp3", "c.mp4"]);
  });

  it("parses and refuses options, naming the option and the valid values", async () => {
    expect(parseMediaOptions({ start: "1:02.5", end: 70, video_bitrate: "2.5M", audio_bitrate: 128, crf: "20", foo: 1 }, { outputFormat: "mp4" })).toEqual({
      values: { start: 62.5, end: 70, video_bitrate: 2_500_000, audio_bitrate: 128_000, crf: 20 },
      ignored: ["foo"],
    });
    expect(parseMediaOptions({ video_codec: "h264", fps: 10 }, { outputFormat: "mp3" }).ignored).toEqual(["video_codec", "fps"]);
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ video_codec: "h264" }, "webm", "option video_codec for webm must be one of vp9, vp8; got \"h264\""],
      [{ audio_codec: "pcm" }, "mp4", "option audio_codec for mp4 must be one of aac, mp3; got \"pcm\""],
      [{ start: 5, end: 2 }, "mp3", "option end (2 s) must be after start (5 s)"],
      [{ resolution: "big" }, "mp4", "option resolution must be WxH in pixels"],
      [{ audio_sample_rate: 44100 }, "opus", "option audio_sample_rate for opus audio must be one of 8000, 12000, 16000, 24000, 48000; got 44100"],
      [{ start: "1:75" }, "mp3", "option start must be seconds"],
      [{ audio_bitrate: "loud" }, "mp3", "option audio_bitrate must be a bitrate like \"128k\""],
      [{ video_bitrate: "5k" }, "mp4", "from 16k to 200M; got \"5k\""],
      [{ resolution: "640x360", width: 320 }, "mp4", "options resolution and width disagree"],
      [{ audio_channels: 6 }, "mp3", "option audio_channels for mp3 audio must be 1 or 2; got 6"],
      [{ crf: 60 }, "webm", "option crf must be a whole number from 0 to 51; got 60"],
    ];
    for (const [options, to, message] of cases) {
      const err = await failure(engine.convert({ inputPath: input["av.mp4"] as string, outputPath: join(dir, `never.${to}`), inputFormat: "mp4", outputFormat: to, options }));
      expect(err.code, JSON.stringify(options)).toBe("invalid_option");
      expect(err.message).toContain(message);
    }
  });

  it.each([
    ["truncated.mp4", "mp4", "corrupt_file"],
    ["empty.mp4", "mp4", "corrupt_file"],
    ["text.mp4", "mp4", "corrupt_file"],
    ["playlist.avi", "avi", "corrupt_file"],
    ["really-mkv.mp4", "mp4", "unsupported_format"],
  ])("fails %s with %s and leaves nothing behind", async (name, from, code) => {
    const work = await workDir();
    const err = await failure(engine.convert({ inputPath: input[name] as string, outputPath: join(work, "out.mp3"), inputFormat: from, outputFormat: "mp3" }));
    expect(err.code).toBe(code);
    expect(err.message).not.toContain(dir);
    expect(await readdir(work)).toEqual([]);
  });

  it("says what the bytes are when they disagree with the declared format", async () => {
    const err = await failure(convert("really-mkv.mp4", "mp4", "mp3"));
    expect(err.message).toBe("the file was declared as mp4 but its bytes are a Matroska/WebM file; name it with its real extension");
  });

  it("refuses an input longer than maxMediaSeconds, and video -> audio without an audio track", async () => {
    const long = await failure(convert("av.mp4", "mp4", "mp3", undefined, { limits: { maxMediaSeconds: 1 } }));
    expect(long).toMatchObject({ code: "limit_exceeded", message: "the mp4 file lasts 2 s; the most allowed here is 1 s" });
    const limited = createMediaEngine({ maxMediaSeconds: 1 });
    expect((await failure(limited.compress({ inputPath: input["tone.mp3"] as string, outputPath: join(await workDir(), "c.mp3"), format: "mp3" }))).code).toBe("limit_exceeded");
    const silent = await failure(convert("silent.mp4", "mp4", "mp3"));
    expect(silent).toMatchObject({ code: "unsupported_conversion", message: "the mp4 file has no audio track, so there is nothing to convert to mp3" });
  });

  it("stops ffmpeg on timeout (engine_timeout) and abort (canceled), leaving no process and no file", async () => {
    const work = await workDir();
    const slow = { inputPath: input["slow.mp4"] as string, outputPath: join(work, "out.webm"), inputFormat: "mp4", outputFormat: "webm", options: { resolution: "1920x1080", fps: 60 } };
    // ffmpeg (not ffprobe) names the scratch directory under `work` in its command line.
    const ffmpegStarted = async () => {
      for (let waited = 0; waited < 2500; waited += 50) {
        if ((await processesNaming(work)).length > 0) return true;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return false;
    };
    const t0 = Date.now();
    const call = failure(engine.convert(slow, { timeoutMs: 3000 }));
    expect(await ffmpegStarted()).toBe(true);
    expect(await call).toMatchObject({ code: "engine_timeout" });
    expect(Date.now() - t0).toBeLessThan(6000);
    expect(await processesNaming(work)).toEqual([]);
    expect(await readdir(work)).toEqual([]);

    const controller = new AbortController();
    const canceled = failure(engine.convert(slow, { signal: controller.signal }));
    expect(await ffmpegStarted()).toBe(true);
    controller.abort();
    expect(await canceled).toMatchObject({ code: "canceled" });
    expect(await processesNaming(work)).toEqual([]);
    expect(await readdir(work)).toEqual([]);
  });
});
