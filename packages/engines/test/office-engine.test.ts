/**
 * The LibreOffice engine against the real soffice: conversions checked by reading their
 * outputs back (pdftotext, pdffonts, pdf-lib page counts, a spreadsheet round trip), parallel
 * runs, inputs refused before soffice sees them (garbage, mislabelled, empty, encrypted), the
 * page limit, linked resources that must not load, and a hanging soffice that must be killed with nothing left behind.
 */
import { execFile } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { PDFDocument } from "pdf-lib";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOfficeEngine, inspectOfficeInput, probeOffice, type Engine } from "../dist/index.js";
import { engineAvailable } from "../../../test/support/engine-tools.js";
import { compoundFile, encryptedOdt, hangingSoffice, markDocEncrypted, markPptEncrypted, markXlsEncrypted, sofficeConvert, textPdf } from "./fixtures/office/make-fixtures.js";
import { failure } from "./failure.js";

const run = promisify(execFile);
const available = await engineAvailable("LibreOffice", () => probeOffice());
const CJK = ["中文測試", "日本語のテキスト", "한국어 문장"];

let dir: string;
let engine: Engine;
const files: Record<string, string> = {};
let seq = 0;

/** A fresh work directory holding a copy of `input`, as a task's scratch would. */
async function task(input: string, ext: string): Promise<{ workDir: string; inputPath: string; out: (e: string) => string }> {
  const workDir = join(dir, `task-${++seq}`);
  await mkdir(workDir);
  const inputPath = join(workDir, `input.${ext}`);
  await writeFile(inputPath, await readFile(input));
  return { workDir, inputPath, out: (e) => join(workDir, `output.${e}`) };
}

async function convert(input: string, from: string, to: string, extra: Record<string, unknown> = {}) {
  const t = await task(input, from);
  const result = await engine.convert({ inputPath: t.inputPath, outputPath: t.out(to), inputFormat: from, outputFormat: to, workDir: t.workDir, ...extra });
  return { ...t, result, outputPath: t.out(to) };
}

const pdfText = async (path: string) => (await run("pdftotext", ["-layout", path, "-"])).stdout;
const pdfPages = async (path: string) => (await PDFDocument.load(await readFile(path))).getPageCount();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A killed orphan stays a zombie until init reaps it.
  let status = "";
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return false;
  }
  return !/^State:\s+Z/m.test(status);
}

beforeAll(async () => {
  if (!available) return;
  dir = await mkdtemp(join(tmpdir(), "transmute-office-"));
  engine = createOfficeEngine({ timeoutMs: 60_000 });
  const html = join(dir, "doc.html");
  const pageBreak = '<p style="page-break-before: always">';
  await writeFile(html, `<html><head><meta charset="utf-8"></head><body><h1>Transmute office test</h1><p>${CJK.join("</p><p>")}</p>${pageBreak}Second page</p>${pageBreak}Third page</p></body></html>`);
  await writeFile(join(dir, "sheet.csv"), "name,qty,price\nwidget,3,2.5\ngadget,12,0.75\n\"comma, inside\",7,1\n");
  await writeFile(join(dir, "slides.pdf"), await textPdf(["Slide one", "Slide two"]));
  files.html = html;
  files.csv = join(dir, "sheet.csv");
  // Independent fixtures: made two at a time, as the engine allows.
  const [docx, odt] = await Promise.all([
    convert(html, "html", "docx").then((r) => r.outputPath),
    convert(html, "html", "odt").then((r) => r.outputPath),
  ]);
  files.docx = docx;
  files.odt = odt;
  [files.pptx, files.doc, files.xls] = await Promise.all([
    sofficeConvert(dir, join(dir, "slides.pdf"), "pptx:Impress MS PowerPoint 2007 XML", "slides.pptx", "impress_pdf_import"),
    sofficeConvert(dir, docx, "doc:MS Word 97", "doc.doc"),
    sofficeConvert(dir, join(dir, "sheet.csv"), "xls:MS Excel 97", "sheet.xls", "Text - txt - csv (StarCalc):44,34,76,1"),
  ]);
  files.ppt = await sofficeConvert(dir, files.pptx, "ppt:MS PowerPoint 97", "slides.ppt");
}, 120_000);

afterAll(async () => {
  await engine?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!available)("LibreOffice engine", () => {
  it("probes the office rows of the conversion table, without same-format pairs", async () => {
    const probe = await probeOffice();
    expect(probe).toMatchObject({ available: true, version: expect.stringMatching(/^LibreOffice 7\.\d/) });
    const pairs = probe.conversions.map((c) => `${c.from}>${c.to}`);
    expect(pairs).toHaveLength(36);
    expect(pairs).toEqual(expect.arrayContaining(["docx>pdf", "txt>odt", "html>docx", "csv>xlsx", "xls>csv", "ppt>pdf", "pptx>odp", "odp>pptx"]));
    expect(pairs).not.toContain("docx>docx");
    expect(pairs).not.toContain("csv>docx");
  });

  it("reports a missing soffice as unavailable, saying what to install", async () => {
    const probe = await probeOffice({ command: "no-such-soffice" });
    expect(probe).toMatchObject({ available: false, conversions: [] });
    expect(probe.missing).toContain("libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui");
  });

  it("converts docx to pdf with CJK text in the text layer and a Noto CJK font embedded", async () => {
    const { result, outputPath, workDir } = await convert(files.docx, "docx", "pdf");
    expect(result).toMatchObject({ format: "pdf", details: { pages: 3 }, ignoredOptions: [] });
    expect(await pdfPages(outputPath)).toBe(3);
    const text = await pdfText(outputPath);
    for (const s of ["Transmute office test", "Third page", ...CJK]) expect(text).toContain(s);
    const fonts = (await run("pdffonts", [outputPath])).stdout.split("\n").filter((l) => /Noto\S*CJK/.test(l));
    expect(fonts.length).toBeGreaterThan(0);
    // Columns: name type [type] encoding emb sub uni id: every CJK font is embedded.
    for (const line of fonts) expect(line).toMatch(/\syes\s+yes\s+yes\s/);
    expect((await readdir(workDir)).sort()).toEqual(["input.docx", "output.pdf"]);
  });

  it("round-trips a csv through xlsx, and renders both to pdf", async () => {
    const xlsx = await convert(files.csv, "csv", "xlsx");
    expect(await inspectOfficeInput(xlsx.outputPath, "xlsx")).toEqual({ encrypted: false });
    const [back, pdf] = await Promise.all([convert(xlsx.outputPath, "xlsx", "csv"), convert(files.csv, "csv", "pdf")]);
    const rows = (await readFile(back.outputPath, "utf8")).trim().split(/\r?\n/);
    expect(rows).toEqual(["name,qty,price", "widget,3,2.5", "gadget,12,0.75", '"comma, inside",7,1']);
    expect(pdf.result.details).toEqual({ pages: 1 });
    expect(await pdfText(pdf.outputPath)).toMatch(/gadget\s+12\s+0\.75/);
  });

  it("converts pptx to pdf (a page per slide) and odt to docx", async () => {
    const [pptx, docx] = await Promise.all([convert(files.pptx, "pptx", "pdf"), convert(files.odt, "odt", "docx")]);
    expect(pptx.result.details).toEqual({ pages: 2 });
    const text = await pdfText(pptx.outputPath);
    expect(text).toContain("Slide one");
    expect(text).toContain("Slide two");
    // The docx is a real Word document: its container checks out and it renders the same text.
    expect(await inspectOfficeInput(docx.outputPath, "docx")).toEqual({ encrypted: false });
    const again = await convert(docx.outputPath, "docx", "pdf");
    expect(await pdfText(again.outputPath)).toContain(CJK[1]);
  });

  it("converts legacy Word, Excel and PowerPoint 97 files", async () => {
    const [doc, xls, ppt] = await Promise.all([convert(files.doc, "doc", "pdf"), convert(files.xls, "xls", "ods"), convert(files.ppt, "ppt", "pdf")]);
    expect(doc.result.details).toEqual({ pages: 3 });
    expect(await pdfText(doc.outputPath)).toContain("Transmute office test");
    expect(await inspectOfficeInput(xls.outputPath, "ods")).toEqual({ encrypted: false });
    const csv = await convert(xls.outputPath, "ods", "csv");
    expect((await readFile(csv.outputPath, "utf8")).split(/\r?\n/)[2]).toBe("gadget,12,0.75");
    expect(ppt.result.details).toEqual({ pages: 2 });
    expect(await pdfText(ppt.outputPath)).toContain("Slide two");
  });

  it("loads no linked resource: neither a local file nor a URL", async () => {
    const png = join(dir, "linked.png");
    await writeFile(png, await sharp({ create: { width: 64, height: 64, channels: 3, background: "#f00" } }).png().toBuffer());
    let requests = 0;
    const server = createServer((_req, res) => {
      requests++;
      res.end(readFileSync(png));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const html = join(dir, "linked.html");
      await writeFile(html, `<html><body><p>before</p><img src="${pathToFileURL(png).href}" width="64" height="64"><img src="http://127.0.0.1:${port}/x.png" width="64" height="64"><p>after</p></body></html>`);
      const { outputPath } = await convert(html, "html", "pdf");
      expect(await pdfText(outputPath)).toContain("after");
      // pdfimages lists two header lines, then one line per image.
      const images = (await run("pdfimages", ["-list", outputPath])).stdout.trim().split("\n").slice(2);
      expect(images).toEqual([]);
      expect(requests).toBe(0);
    } finally {
      server.close();
    }
  });

  it("runs two conversions at once, and queues beyond the concurrency", async () => {
    const timed = async (e: Engine) => {
      const spans: Array<[number, number]> = [];
      const t0 = Date.now();
      await Promise.all([0, 1].map(async () => {
        const t = await task(files.docx, "docx");
        let start = 0;
        await e.convert({ inputPath: t.inputPath, outputPath: t.out("pdf"), inputFormat: "docx", outputFormat: "pdf", workDir: t.workDir }, {
          onProgress: (p) => (p === 0 ? (start = Date.now()) : spans.push([start, Date.now()])),
        });
      }));
      return { wall: Date.now() - t0, overlap: Math.min(spans[0][1], spans[1][1]) > Math.max(spans[0][0], spans[1][0]) };
    };
    const serial = createOfficeEngine({ concurrency: 1 });
    try {
      const one = await timed(serial);
      const two = await timed(engine);
      console.info(`office: 2 docx->pdf with concurrency 1: ${one.wall} ms, with concurrency 2: ${two.wall} ms (${(one.wall / two.wall).toFixed(2)}x)`);
      expect(one.overlap).toBe(false);
      expect(two.overlap).toBe(true);
    } finally {
      await serial.close();
    }
  });

  it("refuses garbage, mislabelled and empty files before running soffice", async () => {
    const cases: Array<[string, Buffer, RegExp]> = [
      ["docx", Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919) % 251)), /not a valid DOCX file: its contents are unrecognised binary data/],
      ["docx", Buffer.alloc(0), /DOCX file is empty/],
      ["xlsx", await readFile(files.docx), /not a valid XLSX file: its contents are a DOCX file/],
      ["docx", await readFile(join(dir, "slides.pdf")), /not a valid DOCX file: its contents are a PDF file/],
      ["txt", Buffer.from([0, 1, 2, 3, 0xff, 0, 9]), /not a valid TXT file/],
      ["odt", Buffer.concat([Buffer.from("PK\x03\x04"), Buffer.alloc(200, 1)]), /ODT file is damaged/],
      ["doc", await readFile(files.docx), /not a valid DOC file: its contents are a DOCX file/],
      ["ppt", await readFile(files.doc), /not a valid PPT file: its contents are a DOC file/],
    ];
    for (const [ext, bytes, message] of cases) {
      const path = join(dir, `bad.${ext}`);
      await writeFile(path, bytes);
      const t = await task(path, ext);
      const err = await failure(engine.convert({ inputPath: t.inputPath, outputPath: t.out("pdf"), inputFormat: ext, outputFormat: "pdf", workDir: t.workDir }));
      expect(err, `${ext} ${message}`).toMatchObject({ code: "corrupt_file", message: expect.stringMatching(message) });
      expect(await readdir(t.workDir)).toEqual([`input.${ext}`]);
    }
  });

  it("refuses encrypted OOXML, ODF, doc, xls and ppt files as password_protected, and says passwords are not supported", async () => {
    const ooxml = join(dir, "locked.docx");
    await writeFile(ooxml, compoundFile([{ name: "EncryptionInfo", data: Buffer.alloc(4096, 1) }, { name: "EncryptedPackage", data: Buffer.alloc(8192, 2) }]));
    const odt = join(dir, "locked.odt");
    await encryptedOdt(odt);
    const [doc, xls, ppt] = [join(dir, "locked.doc"), join(dir, "locked.xls"), join(dir, "locked.ppt")];
    await Promise.all([markDocEncrypted(files.doc, doc), markXlsEncrypted(files.xls, xls), markPptEncrypted(files.ppt, ppt)]);
    const locked = [[ooxml, "docx"], [ooxml, "xlsx"], [ooxml, "pptx"], [odt, "odt"], [doc, "doc"], [xls, "xls"], [ppt, "ppt"]] as const;
    for (const [path, ext] of locked) {
      const err = await failure(convert(path, ext, "pdf"));
      expect(err, path).toMatchObject({ code: "password_protected", message: expect.stringMatching(/password-protected; convert it after removing the password/) });
    }
    const withPassword = await failure(convert(ooxml, "docx", "pdf", { options: { password: "secret" } }));
    expect(withPassword).toMatchObject({ code: "password_protected", message: expect.stringContaining("passwords are not supported for office files") });
    // A password for a file that has none changes nothing: it is reported as ignored.
    const plain = await convert(files.odt, "odt", "pdf", { options: { password: "secret", quality: 3 } });
    expect(plain.result.ignoredOptions.sort()).toEqual(["password", "quality"]);
  });

  it("refuses a document past the page limit and leaves no output", async () => {
    const err = await failure(convert(files.docx, "docx", "pdf", { limits: { maxPages: 2 } }));
    expect(err).toMatchObject({ code: "limit_exceeded", message: "the document has 3 pages as a PDF; at most 2 are allowed" });
    const workDir = join(dir, `task-${seq}`);
    expect(await readdir(workDir)).toEqual(["input.docx"]);
  });

  it("kills a hanging soffice at the timeout, leaves nothing behind, and the next conversion works", async () => {
    const fake = join(dir, "fake-soffice");
    await hangingSoffice(fake);
    const pidFile = join(dir, "fake.pid");
    const hanging = createOfficeEngine({ command: fake, timeoutMs: 800, env: { PATH: "/usr/bin:/bin", PID_FILE: pidFile } });
    const t = await task(files.docx, "docx");
    const started = Date.now();
    const err = await failure(hanging.convert({ inputPath: t.inputPath, outputPath: t.out("pdf"), inputFormat: "docx", outputFormat: "pdf", workDir: t.workDir }));
    expect(err).toMatchObject({ code: "engine_timeout", message: "the document conversion took longer than 1 s and was stopped" });
    expect(Date.now() - started).toBeLessThan(5_000);
    const pids = (await readFile(pidFile, "utf8")).trim().split(" ").map(Number);
    expect(pids).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 200));
    for (const pid of pids) expect(isAlive(pid), `pid ${pid}`).toBe(false);
    expect(await readdir(t.workDir)).toEqual(["input.docx"]);

    // A real soffice stopped mid-run: no soffice process of that run survives.
    const real = createOfficeEngine({ timeoutMs: 150 });
    const r = await task(files.docx, "docx");
    expect(await failure(real.convert({ inputPath: r.inputPath, outputPath: r.out("pdf"), inputFormat: "docx", outputFormat: "pdf", workDir: r.workDir }))).toMatchObject({ code: "engine_timeout" });
    await new Promise((res) => setTimeout(res, 300));
    const left = await run("pgrep", ["-f", r.workDir]).then((p) => p.stdout.trim().split("\n").map(Number).filter(isAlive), () => []);
    expect(left).toEqual([]);
    expect(await readdir(r.workDir)).toEqual(["input.docx"]);

    const after = await convert(files.docx, "docx", "pdf");
    expect((await stat(after.outputPath)).size).toBe(after.result.size);
    await Promise.all([hanging.close(), real.close()]);
  });

  it("cancels a running conversion, one still waiting in the queue, and all on close", async () => {
    const fake = join(dir, "fake-soffice-2");
    await hangingSoffice(fake);
    const hanging = createOfficeEngine({ command: fake, timeoutMs: 30_000, concurrency: 1, env: { PATH: "/usr/bin:/bin", PID_FILE: join(dir, "fake2.pid") } });
    const [a, b] = await Promise.all([task(files.docx, "docx"), task(files.docx, "docx")]);
    const first = new AbortController();
    const second = new AbortController();
    let started!: () => void;
    const firstHasSlot = new Promise<void>((resolve) => (started = resolve));
    const running = failure(hanging.convert(
      { inputPath: a.inputPath, outputPath: a.out("pdf"), inputFormat: "docx", outputFormat: "pdf", workDir: a.workDir },
      { signal: first.signal, onProgress: (p) => p === 0 && started() },
    ));
    await firstHasSlot;
    const queued = failure(hanging.convert({ inputPath: b.inputPath, outputPath: b.out("pdf"), inputFormat: "docx", outputFormat: "pdf", workDir: b.workDir }, { signal: second.signal }));
    await new Promise((r) => setTimeout(r, 400));
    second.abort();
    expect(await queued).toMatchObject({ code: "canceled", message: expect.stringContaining("while it waited") });
    first.abort();
    expect(await running).toMatchObject({ code: "canceled", message: "the document conversion was canceled" });
    expect(await readdir(a.workDir)).toEqual(["input.docx"]);
    expect(await readdir(b.workDir)).toEqual(["input.docx"]);
    // Closing the engine stops what runs and turns away what comes after.
    const c = await task(files.docx, "docx");
    const request = { inputPath: c.inputPath, outputPath: c.out("pdf"), inputFormat: "docx", outputFormat: "pdf", workDir: c.workDir };
    const closedRun = failure(hanging.convert(request));
    await new Promise((r) => setTimeout(r, 300));
    await hanging.close();
    expect(await closedRun).toMatchObject({ code: "canceled" });
    expect(await failure(hanging.convert(request))).toMatchObject({ code: "canceled" });
    expect(await readdir(c.workDir)).toEqual(["input.docx"]);
  });
});
