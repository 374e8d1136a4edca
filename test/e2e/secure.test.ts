/**
 * The secure operation through the FreeConvert API (the Filewall facade runs the same job): a PDF
 * carrying JavaScript, actions, a link and an attachment comes back as page images only; a JPEG
 * loses its EXIF and the zip appended to it; a tar.gz is typed by its bytes and comes back with
 * only its safe members; what cannot be rebuilt fails and publishes nothing.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { PDFArray, PDFDict, PDFDocument, PDFName, PDFRawStream, PDFRef, PDFString, StandardFonts } from "pdf-lib";
import sharp from "sharp";
import tarStream from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { download, type TestServer } from "../support/harness.js";
import { engineAvailable } from "../support/engine-tools.js";
import { expectTaskFailed, runJob, startServer, taskOf } from "./helpers.js";

const run = promisify(execFile);
const haveTools = await engineAvailable("poppler and LibreOffice (secure)", async () => {
  const missing: string[] = [];
  for (const tool of ["pdftoppm", "soffice"]) await run("sh", ["-c", `command -v ${tool}`]).catch(() => missing.push(tool));
  return missing.length === 0 ? { available: true } : { available: false, missing: `not found: ${missing.join(", ")}` };
});

/** Every name used anywhere in a PDF's object graph (keys and values), read by parsing it. */
async function namesIn(bytes: Buffer): Promise<Set<string>> {
  const doc = await PDFDocument.load(bytes, { updateMetadata: false });
  const names = new Set<string>();
  const visit = (value: unknown): void => {
    if (value instanceof PDFName) names.add(value.decodeText());
    else if (value instanceof PDFDict) for (const [key, v] of value.entries()) (names.add(key.decodeText()), visit(v));
    else if (value instanceof PDFArray) for (const v of value.asArray()) visit(v);
    else if (value instanceof PDFRawStream) visit(value.dict);
  };
  for (const [, object] of doc.context.enumerateIndirectObjects()) visit(object);
  return names;
}

/** A two-page PDF with an OpenAction script, a Launch action, a URI link, an embedded file and a form. */
async function hostilePdf(): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  for (let i = 1; i <= 2; i++) doc.addPage([300, 200]).drawText(`Page ${i}`, { x: 30, y: 100, size: 24, font });
  const ctx = doc.context;
  doc.catalog.set(PDFName.of("OpenAction"), ctx.obj({ Type: "Action", S: "JavaScript", JS: PDFString.of("app.alert('hi')") }));
  const launch = ctx.register(ctx.obj({ Type: "Action", S: "Launch", F: PDFString.of("calc.exe") }));
  const link = ctx.register(
    ctx.obj({ Type: "Annot", Subtype: "Link", Rect: [0, 0, 100, 100], A: { Type: "Action", S: "URI", URI: PDFString.of("http://example.com/") }, AA: { O: launch } }),
  );
  doc.getPage(0).node.set(PDFName.of("Annots"), ctx.obj([link]));
  await doc.attach(Buffer.from("secret payload"), "payload.exe", { mimeType: "application/octet-stream" });
  doc.getForm().createTextField("field").addToPage(doc.getPage(1), { x: 10, y: 10, width: 100, height: 20 });
  return Buffer.from(await doc.save());
}

describe.skipIf(!haveTools)("secure (disarm and rebuild) end to end", () => {
  let server: TestServer;
  let work: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "transmute-secure-e2e-"));
    server = await startServer();
  });

  afterAll(async () => {
    await server?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** import/base64 -> secure -> export/url. */
  const secureBytes = (bytes: Buffer, filename: string, options: Record<string, unknown> = {}) =>
    runJob(server.api, {
      in: { operation: "import/base64", file: bytes.toString("base64"), filename },
      safe: { operation: "secure", input: "in", options },
      out: { operation: "export/url", input: "safe" },
    });

  it("rebuilds a PDF with scripts, actions, a link, an attachment and a form from its page images only", async () => {
    const input = await hostilePdf();
    const before = await namesIn(input);
    for (const name of ["JavaScript", "JS", "OpenAction", "Launch", "EmbeddedFile", "URI", "AcroForm", "Annots", "AA"]) expect(before.has(name), name).toBe(true);
    const { job } = await secureBytes(input, "hostile.pdf");
    expect(job.status, JSON.stringify(job)).toBe("completed");
    const out = await download(taskOf(job, "out").result.url);
    expect(taskOf(job, "out").result.files[0].filename).toBe("hostile.pdf");
    const after = await namesIn(out.bytes);
    for (const name of ["JavaScript", "JS", "OpenAction", "Launch", "EmbeddedFile", "EmbeddedFiles", "URI", "AcroForm", "Annots", "AA", "Font"]) {
      expect(after.has(name), `${name} survived`).toBe(false);
    }
    const rebuilt = await PDFDocument.load(out.bytes);
    expect(rebuilt.getPageCount()).toBe(2);
    expect(rebuilt.getPage(0).getSize()).toEqual({ width: 300, height: 200 });
    // The pages look like the input's: both rendered at 36 dpi, compared pixel by pixel.
    const render = async (bytes: Buffer, name: string) => {
      const path = join(work, name);
      await writeFile(path, bytes);
      await run("pdftoppm", ["-r", "36", "-f", "1", "-l", "1", "-png", "-singlefile", path, join(work, `${name}-p1`)]);
      return sharp(join(work, `${name}-p1.png`)).greyscale().raw().toBuffer();
    };
    const [a, b] = await Promise.all([render(input, "in.pdf"), render(out.bytes, "out.pdf")]);
    expect(a.length).toBe(b.length);
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff += Math.abs(a[i]! - b[i]!);
    expect(diff / a.length).toBeLessThan(8);
  });

  it("keeps max_pages_per_document pages", async () => {
    const { job } = await secureBytes(await hostilePdf(), "two.pdf", { max_pages_per_document: 1, max_dpi: 72 });
    expect(job.status).toBe("completed");
    expect((await PDFDocument.load((await download(taskOf(job, "out").result.url)).bytes)).getPageCount()).toBe(1);
  });

  it("re-encodes a JPEG from its pixels: no EXIF, nothing appended, within max_width", async () => {
    const photo = await sharp({ create: { width: 400, height: 300, channels: 3, background: "#3060c0" } })
      .jpeg()
      .withExif({ IFD0: { Copyright: "someone", ImageDescription: "hidden text" } })
      .toBuffer();
    const polyglot = Buffer.concat([photo, Buffer.from("PK\x03\x04appended zip bytes", "latin1")]);
    expect((await sharp(photo).metadata()).exif).toBeDefined();
    const { job } = await secureBytes(polyglot, "photo.jpeg", { max_width: 100 });
    expect(job.status, JSON.stringify(job)).toBe("completed");
    const out = (await download(taskOf(job, "out").result.url)).bytes;
    const meta = await sharp(out).metadata();
    expect(meta).toMatchObject({ format: "jpeg", width: 100, height: 75 });
    expect(meta.exif).toBeUndefined();
    expect(out.includes(Buffer.from("PK\x03\x04", "latin1"))).toBe(false);
    expect(out.includes(Buffer.from("hidden text"))).toBe(false);
  });

  it("types a tar.gz by its bytes and keeps only its safe members (no .. member, no link, no program)", async () => {
    const pack = tarStream.pack();
    const chunks: Buffer[] = [];
    pack.on("data", (c: unknown) => chunks.push(c as Buffer));
    const ended = new Promise<void>((resolve) => pack.on("end", () => resolve()));
    pack.entry({ name: "note.txt" }, "hello");
    pack.entry({ name: "../evil.txt" }, "climbing out");
    pack.entry({ name: "link", type: "symlink", linkname: "/etc/passwd" });
    // A PE header: binary, no format secure takes.
    pack.entry({ name: "tool.exe" }, Buffer.from([0x4d, 0x5a, 0x90, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00]));
    pack.finalize();
    await ended;
    const { job } = await secureBytes(gzipSync(Buffer.concat(chunks)), "bundle.tar.gz");
    const safe = taskOf(job, "safe");
    expect(safe.status, JSON.stringify(safe)).toBe("completed");
    expect(safe.result.source_format).toBe("tgz");
    expect(safe.result.members).toEqual(["note.pdf"]);
    expect(safe.result.dropped.map((d: { name: string }) => d.name).sort()).toEqual(["../evil.txt", "link", "tool.exe"]);
    const out = join(work, "secured.tgz");
    await writeFile(out, (await download(taskOf(job, "out").result.url)).bytes);
    expect((await run("tar", ["-tzf", out])).stdout.trim().split("\n")).toEqual(["note.pdf"]);
  });

  it("rebuilds an office document as a PDF of its pages", async () => {
    const html = "<html><body><h1>Contract</h1><p>Signed copy.</p></body></html>";
    const { job } = await runJob(server.api, {
      in: { operation: "import/base64", file: Buffer.from(html).toString("base64"), filename: "contract.html" },
      docx: { operation: "convert", input: "in", output_format: "docx" },
      safe: { operation: "secure", input: "docx" },
      out: { operation: "export/url", input: "safe" },
    });
    expect(job.status, JSON.stringify(job)).toBe("completed");
    expect(taskOf(job, "safe").result.source_format).toBe("docx");
    expect(taskOf(job, "out").result.files[0].filename).toBe("contract.pdf");
    const pdf = (await download(taskOf(job, "out").result.url)).bytes;
    expect((await PDFDocument.load(pdf)).getPageCount()).toBe(1);
    const names = await namesIn(pdf);
    expect(names.has("Font")).toBe(false);
    expect(names.has("XObject")).toBe(true);
  });

  it("fails closed: a corrupt PDF, an encrypted PDF and bytes of no known type end failed, with no download", async () => {
    const plain = join(work, "plain.pdf");
    const locked = join(work, "locked.pdf");
    await writeFile(plain, await hostilePdf());
    await run("qpdf", ["--encrypt", "u", "o", "256", "--", plain, locked]);
    const inputs: Array<[string, Buffer]> = [
      ["broken.pdf", Buffer.from("%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\nnot really a pdf\n")],
      ["locked.pdf", await readFile(locked)],
      ["mystery.bin", Buffer.from([0x00, 0x13, 0x88, 0x01, 0x02, 0xfe, 0x00, 0x00])],
    ];
    for (const [name, bytes] of inputs) {
      const { job } = await secureBytes(bytes, name);
      expect(job.status, name).toBe("failed");
      expect(taskOf(job, "safe").status, name).toBe("failed");
      const out = taskOf(job, "out");
      expect(out.status, name).toBe("failed");
      expect(out.result.url, name).toBeUndefined();
      expectTaskFailed(taskOf(job, "safe"), taskOf(job, "safe").code);
    }
  });
});
