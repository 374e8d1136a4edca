/**
 * The baseline: the same conversions done by sharp directly in this process, the way a pool
 * child does them (packages/engines/src/convert-image.ts and image-child.ts): one libvips
 * thread per conversion, a small cache, the header read first, then decode -> encode -> file,
 * with the server's default encoder settings (WebP quality 80, PNG compression level 6).
 * As many conversions in flight as the server's pool has children (one per core by default).
 */
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { runPool } from "./stats.mjs";

let configured = false;
function configure() {
  if (configured) return;
  configured = true;
  // What image-child.ts sets in each pool child.
  sharp.concurrency(1);
  sharp.cache({ memory: 32, files: 0, items: 16 });
}

function encode(image, to) {
  switch (to) {
    case "webp":
      return image.webp({ quality: 80 });
    case "png":
      return image.png({ compressionLevel: 6 });
    case "jpg":
      return image.flatten({ background: { r: 255, g: 255, b: 255 } }).jpeg({ quality: 80, mozjpeg: true });
    default:
      throw new Error(`baseline: no encoder for ${to}`);
  }
}

/** One conversion file -> file, as convertImage does it for a still image without options. */
export async function convertDirect(inputPath, outputPath, to) {
  const base = { limitInputPixels: 2048 * 1048576 / 16, failOn: "error", autoOrient: true, animated: false };
  const meta = await sharp(inputPath, { ...base, limitInputPixels: false }).metadata();
  if (!meta.width || !meta.height) throw new Error("baseline: no dimensions");
  const info = await encode(sharp(inputPath, base), to).toFile(outputPath);
  if (!(info.size > 0)) throw new Error("baseline: empty output");
  return info;
}

/**
 * Converts `input` to `to` `n` times with `concurrency` in flight, files in `dir`.
 * Returns wall time, per-conversion times and this process's CPU seconds over the run.
 */
export async function runBaseline({ input, to, n, concurrency, dir }) {
  configure();
  const inputPath = join(dir, `baseline-input-${input.name}`);
  await writeFile(inputPath, input.bytes);
  // Warm up: load the codecs once, outside the measurement.
  await convertDirect(inputPath, join(dir, `baseline-warm.${to}`), to);
  const cpu0 = process.cpuUsage();
  const { results, wallMs } = await runPool(n, concurrency, async (i) => {
    const out = join(dir, `baseline-${i}.${to}`);
    const t0 = performance.now();
    await convertDirect(inputPath, out, to);
    const ms = performance.now() - t0;
    await rm(out, { force: true });
    return ms;
  });
  const cpu = process.cpuUsage(cpu0);
  return { wallMs, times: results, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}
