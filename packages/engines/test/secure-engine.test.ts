/**
 * The secure engine against real sharp, poppler and LibreOffice: a PDF loaded with every active
 * feature comes back with none of them in its object graph, looking the same; images lose their
 * metadata and appended data; bad inputs fail and leave nothing behind; memory does not grow
 * with the page count.
 */
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PDFArray, PDFDict, PDFDocument, PDFName, PDFRawStream, PDFStream, PDFString, StandardFonts, rgb, type PDFObject } from "pdf-lib";
import archiver from "archiver";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOfficeEngine, createSecureEngine, probeOffice, probeSecure, type SecureRequest } from "../dist/index.js";
import { engineAvailable } from "../../../test/support/engine-tools.js";
import { failure } from "./failure.js";

const available = await engineAvailable("secure (poppler)", async () => {
  const probe = await probeSecure();
  return probe.conversions.some((p) => p.from === "pdf") ? probe : { available: false, missing: probe.missing };
});
const officeAvailable = available && (await engineAvailable("office", () => probeOffice()));
const ACTIVE = ["JavaScript", "JS", "OpenAction", "Launch", "EmbeddedFile", "EmbeddedFiles", "AA", "URI", "AcroForm", "Annots"];

/** A PDF of `count` pages, each a coloured band and big text. */
async function makePdf(count: number, size: [number, number] = [300, 400]): Promise<PDFDocument> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  for (let i = 0; i < count; i++) {
    const page = doc.addPage(size);
    page.drawRectangle({ x: 0, y: 0, width: size[0], height: size[1] / 2, color: rgb(0.9, 0.2, 0.1) });
    page.drawText(`Page ${i + 1}`, { x: 20, y: size[1] - 80, size: 36, font });
  }
  return doc;
}

/** A 2-page PDF with JavaScript, a Launch action, an attachment, a URI link and a form. */
async function makeHostilePdf(): Promise<Buffer> {
  const doc = await makePdf(2);
  const ctx = doc.context;
  doc.catalog.set(PDFName.of("OpenAction"), ctx.obj({ Type: "Action", S: "JavaScript", JS: PDFString.of("app.alert('x')") }));
  const page = doc.getPage(0);
  page.node.set(PDFName.of("AA"), ctx.obj({ O: { Type: "Action", S: "Launch", F: PDFString.of("calc.exe") } }));
  await doc.attach(Buffer.from("MZ evil"), "evil.exe", { mimeType: "application/octet-stream" });
  const link = ctx.register(ctx.obj({ Type: "Annot", Subtype: "Link", Rect: [0, 0, 100, 100], A: { S: "URI", URI: PDFString.of("http://example.invalid/") } }));
  page.node.set(PDFName.of("Annots"), ctx.obj([link]));
  doc.getForm().createTextField("name").addToPage(doc.getPage(1), { x: 20, y: 20, width: 100, height: 20 });
  return Buffer.from(await doc.save());
}

/** A zip of `files`, made by archiver. */
async function zipBytes(files: Array<[string, Buffer]>): Promise<Buffer> {
  const archive = archiver("zip");
  const chunks: Buffer[] = [];
  archive.on("data", (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise<void>((resolve, reject) => archive.on("end", () => resolve()).on("error", reject));
  for (const [name, data] of files) archive.append(data, { name });
  await archive.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Every name in the document's object graph: dict keys and name values, streams' dicts included. */
async function namesOf(bytes: Buffer): Promise<Set<string>> {
  const doc = await PDFDocument.load(bytes, { updateMetadata: false });
  const names = new Set<string>();
  const walk = (obj: PDFObject | undefined): void => {
    if (obj instanceof PDFName) names.add(obj.decodeText());
    else if (obj instanceof PDFArray) for (const item of obj.asArray()) walk(item);
    else if (obj instanceof PDFDict) for (const [key, value] of obj.entries()) { names.add(key.decodeText()); walk(value); }
    else if (obj instanceof PDFStream || obj instanceof PDFRawStream) walk(obj.dict);
  };
  for (const [, obj] of doc.context.enumerateIndirectObjects()) walk(obj);
  walk(doc.context.trailerInfo.Root);
  return names;
}

function render(path: string, dir: string, stem: string, dpi = 30): string {
  execFileSync("pdftoppm", ["-f", "1", "-l", "1", "-r", String(dpi), "-png", "-singlefile", path, join(dir, stem)]);
  return join(dir, `${stem}.png`);
}

async function meanDifference(a: string, b: string): Promise<number> {
  const ra = await sharp(a).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const rb = await sharp(b).removeAlpha().resize(ra.info.width, ra.info.height, { fit: "fill" }).raw().toBuffer();
  let sum = 0;
  for (let i = 0; i < ra.data.length; i++) sum += Math.abs(ra.data[i]! - rb[i]!);
  return sum / ra.data.length;
}

describe.skipIf(!available)("secure engine", () => {
  const engine = createSecureEngine();
  let dir: string;
  let n = 0;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "transmute-secure-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A fresh work directory holding `bytes` as input.<format>. */
  async function request(bytes: Buffer, format: string, options: Record<string, unknown> = {}, extra: Partial<SecureRequest> = {}): Promise<SecureRequest> {
    const workDir = join(dir, `w${n++}`);
    await mkdir(workDir, { recursive: true });
    const inputPath = join(workDir, `input.${format}`);
    await writeFile(inputPath, bytes);
    return { inputPath, format, workDir, baseName: "input", options, ...extra };
  }

  it("probes images and pdf as secure pairs of the secure class", async () => {
    const probe = await engine.probe();
    expect(engine.engineClass).toBe("secure");
    const froms = probe.conversions.map((p) => p.from);
    for (const f of ["jpg", "png", "gif", "webp", "tiff", "avif", "svg", "pdf"]) expect(froms).toContain(f);
    expect(probe.conversions.every((p) => p.from === p.to && p.operation === "secure")).toBe(true);
    expect(froms).not.toContain("docx");
    for (const f of ["zip", "tar", "tgz"]) expect(froms).toContain(f);
  });

  it("rebuilds a hostile PDF with none of its active content, same pages, sizes and look", async () => {
    const input = await makeHostilePdf();
    const before = await namesOf(input);
    for (const name of ["JavaScript", "OpenAction", "Launch", "EmbeddedFiles", "URI", "AcroForm", "Annots", "AA"]) expect(before).toContain(name);
    const req = await request(input, "pdf");
    const progress: number[] = [];
    const out = await engine.secure(req, { onProgress: (p) => progress.push(p) });
    expect(out).toMatchObject({ name: "input.pdf", format: "pdf", details: { pages: 2, pages_dropped: 0 } });
    expect(out.path.startsWith(req.workDir)).toBe(true);
    const bytes = await readFile(out.path);
    expect(out.size).toBe(bytes.length);
    const names = await namesOf(bytes);
    for (const name of ACTIVE) expect(names).not.toContain(name);
    const doc = await PDFDocument.load(bytes);
    expect(doc.getPageCount()).toBe(2);
    for (const page of doc.getPages()) expect(page.getSize()).toEqual({ width: 300, height: 400 });
    const diff = await meanDifference(render(req.inputPath, req.workDir, "a"), render(out.path, req.workDir, "b"));
    expect(diff).toBeLessThan(6);
    expect(progress.at(-1)).toBe(100);
    // Nothing but the output is left of the engine's files.
    const secureDir = (await readdir(req.workDir)).filter((f) => f.startsWith(".secure-"));
    expect(secureDir).toHaveLength(1);
    expect(await readdir(join(req.workDir, secureDir[0]!), { recursive: true })).toEqual(["out", "out/input.pdf"]);
  });

  it("keeps max_pages_per_document pages and keeps rotated pages as shown", async () => {
    const doc = await makePdf(5);
    const out = await engine.secure(await request(Buffer.from(await doc.save()), "pdf", { max_pages_per_document: 2, max_dpi: 72 }));
    expect(out.details).toEqual({ pages: 2, pages_dropped: 3 });
    expect((await PDFDocument.load(await readFile(out.path))).getPageCount()).toBe(2);
    const rotated = await makePdf(1);
    rotated.getPage(0).setRotation({ type: "degrees", angle: 90 } as never);
    const turned = await engine.secure(await request(Buffer.from(await rotated.save()), "pdf", { max_dpi: 72 }));
    expect((await PDFDocument.load(await readFile(turned.path))).getPage(0).getSize()).toEqual({ width: 400, height: 300 });
  });

  it("fails closed on a corrupt, an encrypted and an empty PDF, leaving nothing", async () => {
    const good = Buffer.from(await (await makePdf(1)).save());
    const corrupt = Buffer.concat([good.subarray(0, 20), Buffer.alloc(200, 0x41)]);
    const encReq = await request(good, "pdf");
    execFileSync("qpdf", ["--encrypt", "user", "owner", "256", "--", encReq.inputPath, join(encReq.workDir, "enc.pdf")]);
    await rm(encReq.inputPath);
    const cases: Array<[SecureRequest, string]> = [
      [await request(corrupt, "pdf"), "corrupt_file"],
      [{ ...encReq, inputPath: join(encReq.workDir, "enc.pdf") }, "password_protected"],
      [await request(Buffer.alloc(0), "pdf"), "corrupt_file"],
      [await request(Buffer.alloc(0), "jpg"), "corrupt_file"],
      [await request(Buffer.from("not an image at all"), "png"), "corrupt_file"],
    ];
    for (const [req, code] of cases) {
      const before = await readdir(req.workDir);
      expect((await failure(engine.secure(req))).code).toBe(code);
      expect(await readdir(req.workDir)).toEqual(before);
    }
  });

  it("drops EXIF, applies orientation and scales down to max_width", async () => {
    const photo = await sharp({ create: { width: 400, height: 300, channels: 3, background: { r: 200, g: 120, b: 40 } } })
      .jpeg().withMetadata({ exif: { IFD0: { Copyright: "secret", Artist: "someone" } }, density: 300 }).toBuffer();
    expect((await sharp(photo).metadata()).exif).toBeDefined();
    const out = await engine.secure(await request(photo, "jpg"));
    expect(out).toMatchObject({ name: "input.jpg", format: "jpg" });
    const meta = await sharp(out.path).metadata();
    expect([meta.format, meta.width, meta.height, meta.exif, meta.xmp, meta.density]).toEqual(["jpeg", 400, 300, undefined, undefined, 300]);
    const small = await sharp((await engine.secure(await request(photo, "jpg", { max_width: 100, max_dpi: 96 }))).path).metadata();
    expect([small.width, small.height, small.density]).toEqual([100, 75, 96]);
    const turned = await sharp(photo).withMetadata({ orientation: 6 }).toBuffer();
    const upright = await sharp((await engine.secure(await request(turned, "jpg"))).path).metadata();
    expect([upright.width, upright.height, upright.orientation]).toEqual([300, 400, undefined]);
  });

  it("keeps transparency as PNG and makes an opaque PNG a JPEG", async () => {
    const see = await sharp({ create: { width: 64, height: 48, channels: 4, background: { r: 0, g: 0, b: 255, alpha: 0.5 } } }).png().toBuffer();
    const out = await engine.secure(await request(see, "png"));
    expect(out.format).toBe("png");
    expect(await sharp(out.path).metadata()).toMatchObject({ format: "png", width: 64, height: 48, hasAlpha: true });
    const solid = await sharp({ create: { width: 64, height: 48, channels: 4, background: { r: 0, g: 0, b: 255, alpha: 1 } } }).png().toBuffer();
    expect((await engine.secure(await request(solid, "png"))).format).toBe("jpg");
  });

  it("strips a zip appended to a JPEG (polyglot)", async () => {
    const photo = await sharp({ create: { width: 80, height: 60, channels: 3, background: "#3a7" } }).jpeg().toBuffer();
    const zip = Buffer.concat([Buffer.from("PK\x03\x04", "latin1"), Buffer.alloc(26), Buffer.from("payload.exe MZ....")]);
    const out = await engine.secure(await request(Buffer.concat([photo, zip]), "jpg"));
    const bytes = await readFile(out.path);
    expect(bytes.includes(Buffer.from("PK\x03\x04", "latin1"))).toBe(false);
    expect(bytes.includes(Buffer.from("payload"))).toBe(false);
    expect(await sharp(bytes).metadata()).toMatchObject({ format: "jpeg", width: 80, height: 60 });
    expect((await sharp(bytes).stats()).channels).toHaveLength(3);
  });

  it("draws no file an SVG references (a sibling PNG stays out)", async () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="50" height="50">'
      + '<rect width="50" height="50" fill="#fff"/><image href="secret.png" xlink:href="secret.png" width="50" height="50"/></svg>';
    const req = await request(Buffer.from(svg), "svg");
    await sharp({ create: { width: 50, height: 50, channels: 3, background: "#f00" } }).png().toFile(join(req.workDir, "secret.png"));
    const out = await engine.secure(req);
    expect(out.format).toBe("jpg");
    const stats = await sharp(out.path).stats();
    expect(stats.channels.map((c) => Math.round(c.mean))).toEqual([255, 255, 255]);
  });

  it("keeps the first frame of an animation only", async () => {
    const frames = Buffer.alloc(20 * 40 * 3, 200);
    frames.fill(10, 20 * 20 * 3);
    const gif = await sharp(frames, { raw: { width: 20, height: 40, channels: 3, pageHeight: 20 } }).gif().toBuffer();
    expect((await sharp(gif).metadata()).pages).toBe(2);
    const out = await engine.secure(await request(gif, "gif"));
    const meta = await sharp(out.path).metadata();
    expect([out.format, meta.width, meta.height, meta.pages]).toEqual(["jpg", 20, 20, undefined]);
    expect((await sharp(out.path).stats()).channels[0]!.mean).toBeGreaterThan(150);
  });

  it("stops on timeout and on cancel, leaving nothing", async () => {
    const pdf = Buffer.from(await (await makePdf(3)).save());
    const slow = await request(pdf, "pdf");
    expect((await failure(engine.secure(slow, { timeoutMs: 1 }))).code).toBe("engine_timeout");
    expect(await readdir(slow.workDir)).toEqual(["input.pdf"]);
    const stop = new AbortController();
    const canceled = await request(pdf, "pdf");
    const pending = engine.secure(canceled, { signal: stop.signal });
    setTimeout(() => stop.abort(), 5);
    expect((await failure(pending)).code).toBe("canceled");
    expect(await readdir(canceled.workDir)).toEqual(["input.pdf"]);
  });

  it("refuses an image past the pixel cap before decoding it", async () => {
    const big = await sharp({ create: { width: 2000, height: 2000, channels: 3, background: "#fff" } }).png().toBuffer();
    const req = await request(big, "png", {}, { limits: { maxPixels: 1_000_000 } });
    expect((await failure(engine.secure(req))).code).toBe("limit_exceeded");
    expect(await readdir(req.workDir)).toEqual(["input.png"]);
  });

  // The peak is VmHWM, not maxRSS: Linux carries ru_maxrss over from the forking parent across exec.
  it.skipIf(process.platform !== "linux")("does not grow memory with the page count (20 vs 200 pages at 72 dpi, each in its own process)", async () => {
    const peak = async (pages: number) => {
      const req = await request(Buffer.from(await (await makePdf(pages, [595, 842])).save()), "pdf");
      const script = `const { createSecureEngine } = await import(${JSON.stringify(new URL("../dist/index.js", import.meta.url).href)});
        const r = await createSecureEngine().secure(${JSON.stringify({ ...req, options: { max_dpi: 72 } })});
        const { readFileSync } = await import("node:fs");
        console.log(JSON.stringify({ pages: r.details.pages, after: Number(/VmHWM:\\s+(\\d+)/.exec(readFileSync("/proc/self/status", "utf8"))[1]) }));`;
      const out = JSON.parse(execFileSync(process.execPath, ["--input-type=module", "-e", script]).toString()) as { pages: number; after: number };
      expect(out.pages).toBe(pages);
      return out.after;
    };
    const rss20 = await peak(20);
    const rss200 = await peak(200);
    console.info(`secure peak RSS: 20 pages ${Math.round(rss20 / 1024)} MB, 200 pages ${Math.round(rss200 / 1024)} MB`);
    expect(rss200).toBeLessThan(rss20 * 1.5 + 50 * 1024);
  });

  it("rebuilds each member of a zip and drops nested archives and unknown bytes", async () => {
    const photo = await sharp({ create: { width: 40, height: 30, channels: 3, background: "#48c" } }).jpeg().withMetadata({ exif: { IFD0: { Artist: "x" } } }).toBuffer();
    const inner = await zipBytes([["x.txt", Buffer.from("hi")]]);
    const zip = await zipBytes([["pics/photo.jpeg", photo], ["doc.pdf", await makeHostilePdf()], ["inner.zip", inner], ["tool.exe", Buffer.from([0x4d, 0x5a, 0, 1, 2, 3, 0xff, 0xfe])]]);
    const req = await request(zip, "zip", { max_dpi: 72 });
    const out = await engine.secure(req);
    expect(out).toMatchObject({ name: "input.zip", format: "zip" });
    expect(out.details?.members).toEqual(["pics/photo.jpg", "doc.pdf"]);
    expect((out.details?.dropped as Array<{ name: string }>).map((d) => d.name)).toEqual(["inner.zip", "tool.exe"]);
    const unpacked = join(req.workDir, "unpacked");
    execFileSync("7zz", ["x", "-y", `-o${unpacked}`, out.path], { stdio: "ignore" });
    expect((await sharp(join(unpacked, "pics/photo.jpg")).metadata()).exif).toBeUndefined();
    for (const name of ACTIVE) expect(await namesOf(await readFile(join(unpacked, "doc.pdf")))).not.toContain(name);
  });

  describe.skipIf(!officeAvailable)("with LibreOffice", () => {
    const office = createOfficeEngine();
    const withOffice = createSecureEngine({ office });
    afterAll(() => office.close());

    it("probes office formats and rebuilds a text file as a one-page PDF of its picture", async () => {
      const froms = (await withOffice.probe()).conversions.map((p) => p.from);
      for (const f of ["txt", "docx", "xlsx", "pptx", "csv"]) expect(froms).toContain(f);
      const req = await request(Buffer.from("Hello from a plain text file.\nSecond line.\n"), "txt");
      const out = await withOffice.secure(req);
      expect(out).toMatchObject({ name: "input.pdf", format: "pdf", details: { pages: 1, pages_dropped: 0 } });
      expect((await PDFDocument.load(await readFile(out.path))).getPageCount()).toBe(1);
      const stats = await sharp(render(out.path, req.workDir, "t", 100)).stats();
      // Dark text pixels on a white page: the page is not blank.
      expect(stats.channels[0]!.min).toBeLessThan(100);
      expect(stats.channels[0]!.max).toBeGreaterThan(200);
      expect(await namesOf(await readFile(out.path))).not.toContain("Font");
    });
  });
});
