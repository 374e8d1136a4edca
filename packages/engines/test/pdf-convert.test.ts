/**
 * The pdf-lib engine's convert: a PDF split by page_ranges (outputs' page counts read back), an
 * image to a one-page PDF of the image's size, encrypted inputs (qpdf), the page limit, and a
 * scratch directory holding only the input after a failure.
 */
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PDFDocument } from "pdf-lib";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPdfEngine, probePdfEngine, runTool, TOOL_PATH, type PdfEngine } from "../dist/index.js";
import { engineAvailable } from "../../../test/support/engine-tools.js";
import { failure } from "./failure.js";

const qpdf = await engineAvailable("qpdf", async () => {
  const run = await runTool("qpdf", ["--version"], { env: { PATH: TOOL_PATH }, timeoutMs: 10_000 }).catch(() => null);
  return { available: run?.code === 0, missing: "qpdf was not found: install the Debian package qpdf" };
});

async function makePdf(count: number): Promise<Buffer> {
  const doc = await PDFDocument.create();
  for (let i = 0; i < count; i++) doc.addPage([200 + i, 300]);
  return Buffer.from(await doc.save());
}

async function pageCount(path: string): Promise<number> {
  return (await PDFDocument.load(await readFile(path))).getPageCount();
}

describe("pdf-lib engine convert", () => {
  let root: string;
  let engine: PdfEngine;
  let n = 0;
  async function work(name: string, bytes: Buffer): Promise<{ dir: string; input: string }> {
    const dir = join(root, `w${n++}`);
    await mkdir(dir);
    const input = join(dir, name);
    await writeFile(input, bytes);
    return { dir, input };
  }

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "transmute-pdfconv-"));
    engine = createPdfEngine({ poolSize: 1, timeoutMs: 30_000 });
  });
  afterAll(async () => {
    await engine?.close();
    await rm(root, { recursive: true, force: true });
  });

  it("probes image and pdf conversions to pdf", async () => {
    const pairs = (await probePdfEngine()).conversions.filter((c) => c.operation === undefined).map((c) => `${c.from}>${c.to}`);
    expect(pairs).toEqual(expect.arrayContaining(["pdf>pdf", "jpg>pdf", "png>pdf", "webp>pdf", "svg>pdf"]));
  });

  it("splits by page_ranges into one PDF per group, named by their pages", async () => {
    const { dir, input } = await work("input.pdf", await makePdf(7));
    const result = await engine.convert({ inputPath: input, outputPath: join(dir, "o.pdf"), inputFormat: "pdf", outputFormat: "pdf", options: { page_ranges: "1-3,4-6,7" }, baseName: "doc" });
    expect(result.files?.map((f) => f.name)).toEqual(["doc-1-3.pdf", "doc-4-6.pdf", "doc-7.pdf"]);
    expect(await Promise.all(result.files!.map((f) => pageCount(f.path)))).toEqual([3, 3, 1]);
    const last = await PDFDocument.load(await readFile(result.files![2]!.path));
    expect(last.getPage(0).getWidth()).toBe(206);
    expect((await readdir(dir)).sort()).toEqual(["doc-1-3.pdf", "doc-4-6.pdf", "doc-7.pdf", "input.pdf"]);
  });

  it("splits every page without page_ranges, and one group goes to outputPath", async () => {
    const { dir, input } = await work("input.pdf", await makePdf(3));
    const each = await engine.convert({ inputPath: input, outputPath: join(dir, "o.pdf"), inputFormat: "pdf", outputFormat: "pdf" });
    expect(each.files?.map((f) => f.name)).toEqual(["output-1.pdf", "output-2.pdf", "output-3.pdf"]);
    const one = await engine.convert({ inputPath: input, outputPath: join(dir, "o.pdf"), inputFormat: "pdf", outputFormat: "pdf", options: { page_ranges: "2-" } });
    expect(one.files).toBeUndefined();
    expect(await pageCount(join(dir, "o.pdf"))).toBe(2);
    expect(await failure(engine.convert({ inputPath: input, outputPath: join(dir, "x.pdf"), inputFormat: "pdf", outputFormat: "pdf", options: { page_ranges: "1,4" } })))
      .toMatchObject({ code: "invalid_option", message: expect.stringContaining("has 3 pages") });
  });

  it("converts an image to one page of its size at 72 dpi", async () => {
    const png = await sharp({ create: { width: 320, height: 200, channels: 3, background: "#3080c0" } }).png().toBuffer();
    const { dir, input } = await work("input.png", png);
    const result = await engine.convert({ inputPath: input, outputPath: join(dir, "o.pdf"), inputFormat: "png", outputFormat: "pdf" });
    const doc = await PDFDocument.load(await readFile(join(dir, "o.pdf")));
    expect(doc.getPageCount()).toBe(1);
    expect(doc.getPage(0).getSize()).toEqual({ width: 320, height: 200 });
    expect(result).toMatchObject({ format: "pdf", details: { pages: 1 }, ignoredOptions: [] });
    await engine.convert({ inputPath: input, outputPath: join(dir, "a4.pdf"), inputFormat: "png", outputFormat: "pdf", options: { pdf_page_size: "A4" } });
    expect((await PDFDocument.load(await readFile(join(dir, "a4.pdf")))).getPage(0).getWidth()).toBeCloseTo(841.89, 1);
  });

  it("refuses too many pages, corrupt and empty files, leaving only the input", async () => {
    const { dir, input } = await work("input.pdf", await makePdf(20));
    const req = { inputPath: input, outputPath: join(dir, "o.pdf"), inputFormat: "pdf", outputFormat: "pdf" };
    expect(await failure(engine.convert({ ...req, limits: { maxPages: 10 } }))).toMatchObject({ code: "limit_exceeded" });
    await writeFile(input, Buffer.from("not a pdf at all"));
    expect(await failure(engine.convert(req))).toMatchObject({ code: "corrupt_file" });
    await writeFile(input, Buffer.alloc(0));
    expect(await failure(engine.convert(req))).toMatchObject({ code: "corrupt_file" });
    expect(await failure(engine.convert({ ...req, inputFormat: "png" }))).toMatchObject({ code: "corrupt_file" });
    expect(await readdir(dir)).toEqual(["input.pdf"]);
  });

  it.skipIf(!qpdf)("needs the password of an encrypted PDF, and splits it with the password", async () => {
    const { dir, input } = await work("input.pdf", await makePdf(2));
    execFileSync("qpdf", ["--encrypt", "user", "owner", "256", "--", input, join(root, "enc.pdf")]);
    await writeFile(input, await readFile(join(root, "enc.pdf")));
    const req = { inputPath: input, outputPath: join(dir, "o.pdf"), inputFormat: "pdf", outputFormat: "pdf" };
    expect(await failure(engine.convert(req))).toMatchObject({ code: "password_protected" });
    expect(await failure(engine.convert({ ...req, options: { password: "nope" } }))).toMatchObject({ code: "password_protected" });
    expect(await readdir(dir)).toEqual(["input.pdf"]);
    const ok = await engine.convert({ ...req, options: { password: "user", page_ranges: "1-2" } });
    expect(ok.files).toBeUndefined();
    expect(await pageCount(join(dir, "o.pdf"))).toBe(2);
  });

  it("stops on a tiny timeout and on abort, leaving only the input", async () => {
    const { dir, input } = await work("input.pdf", await makePdf(3000));
    const req = { inputPath: input, outputPath: join(dir, "o.pdf"), inputFormat: "pdf", outputFormat: "pdf" };
    expect(await failure(engine.convert(req, { timeoutMs: 20 }))).toMatchObject({ code: "engine_timeout" });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    expect(await failure(engine.convert(req, { signal: controller.signal }))).toMatchObject({ code: "canceled" });
    expect(await readdir(dir)).toEqual(["input.pdf"]);
  });
});
