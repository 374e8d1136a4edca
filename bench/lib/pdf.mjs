/**
 * PDF page rendering throughput: the poppler engine (pdfinfo + pdftoppm + sharp PNG encoding,
 * as the worker runs it) against `pdftoppm -r <dpi> -png` run directly, and pdf.js (pdfjs-dist
 * legacy + @napi-rs/canvas) in-process when it loads. The input is made fresh each run and the
 * same every run: A4 pages alternating 60 lines of text and 200 translucent vector shapes.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { PDFDocument, StandardFonts, rgb } from "pdf-lib";
import { createPopplerEngine } from "../../packages/engines/dist/index.js";

const run = promisify(execFile);

/** A `pages`-page A4 PDF, text pages and vector pages alternating. */
export async function makeBenchPdf(pages) {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.TimesRoman);
  for (let p = 0; p < pages; p++) {
    const page = doc.addPage([595.28, 841.89]);
    if (p % 2 === 0) {
      for (let l = 0; l < 60; l++) page.drawText(`Page ${p + 1} line ${l + 1}: The quick brown fox jumps over the lazy dog 0123456789.`, { x: 40, y: 800 - l * 12.5, size: 10, font });
      continue;
    }
    for (let i = 0; i < 200; i++) {
      page.drawCircle({ x: 60 + (i % 20) * 25, y: 80 + Math.floor(i / 20) * 70, size: 10 + (i % 7), borderColor: rgb((i % 3) / 2, (i % 5) / 4, (i % 7) / 6), borderWidth: 1.5, color: rgb((i % 5) / 4, 0.5, (i % 3) / 2), opacity: 0.6 });
      page.drawSvgPath(`M 0 0 L ${20 + (i % 9) * 4} ${i % 13} Q 30 40 60 ${i % 17} Z`, { x: 30 + (i % 20) * 26, y: 820 - Math.floor(i / 20) * 70, borderColor: rgb(0, 0, 0), borderWidth: 0.5 });
    }
  }
  return Buffer.from(await doc.save());
}

/** pdf.js pages/s rendering every page to PNG, or undefined when pdfjs-dist or @napi-rs/canvas is missing. */
async function benchPdfjs(path, dpi) {
  let pdfjs;
  try {
    pdfjs = await import("pdfjs-dist/legacy/build/pdf.mjs");
  } catch {
    return undefined;
  }
  const require = createRequire(import.meta.url);
  const started = performance.now();
  const doc = await pdfjs.getDocument({
    data: new Uint8Array(await readFile(path)),
    standardFontDataUrl: require.resolve("pdfjs-dist/package.json").replace("package.json", "standard_fonts/"),
    isEvalSupported: false,
  }).promise;
  for (let i = 1; i <= doc.numPages; i++) {
    const page = await doc.getPage(i);
    const viewport = page.getViewport({ scale: dpi / 72 });
    // pdf.js's own factory: a canvas from another @napi-rs/canvas instance fails its Path2D checks.
    const { canvas, context } = doc.canvasFactory.create(Math.ceil(viewport.width), Math.ceil(viewport.height));
    context.fillStyle = "#fff";
    context.fillRect(0, 0, canvas.width, canvas.height);
    await page.render({ canvasContext: context, canvas, viewport }).promise;
    await canvas.encode("png");
    page.cleanup();
  }
  const pages = doc.numPages;
  await doc.destroy();
  return pages / ((performance.now() - started) / 1000);
}

/** Renders a `pages`-page PDF to PNG at `dpi` three ways; pages per second of each, and engine / shell. */
export async function benchPdfPages({ pages = 20, dpi = 150 } = {}) {
  const dir = await mkdtemp(join(tmpdir(), "transmute-bench-pdf-"));
  try {
    const input = join(dir, "input.pdf");
    await writeFile(input, await makeBenchPdf(pages));
    const engine = createPopplerEngine({ timeoutMs: 600_000 });
    let started = performance.now();
    const result = await engine.convert({ inputPath: input, outputPath: join(dir, "engine.png"), inputFormat: "pdf", outputFormat: "png", options: { dpi }, workDir: dir, baseName: "engine" });
    const enginePagesPerSec = pages / ((performance.now() - started) / 1000);
    if ((result.files?.length ?? 1) !== pages) throw new Error(`the engine wrote ${result.files?.length} pages of ${pages}`);
    started = performance.now();
    await run("pdftoppm", ["-r", String(dpi), "-png", input, join(dir, "shell")]);
    const shellPagesPerSec = pages / ((performance.now() - started) / 1000);
    const pdfjsPagesPerSec = await benchPdfjs(input, dpi);
    return {
      enginePagesPerSec, shellPagesPerSec, ratio: enginePagesPerSec / shellPagesPerSec,
      ...(pdfjsPagesPerSec === undefined ? {} : { pdfjsPagesPerSec }),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
