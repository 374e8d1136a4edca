/**
 * The poppler engine against the real pdftoppm, pdftotext and pdfinfo: page images decoded and
 * measured, text read back, encrypted, oversized, corrupt and empty inputs, timeouts and aborts,
 * and nothing left in the scratch directory after a failure.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PDFDocument, StandardFonts, rgb } from "pdf-lib";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPopplerEngine, probePoppler, type Engine } from "../dist/index.js";
import { engineAvailable } from "../../../test/support/engine-tools.js";
import { failure } from "./failure.js";

const available = await engineAvailable("poppler", () => probePoppler());
const COLORS = [rgb(1, 0, 0), rgb(0, 1, 0), rgb(0, 0, 1)];
const SIZES = [[200, 300], [240, 160], [300, 300]] as const;

/** A PDF of `count` pages; the first three red, green, blue with sizes SIZES, each with "Page N". */
async function makePdf(count: number): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  for (let i = 0; i < count; i++) {
    const [width, height] = SIZES[i % 3]!;
    const page = doc.addPage([width, height]);
    page.drawRectangle({ x: 0, y: 0, width, height, color: COLORS[i % 3]! });
    page.drawText(`Page ${i + 1} text`, { x: 10, y: 10, size: 12, font, color: rgb(1, 1, 1) });
  }
  return Buffer.from(await doc.save());
}

async function centre(path: string): Promise<number[]> {
  const { data, info } = await sharp(path).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const i = (Math.floor(info.height / 2) * info.width + Math.floor(info.width / 2)) * info.channels;
  return [data[i]!, data[i + 1]!, data[i + 2]!];
}

describe.skipIf(!available)("poppler engine", () => {
  let root: string;
  let pdf3: Buffer;
  let engine: Engine;
  let n = 0;
  /** A fresh work directory holding the input as input.pdf. */
  async function work(bytes: Buffer): Promise<{ dir: string; input: string }> {
    const dir = join(root, `w${n++}`);
    await rm(dir, { recursive: true, force: true });
    await import("node:fs/promises").then((fs) => fs.mkdir(dir));
    const input = join(dir, "input.pdf");
    await writeFile(input, bytes);
    return { dir, input };
  }
  async function onlyInput(dir: string): Promise<void> {
    expect(await readdir(dir)).toEqual(["input.pdf"]);
  }

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "transmute-poppler-"));
    pdf3 = await makePdf(3);
    engine = createPopplerEngine({ timeoutMs: 30_000 });
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("probes pdf to png, jpg, webp and txt", async () => {
    const probe = await probePoppler();
    expect(probe.version).toMatch(/pdftoppm \d+\.\d+/);
    expect(probe.conversions.map((c) => c.to).sort()).toEqual(["jpg", "png", "txt", "webp"]);
    expect((await probePoppler({ binDir: "/nonexistent" })).available).toBe(false);
  });

  for (const dpi of [72, 150]) {
    it(`renders each page to png at ${dpi} dpi, sized page * dpi / 72, in its colour`, async () => {
      const { dir, input } = await work(pdf3);
      const progress: number[] = [];
      const result = await engine.convert(
        { inputPath: input, outputPath: join(dir, "out.png"), inputFormat: "pdf", outputFormat: "png", options: { dpi }, baseName: "doc" },
        { onProgress: (p) => progress.push(p) },
      );
      expect(result.details).toEqual({ pages: 3 });
      expect(result.files?.map((f) => f.name)).toEqual(["doc-1.png", "doc-2.png", "doc-3.png"]);
      for (const [i, file] of result.files!.entries()) {
        const meta = await sharp(file.path).metadata();
        expect(meta.format).toBe("png");
        expect([meta.width, meta.height]).toEqual(SIZES[i]!.map((s) => Math.ceil((s * dpi) / 72)));
        const expected = [[255, 0, 0], [0, 255, 0], [0, 0, 255]][i]!;
        (await centre(file.path)).forEach((c, k) => expect(Math.abs(c - expected[k]!)).toBeLessThan(8));
      }
      expect(progress.at(-1)).toBe(100);
      expect((await readdir(dir)).sort()).toEqual(["doc-1.png", "doc-2.png", "doc-3.png", "input.pdf"]);
    });
  }

  it("renders one page of page_range to outputPath, and jpg and webp decode", async () => {
    const { dir, input } = await work(pdf3);
    const one = await engine.convert({ inputPath: input, outputPath: join(dir, "p2.png"), inputFormat: "pdf", outputFormat: "png", options: { page_range: "2" } });
    expect(one.files).toBeUndefined();
    expect([one.width, one.height]).toEqual([500, 334]);
    expect((await centre(join(dir, "p2.png")))[1]).toBeGreaterThan(240);
    for (const to of ["jpg", "webp"]) {
      const r = await engine.convert({ inputPath: input, outputPath: join(dir, `x.${to}`), inputFormat: "pdf", outputFormat: to, options: { page_range: "2-", dpi: 72 }, baseName: to });
      expect(r.files?.map((f) => f.name)).toEqual([`${to}-2.${to}`, `${to}-3.${to}`]);
      const meta = await sharp(r.files![1]!.path).metadata();
      expect([meta.format === "jpeg" ? "jpg" : meta.format, meta.width, meta.height]).toEqual([to, 300, 300]);
      expect((await centre(r.files![1]!.path))[2]).toBeGreaterThan(230);
    }
  });

  it("extracts the text of the pages asked for", async () => {
    const { dir, input } = await work(pdf3);
    const all = await engine.convert({ inputPath: input, outputPath: join(dir, "all.txt"), inputFormat: "pdf", outputFormat: "txt" });
    const text = await readFile(join(dir, "all.txt"), "utf8");
    for (const i of [1, 2, 3]) expect(text).toContain(`Page ${i} text`);
    expect(all.details).toEqual({ pages: 3 });
    await engine.convert({ inputPath: input, outputPath: join(dir, "some.txt"), inputFormat: "pdf", outputFormat: "txt", options: { page_range: "1,3" } });
    const some = await readFile(join(dir, "some.txt"), "utf8");
    expect(some).toContain("Page 3 text");
    expect(some).not.toContain("Page 2 text");
  });

  it("refuses bad page ranges and pages past the end naming the page count", async () => {
    const { dir, input } = await work(pdf3);
    const req = (page_range: string) => ({ inputPath: input, outputPath: join(dir, "o.png"), inputFormat: "pdf", outputFormat: "png", options: { page_range } });
    expect(await failure(engine.convert(req("3-1")))).toMatchObject({ code: "invalid_option" });
    expect(await failure(engine.convert(req("a")))).toMatchObject({ code: "invalid_option" });
    expect(await failure(engine.convert(req("2,5")))).toMatchObject({ code: "invalid_option", message: expect.stringContaining("has 3 pages") });
    expect(await failure(engine.convert({ ...req("1"), options: { dpi: 5 } }))).toMatchObject({ code: "invalid_option" });
    await onlyInput(dir);
  });

  it("needs the password of an encrypted PDF", async () => {
    const { dir, input } = await work(pdf3);
    const enc = join(root, "enc.pdf");
    execFileSync("qpdf", ["--encrypt", "user", "owner", "256", "--", input, enc]);
    await writeFile(input, await readFile(enc));
    const req = { inputPath: input, outputPath: join(dir, "o.png"), inputFormat: "pdf", outputFormat: "png", options: { page_range: "1" } as Record<string, unknown> };
    expect(await failure(engine.convert(req))).toMatchObject({ code: "password_protected" });
    expect(await failure(engine.convert({ ...req, options: { page_range: "1", password: "wrong" } }))).toMatchObject({ code: "password_protected" });
    await onlyInput(dir);
    const ok = await engine.convert({ ...req, options: { page_range: "1", password: "user" } });
    expect(ok.width).toBe(417);
  });

  it("refuses too many pages, too many pixels, corrupt and empty files, leaving only the input", async () => {
    const { dir, input } = await work(await makePdf(20));
    const req = { inputPath: input, outputPath: join(dir, "o.png"), inputFormat: "pdf", outputFormat: "png" };
    expect(await failure(engine.convert({ ...req, limits: { maxPages: 10 } }))).toMatchObject({ code: "limit_exceeded", message: expect.stringContaining("20 pages") });
    expect(await failure(engine.convert({ ...req, options: { dpi: 1200 }, limits: { maxPixels: 1_000_000 } }))).toMatchObject({ code: "image_too_large" });
    await onlyInput(dir);
    await writeFile(input, Buffer.from("%PDF-1.7\nthis is not really a pdf\n"));
    expect(await failure(engine.convert(req))).toMatchObject({ code: "corrupt_file" });
    await writeFile(input, pdf3.subarray(0, 400));
    expect(await failure(engine.convert(req))).toMatchObject({ code: "corrupt_file" });
    await writeFile(input, Buffer.alloc(0));
    expect(await failure(engine.convert(req))).toMatchObject({ code: "corrupt_file" });
    await onlyInput(dir);
  });

  it("stops on a tiny timeout and on abort, leaving only the input", async () => {
    const { dir, input } = await work(await makePdf(20));
    const req = { inputPath: input, outputPath: join(dir, "o.png"), inputFormat: "pdf", outputFormat: "png", options: { dpi: 600 } };
    expect(await failure(engine.convert(req, { timeoutMs: 30 }))).toMatchObject({ code: "engine_timeout" });
    await onlyInput(dir);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    expect(await failure(engine.convert(req, { signal: controller.signal }))).toMatchObject({ code: "canceled" });
    await onlyInput(dir);
  });
});
