/**
 * `secure` throughput and memory: PDF pages rebuilt per second (pdfinfo, then pdftoppm one page
 * at a time, then the streaming PDF writer, as the worker runs it), 12-megapixel JPEGs rebuilt
 * per second (sharp, in-process), and the peak RSS of a worker process securing a 20-page and a
 * 200-page PDF: each in a child node process of its own, so the figure is that process's own
 * peak (pdftoppm's memory is not in it: it is a process of its own). The peak is /proc's VmHWM:
 * Linux carries ru_maxrss (process.resourceUsage().maxRSS) over from the forking parent across
 * exec, so a child of a 400 MB bench reports at least 400 MB whatever it does itself.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import sharp from "sharp";
import { createSecureEngine } from "../../packages/engines/dist/index.js";
import { makeBenchPdf } from "./pdf.mjs";

const run = promisify(execFile);
const ENGINE_URL = new URL("../../packages/engines/dist/index.js", import.meta.url).href;

/** maxRSS in MB of a fresh node process securing the PDF at `path` at `dpi`. */
async function peakRssOf(path, workDir, dpi, pages) {
  const request = { inputPath: path, format: "pdf", workDir, baseName: `rss${pages}`, options: { max_dpi: dpi, max_pages_per_document: pages } };
  const script = `const { createSecureEngine } = await import(${JSON.stringify(ENGINE_URL)});
const result = await createSecureEngine({ timeoutMs: 1_800_000 }).secure(${JSON.stringify(request)});
const { readFileSync } = await import("node:fs");
const hwm = /VmHWM:\\s+(\\d+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
console.log(JSON.stringify({ pages: result.details.pages, maxRss: hwm === undefined ? process.resourceUsage().maxRSS : Number(hwm) }));`;
  const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], { maxBuffer: 1 << 20 });
  const out = JSON.parse(stdout);
  if (out.pages !== pages) throw new Error(`the child secured ${out.pages} pages of ${pages}`);
  return Math.round(out.maxRss / 1024);
}

/** Secures a `pages`-page PDF and `jpegs` 12-MP JPEGs; pages/s, JPEGs/s and peak worker RSS (MB) at 20 and 200 pages. */
export async function benchSecure({ pages = 20, dpi = 150, jpegs = 5 } = {}) {
  const dir = await mkdtemp(join(tmpdir(), "transmute-bench-secure-"));
  try {
    const engine = createSecureEngine({ timeoutMs: 1_800_000 });
    const pdf = join(dir, "input.pdf");
    await writeFile(pdf, await makeBenchPdf(pages));
    let started = performance.now();
    const rebuilt = await engine.secure({ inputPath: pdf, format: "pdf", workDir: dir, baseName: "bench", options: { max_dpi: dpi } });
    const pdfPagesPerSec = pages / ((performance.now() - started) / 1000);
    if (rebuilt.details?.pages !== pages) throw new Error(`the engine rebuilt ${rebuilt.details?.pages} pages of ${pages}`);

    // A photo-like 12 MP JPEG: noise over a gradient compresses like a camera's output, not like a flat fill.
    const photo = join(dir, "photo.jpg");
    const gradient = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="3000"><defs><linearGradient id="g"><stop offset="0" stop-color="#2a6"/><stop offset="1" stop-color="#c84"/></linearGradient></defs><rect width="4000" height="3000" fill="url(#g)"/></svg>`);
    const noise = await sharp({ create: { width: 4000, height: 3000, channels: 3, noise: { type: "gaussian", mean: 128, sigma: 20 } } }).png().toBuffer();
    await sharp(gradient).composite([{ input: noise, blend: "overlay" }]).jpeg({ quality: 92 }).withMetadata({ exif: { IFD0: { Artist: "bench" } } }).toFile(photo);
    started = performance.now();
    for (let i = 0; i < jpegs; i++) {
      const workDir = join(dir, `jpeg${i}`);
      await mkdir(workDir);
      await engine.secure({ inputPath: photo, format: "jpg", workDir, baseName: "photo" });
    }
    const jpegPerSec = jpegs / ((performance.now() - started) / 1000);

    const big = join(dir, "big.pdf");
    await writeFile(big, await makeBenchPdf(200));
    const rssDir = join(dir, "rss");
    await mkdir(rssDir);
    const peakRss20 = await peakRssOf(big, rssDir, dpi, 20);
    const peakRss200 = await peakRssOf(big, rssDir, dpi, 200);
    return { pdfPagesPerSec, jpegPerSec, peakRss20, peakRss200 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
