/**
 * Media bench: what the engine's locked-down ffmpeg run costs over the same ffmpeg from a shell.
 * One mp4 (640x360 testsrc at 25 fps with a sine tone) is made with lavfi, then turned into mp3
 * through the engine (ffprobe before and after, scratch directory, progress parsing, unshare -n)
 * and by `ffmpeg -i in.mp4 -vn -c:a libmp3lame -b:a 128k out.mp3` alone. Speeds are realtime
 * factors: media seconds per wall second. Run alone: `node bench/lib/media.mjs [seconds] [runs]`.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { createMediaEngine } from "../../packages/engines/dist/index.js";

const run = promisify(execFile);

/** The median of a list of numbers. */
function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/**
 * Makes a `seconds`-long mp4 once, then times mp4 -> mp3 `runs` times each way (median wall
 * time). Returns the realtime factors of both, their ratio (engine / shell; 1 = no overhead) and
 * the wall time of one ffprobe of the input.
 */
export async function benchMedia({ seconds = 60, runs = 3 } = {}) {
  const dir = await mkdtemp(join(tmpdir(), "transmute-bench-media-"));
  try {
    const input = join(dir, "in.mp4");
    await run("ffmpeg", [
      "-nostdin", "-v", "error", "-y",
      "-f", "lavfi", "-i", `testsrc=size=640x360:rate=25:duration=${seconds}`,
      "-f", "lavfi", "-i", `sine=frequency=440:sample_rate=44100:duration=${seconds}`,
      "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", input,
    ]);
    const engine = createMediaEngine();
    const engineMs = [];
    const shellMs = [];
    const probeMs = [];
    for (let i = 0; i < runs; i++) {
      let t0 = performance.now();
      const result = await engine.convert({ inputPath: input, outputPath: join(dir, `engine-${i}.mp3`), inputFormat: "mp4", outputFormat: "mp3" });
      engineMs.push(performance.now() - t0);
      if (Math.abs(result.details.duration - seconds) > 0.5) throw new Error(`engine output lasts ${result.details.duration} s, not ${seconds}`);
      t0 = performance.now();
      await run("ffmpeg", ["-nostdin", "-v", "error", "-y", "-i", input, "-vn", "-c:a", "libmp3lame", "-b:a", "128k", join(dir, `shell-${i}.mp3`)]);
      shellMs.push(performance.now() - t0);
      // The engine runs ffprobe twice (input, output): most of its fixed cost.
      t0 = performance.now();
      await run("ffprobe", ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", input]);
      probeMs.push(performance.now() - t0);
    }
    await engine.close();
    const engineWall = median(engineMs);
    const shellWall = median(shellMs);
    const engineRealtime = seconds / (engineWall / 1000);
    const shellRealtime = seconds / (shellWall / 1000);
    return {
      seconds,
      runs,
      engine: { wallMs: Math.round(engineWall), realtime: Math.round(engineRealtime * 10) / 10 },
      shell: { wallMs: Math.round(shellWall), realtime: Math.round(shellRealtime * 10) / 10 },
      ratio: Math.round((engineRealtime / shellRealtime) * 1000) / 1000,
      ffprobeMs: Math.round(median(probeMs)),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const seconds = Number(process.argv[2] ?? 60);
  const runs = Number(process.argv[3] ?? 3);
  console.log(JSON.stringify(await benchMedia({ seconds, runs }), null, 2));
}
