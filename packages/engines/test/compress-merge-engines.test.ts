/**
 * The engines behind compress and merge, without the server: pdf-lib's merge (one copy of shared
 * resources, encrypted and broken inputs, EXIF orientation), Ghostscript (its flags, a missing
 * gs, timeouts and aborts that kill it), sharp's compression and GIF merge, and the dispatcher.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PDFDocument, PDFName, PDFRawStream } from "pdf-lib";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engineAvailable } from "../../../test/support/engine-tools.js";
import {
  createGhostscriptEngine, createImageEngine, createPdfEngine, ghostscriptArgs, loadEngineRegistry, probeGhostscript, probePdfEngine,
  type EngineRegistry,
} from "../dist/index.js";
import { failure } from "./failure.js";

let dir: string;
let registry: EngineRegistry;
let jpg: string;
let photoPdf: string;
const gsAvailable = await engineAvailable("Ghostscript", () => probeGhostscript());

/** A noisy (so not trivially compressible) JPEG. */
async function noisyJpeg(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: "#000", noise: { type: "gaussian", mean: 128, sigma: 40 } } }).blur(1.2).jpeg({ quality: 92 }).toBuffer();
}

/** Counts the image XObjects stored in a PDF, however many pages use them. */
async function imageObjects(path: string): Promise<number> {
  const doc = await PDFDocument.load(await readFile(path));
  return doc.context.enumerateIndirectObjects().filter(([, obj]) => obj instanceof PDFRawStream && obj.dict.get(PDFName.of("Subtype")) === PDFName.of("Image")).length;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "transmute-cm-engine-"));
  jpg = join(dir, "photo.jpg");
  await writeFile(jpg, await noisyJpeg(1200, 900));
  // Two pages that share one image: a merge must keep one copy of it.
  const doc = await PDFDocument.create();
  const image = await doc.embedJpg(await readFile(jpg));
  for (let i = 0; i < 2; i++) doc.addPage([595.28, 841.89]).drawImage(image, { x: 20, y: 200, width: 555, height: 416 });
  photoPdf = join(dir, "shared.pdf");
  await writeFile(photoPdf, await doc.save());
  registry = await loadEngineRegistry([
    createImageEngine({ poolSize: 1, timeoutMs: 30_000 }),
    createPdfEngine({ poolSize: 1, timeoutMs: 30_000, maxPixels: 5_000_000 }),
    createGhostscriptEngine({ timeoutMs: 30_000 }),
  ]);
});

afterAll(async () => {
  await registry?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("pdf-lib engine", () => {
  it("probes merges into pdf from pdf and every image format sharp reads", async () => {
    const probe = await probePdfEngine();
    expect(probe).toMatchObject({ available: true, version: expect.stringMatching(/^pdf-lib \d+\.\d+\.\d+$/) });
    const from = probe.conversions.map((c) => `${c.operation}:${c.from}>${c.to}`);
    expect(from).toEqual(expect.arrayContaining(["merge:pdf>pdf", "merge:jpg>pdf", "merge:png>pdf", "merge:webp>pdf", "merge:svg>pdf"]));
  });

  it("copies a PDF's pages with their shared resources once", async () => {
    const out = join(dir, "twice.pdf");
    const result = await registry.merge({ inputs: [{ path: photoPdf, format: "pdf", name: "a.pdf" }, { path: photoPdf, format: "pdf", name: "b.pdf" }], outputPath: out, outputFormat: "pdf" });
    expect(result).toMatchObject({ format: "pdf", pages: 4, ignoredOptions: [] });
    // One image per source document (pdf-lib copies per call), not one per page.
    expect(await imageObjects(out)).toBe(2);
    expect(result.size).toBe((await stat(out)).size);
  });

  it("turns an EXIF-rotated JPEG upright", async () => {
    const rotated = join(dir, "rotated.jpg");
    await sharp(await noisyJpeg(300, 100)).withMetadata({ orientation: 6 }).toFile(rotated);
    const out = join(dir, "rotated.pdf");
    await registry.merge({ inputs: [{ path: rotated, format: "jpg", name: "r.jpg" }, { path: jpg, format: "jpg", name: "p.jpg" }], outputPath: out, outputFormat: "pdf" });
    const pages = (await PDFDocument.load(await readFile(out))).getPages().map((p) => p.getSize());
    expect(pages[0]).toEqual({ width: 100, height: 300 });
    expect(pages[1]).toEqual({ width: 1200, height: 900 });
  });

  it.each([
    ["an encrypted PDF", "unsupported_format", "encrypted"],
    ["a broken PDF", "corrupt_file", "damaged"],
  ])("fails %s clearly", async (what, code, word) => {
    const bad = join(dir, `${code}.pdf`);
    if (code === "unsupported_format") {
      // A minimal PDF whose trailer names an /Encrypt dictionary is enough for pdf-lib to refuse it.
      const doc = await PDFDocument.load(await readFile(photoPdf));
      const text = Buffer.from(await doc.save({ useObjectStreams: false })).toString("latin1");
      expect(text).toContain("trailer\n<<");
      await writeFile(bad, text.replace("trailer\n<<", "trailer\n<<\n/Encrypt << /Filter /Standard /V 1 /R 2 /O (x) /U (x) /P -4 >>"), "latin1");
    } else {
      await writeFile(bad, "%PDF-1.7\nthis is not really a pdf");
    }
    const err = await failure(registry.merge({ inputs: [{ path: jpg, format: "jpg", name: "p.jpg" }, { path: bad, format: "pdf", name: "bad.pdf" }], outputPath: join(dir, "x.pdf"), outputFormat: "pdf" }));
    expect(err.code, what).toBe(code);
    expect(err.message).toContain(word);
    expect(err.message).toContain('input 2 ("bad.pdf")');
  });

  it("checks each image against the pixel limit before decoding it", async () => {
    const big = join(dir, "big.png");
    await sharp({ create: { width: 3000, height: 2000, channels: 3, background: "#fff" } }).png().toFile(big);
    const err = await failure(registry.merge({ inputs: [{ path: jpg, format: "jpg", name: "p.jpg" }, { path: big, format: "png", name: "big.png" }], outputPath: join(dir, "y.pdf"), outputFormat: "pdf" }));
    expect(err.code).toBe("image_too_large");
  });
});

describe.skipIf(!gsAvailable)("Ghostscript engine", () => {
  it("always runs gs with -dSAFER, the level's resolution and gray conversion when asked", () => {
    const args = ghostscriptArgs("/s/in.pdf", "/s/out.pdf", { pdf_compression_level: "strong", pdf_convert_to_gray: true });
    expect(args[0]).toBe("-dSAFER");
    expect(args).toEqual(expect.arrayContaining(["-sDEVICE=pdfwrite", "-dPDFSETTINGS=/screen", "-dColorImageResolution=72", "-sColorConversionStrategy=Gray", "-sOutputFile=/s/out.pdf"]));
    expect(args.slice(-2)).toEqual(["-f", "/s/in.pdf"]);
    expect(ghostscriptArgs("i", "o", {})).toContain("-dPDFSETTINGS=/ebook");
    expect(ghostscriptArgs("i", "o", {})).not.toContain("-sColorConversionStrategy=Gray");
  });

  it("compresses a PDF of a photo and reports what it ignored", async () => {
    const out = join(dir, "small.pdf");
    const result = await registry.compress({ inputPath: photoPdf, outputPath: out, format: "pdf", options: { pdf_compression_level: "strong", quality: 5 } });
    expect(result).toMatchObject({ format: "pdf", ignoredOptions: ["quality"] });
    expect(result.size).toBeLessThan((await stat(photoPdf)).size / 3);
    expect((await PDFDocument.load(await readFile(out))).getPageCount()).toBe(2);
  });

  it("fails a file that is not a PDF with corrupt_file", async () => {
    const bad = join(dir, "bad.pdf");
    await writeFile(bad, "%PDF-1.4\nnothing here at all\n");
    const err = await failure(registry.compress({ inputPath: bad, outputPath: join(dir, "bad-out.pdf"), format: "pdf" }));
    expect(err.code).toBe("corrupt_file");
  });

  it("kills gs on timeout and on abort", async () => {
    const engine = createGhostscriptEngine();
    const timedOut = await failure(engine.compress({ inputPath: photoPdf, outputPath: join(dir, "t.pdf"), format: "pdf" }, { timeoutMs: 1 }));
    expect(timedOut.code).toBe("engine_timeout");
    const controller = new AbortController();
    const run = engine.compress({ inputPath: photoPdf, outputPath: join(dir, "a.pdf"), format: "pdf", options: { pdf_convert_to_gray: true } }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    expect((await failure(run)).code).toBe("canceled");
  });
});

describe("a missing Ghostscript", () => {
  it("is reported with what to install, and offers nothing", async () => {
    const probe = await probeGhostscript({ command: "/nonexistent/bin/gs" });
    expect(probe).toMatchObject({ available: false, conversions: [] });
    expect(probe.missing).toContain("install the Debian package ghostscript");
    const without = await loadEngineRegistry([createGhostscriptEngine({ command: "/nonexistent/bin/gs" })]);
    const err = await failure(without.compress({ inputPath: photoPdf, outputPath: join(dir, "n.pdf"), format: "pdf" }));
    expect(err.code).toBe("unsupported_conversion");
  });
});

describe("sharp: compress and merge into gif", () => {
  it("keeps every frame of an animated gif", async () => {
    const frames = await Promise.all([0, 1, 2].map((i) => sharp({ create: { width: 40, height: 30, channels: 3, background: { r: i * 100, g: 50, b: 200 - i * 60 } } }).raw().toBuffer()));
    const gif = join(dir, "anim.gif");
    await sharp(Buffer.concat(frames), { raw: { width: 40, height: 90, channels: 3, pageHeight: 30 } }).gif({ delay: [100, 100, 100] }).toFile(gif);
    const out = join(dir, "anim-small.gif");
    const result = await registry.compress({ inputPath: gif, outputPath: out, format: "gif", options: { colors: 8 } });
    expect(result).toMatchObject({ format: "gif", ignoredOptions: [] });
    expect(await sharp(out, { animated: true }).metadata()).toMatchObject({ pages: 3, width: 40, pageHeight: 30 });
  });

  it("dispatches merges by output: gif to sharp, a pdf input into gif nowhere", async () => {
    const out = join(dir, "merged.gif");
    const result = await registry.merge({ inputs: [{ path: jpg, format: "jpg", name: "a" }, { path: jpg, format: "jpg", name: "b" }], outputPath: out, outputFormat: "gif", options: { gif_loop: 3 } });
    expect(result).toMatchObject({ format: "gif", pages: 2, width: 1200, height: 900 });
    expect(await sharp(out, { animated: true }).metadata()).toMatchObject({ pages: 2, loop: 3, delay: [500, 500] });
    const err = await failure(registry.merge({ inputs: [{ path: jpg, format: "jpg", name: "a" }, { path: photoPdf, format: "pdf", name: "b" }], outputPath: out, outputFormat: "gif" }));
    expect(err).toMatchObject({ code: "unsupported_conversion", message: "no engine here merges pdf into gif" });
  });

  it("fails an image compress of a format it does not take", async () => {
    const err = await failure(registry.compress({ inputPath: jpg, outputPath: join(dir, "x.svg"), format: "svg" }));
    expect(err.code).toBe("unsupported_conversion");
  });
});
