/**
 * The browser engine against Debian's Chromium: a capture whose every request goes through a
 * fetch the test implements (a real HTTP server on loopback; nothing may reach it directly, not
 * even a WebSocket), then the MHTML, HTML and Markdown conversions, offline, checked by decoding
 * the outputs (sharp's pixels, pdftotext's text), and timeouts that leave no process or file.
 */
import { execFileSync } from "node:child_process";
import { createServer, type Server } from "node:http";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError } from "@transmute/core";
import { engineAvailable } from "../../../test/support/engine-tools.js";
import { createBrowserEngine, probeBrowser } from "../dist/browser-engine.js";
import { processesNaming } from "../dist/browser-launch.js";
import type { CaptureFetchRequest, CaptureFetchResponse } from "../dist/engine.js";

const available = await engineAvailable("browser (Chromium)", () => probeBrowser());
const engine = createBrowserEngine({ timeoutMs: 30_000 });

let dir: string;
let server: Server;
let origin: string;
let pngBytes: Buffer;
/** Requests the server got, by path; and those made through the test's fetch. */
const serverHits = new Map<string, number>();
let fetched = 0;
let upgrades = 0;

const PAGE = (wsUrl: string) => `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Capture test</title>
<link rel="stylesheet" href="style.css"><style>body{margin:0}</style></head><body>
<div id="box"></div>
<h1 style="margin-top:120px">Captured heading</h1>
<img src="blue.png" width="40" height="40"><img src="/refused.png">
<iframe src="frame.html" width="300" height="80"></iframe>
<script>try { const ws = new WebSocket(${JSON.stringify(wsUrl)}); ws.onopen = () => document.title += " (ws open)"; } catch {}
fetch("/xhr").then((r) => r.text()).then((t) => { document.body.dataset.xhr = t; }, () => {});</script>
</body></html>`;

async function failure(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    return err as AppError;
  }
  throw new Error("expected a failure");
}

/** The test's outbound fetch: loopback only, redirects answered as they are, /refused* refused like a policy would. */
async function loopbackFetch(request: CaptureFetchRequest): Promise<CaptureFetchResponse> {
  const url = new URL(request.url);
  if (url.hostname !== "127.0.0.1" || url.pathname.startsWith("/refused")) throw new AppError("outbound_refused", "This address is not allowed.");
  fetched += 1;
  const res = await fetch(url, { method: request.method, redirect: "manual", signal: AbortSignal.timeout(20_000), ...(request.body ? { body: request.body } : {}) });
  return { status: res.status, headers: Object.fromEntries(res.headers), body: Buffer.from(await res.arrayBuffer()) };
}

/** A fresh workDir for one call. */
async function workDir(name: string): Promise<string> {
  const path = join(dir, name);
  await mkdir(path);
  return path;
}

/** The body of the MHTML part at `location`, decoded (base64 or quoted-printable). */
function mhtmlPart(mhtml: string, location: string): Buffer {
  const start = mhtml.indexOf(`Content-Location: ${location}`);
  if (start < 0) throw new Error(`no part for ${location}`);
  const headerEnd = mhtml.indexOf("\r\n\r\n", start);
  const boundary = /boundary="([^"]+)"/.exec(mhtml)![1];
  const body = mhtml.slice(headerEnd + 4, mhtml.indexOf(`--${boundary}`, headerEnd));
  const headers = mhtml.slice(mhtml.lastIndexOf(`--${boundary}`, start), headerEnd);
  if (/base64/i.test(headers)) return Buffer.from(body.replace(/\s+/g, ""), "base64");
  return Buffer.from(body.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), "latin1");
}

function pdftotext(path: string): string {
  return execFileSync("pdftotext", ["-layout", path, "-"], { encoding: "utf8" });
}

function pdfPages(path: string): number {
  return Number(/Pages:\s+(\d+)/.exec(execFileSync("pdfinfo", [path], { encoding: "utf8" }))![1]);
}

function playwrightTempDirs(): Promise<string[]> {
  return readdir(tmpdir()).then((names) => names.filter((n) => n.startsWith("playwright")));
}

describe.runIf(available)("browser engine (Chromium)", () => {
  let tmpBefore: string[];
  let mhtmlPath: string;

  beforeAll(async () => {
    tmpBefore = await playwrightTempDirs();
    dir = await mkdtemp(join(tmpdir(), "transmute-browser-"));
    pngBytes = await sharp({ create: { width: 40, height: 40, channels: 3, background: { r: 10, g: 20, b: 200 } } }).png().toBuffer();
    server = createServer((req, res) => {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      serverHits.set(path, (serverHits.get(path) ?? 0) + 1);
      const send = (type: string, body: string | Buffer, status = 200) => res.writeHead(status, { "content-type": type }).end(body);
      if (path === "/start") return res.writeHead(302, { location: "/site/page.html" }).end();
      if (path === "/site/page.html") return send("text/html; charset=utf-8", PAGE(origin.replace("http:", "ws:") + "/ws"));
      if (path === "/site/style.css") return send("text/css", "#box{position:absolute;left:0;top:0;width:200px;height:100px;background:rgb(0,128,255)} .marker-css-7351{}");
      if (path === "/site/blue.png") return send("image/png", pngBytes);
      if (path === "/site/frame.html") return send("text/html", "<p>inner frame text</p>");
      if (path === "/xhr") return send("text/plain", "xhr-ok");
      if (path === "/hang") return; // never answers
      return send("text/plain", "not here", 404);
    });
    server.on("upgrade", (_req, socket) => {
      upgrades += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it("probes Chromium's version and the mhtml, html and md conversions", async () => {
    const probe = await probeBrowser();
    expect(probe.version).toMatch(/Chromium \d+/);
    expect(probe.conversions).toContainEqual({ from: "md", to: "pdf" });
    const missing = await probeBrowser({ command: "no-such-chromium" });
    expect(missing.available).toBe(false);
    expect(missing.missing).toMatch(/Debian package chromium/);
  });

  it("captures a redirected page with its image, stylesheet and iframe through the fetch only", async () => {
    const work = await workDir("capture");
    mhtmlPath = join(work, "page.mhtml");
    fetched = 0;
    const t0 = Date.now();
    const result = await engine.capture({ url: `${origin}/start`, outputPath: mhtmlPath, fetch: loopbackFetch, viewportWidth: 800, viewportHeight: 600, waitMs: 200 });
    console.log(`capture took ${Date.now() - t0} ms`);
    expect(result.finalUrl).toBe(`${origin}/site/page.html`);
    expect(result.title).toBe("Capture test");
    // start, page, style.css, blue.png, frame.html, xhr went through; refused.png and the WebSocket were blocked.
    expect(result.blocked).toBe(2);
    expect(result.requests).toBe(8);
    const mhtml = await readFile(mhtmlPath, "latin1");
    expect(mhtmlPart(mhtml, `${origin}/site/blue.png`).equals(pngBytes)).toBe(true);
    expect(mhtmlPart(mhtml, `${origin}/site/style.css`).toString()).toContain("marker-css-7351");
    expect(mhtml).toContain("inner frame text");
    expect(mhtml).toContain("xhr-ok");
    // Every request the server saw came through the test's fetch: none escaped, no WebSocket connected.
    const total = [...serverHits.values()].reduce((a, b) => a + b, 0);
    expect(total).toBe(fetched);
    expect(upgrades).toBe(0);
    expect((await readdir(work)).sort()).toEqual(["page.mhtml"]);
  });

  it("rethrows the fetch's refusal of the main document and fails a 404 page", async () => {
    const work = await workDir("refused");
    const refused = await failure(engine.capture({ url: `${origin}/refused-page`, outputPath: join(work, "p.mhtml"), fetch: loopbackFetch }));
    expect(refused.code).toBe("outbound_refused");
    const missing = await failure(engine.capture({ url: `${origin}/nothing-here`, outputPath: join(work, "p.mhtml"), fetch: loopbackFetch }));
    expect(missing.code).toBe("download_failed");
    expect(missing.message).toContain("404");
    expect(await readdir(work)).toEqual([]);
  });

  it("fails a capture past maxBytes, whether the document or its resources go over", async () => {
    const work = await workDir("max-bytes");
    const pageSize = Buffer.byteLength(PAGE(origin.replace("http:", "ws:") + "/ws"));
    for (const maxBytes of [100, pageSize + 50]) {
      const err = await failure(engine.capture({ url: `${origin}/site/page.html`, outputPath: join(work, "p.mhtml"), fetch: loopbackFetch, maxBytes }));
      expect([err.code, err.message]).toEqual(["limit_exceeded", `the page and its resources are larger than ${maxBytes} bytes`]);
    }
    expect(await readdir(work)).toEqual([]);
  });

  it("converts the MHTML to a png of the viewport's width with the page's colours", async () => {
    const work = await workDir("mhtml-png");
    const out = join(work, "out.png");
    const result = await engine.convert({ inputPath: mhtmlPath, outputPath: out, inputFormat: "mhtml", outputFormat: "png", options: { viewport_width: 640, page_size: "A3" } });
    expect(result.width).toBe(640);
    expect(result.ignoredOptions).toEqual(["page_size"]);
    const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    expect(info.width).toBe(640);
    const at = (x: number, y: number) => [...data.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3)];
    expect(at(100, 50)).toEqual([0, 128, 255]); // #box, from the archived stylesheet
    expect(at(400, 50)).toEqual([255, 255, 255]);
    expect(await readdir(work)).toEqual(["out.png"]);
  });

  it("converts the MHTML to a pdf with the iframe's text", async () => {
    const out = join(await workDir("mhtml-pdf"), "out.pdf");
    const result = await engine.convert({ inputPath: mhtmlPath, outputPath: out, inputFormat: "mhtml", outputFormat: "pdf", options: { page_size: "Letter", margin: "0.5in" } });
    expect(result.details?.pages).toBe(pdfPages(out));
    const text = pdftotext(out);
    expect(text).toContain("Captured heading");
    expect(text).toContain("inner frame text");
    expect(execFileSync("pdfinfo", [out], { encoding: "utf8" })).toMatch(/Page size:\s+612 x 792/);
  });

  it("converts html to pdf offline: no file:// iframe or image and no network", async () => {
    const work = await workDir("html-pdf");
    const input = join(work, "in.html");
    const secret = join(dir, "secret.txt");
    await writeFile(secret, "TOP-SECRET-4242");
    await writeFile(input, `<html><body><h1>Report title</h1><p>Body paragraph</p>
      <iframe src="file:///etc/passwd"></iframe><iframe src="file://${secret}"></iframe><object data="file://${secret}"></object>
      <img src="file:///usr/share/pixmaps/debian-logo.png"><img src="${origin}/site/blue.png"></body></html>`);
    const hitsBefore = serverHits.get("/site/blue.png") ?? 0;
    const out = join(work, "out.pdf");
    const result = await engine.convert({ inputPath: input, outputPath: out, inputFormat: "html", outputFormat: "pdf", options: { landscape: true } });
    const text = pdftotext(out);
    expect(text).toContain("Report title");
    expect(text).not.toContain("root:");
    expect(text).not.toContain("TOP-SECRET");
    expect(result.details?.blocked_requests).toBeGreaterThanOrEqual(4);
    expect(serverHits.get("/site/blue.png") ?? 0).toBe(hitsBefore);
    expect(execFileSync("pdfinfo", [out], { encoding: "utf8" })).toMatch(/Page size:\s+84[12]\.\d+ x 595\.\d+/);
  });

  it("converts Markdown to a pdf and to a jpg", async () => {
    const work = await workDir("md");
    const input = join(work, "in.md");
    await writeFile(input, "# Markdown Heading\n\nSome *emphasis* and a list:\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n");
    const pdf = join(work, "out.pdf");
    await engine.convert({ inputPath: input, outputPath: pdf, inputFormat: "md", outputFormat: "pdf" });
    expect(pdftotext(pdf)).toMatch(/Markdown Heading[\s\S]*emphasis/);
    const jpg = join(work, "out.jpg");
    const result = await engine.convert({ inputPath: input, outputPath: jpg, inputFormat: "md", outputFormat: "jpg", options: { viewport_width: 500, full_page: false, quality: 60 } });
    const meta = await sharp(jpg).metadata();
    expect([meta.format, meta.width, meta.height, result.width, result.height]).toEqual(["jpeg", 500, 800, 500, 800]);
  });

  it("refuses corrupt and empty inputs, bad options and pages over the pixel limit", async () => {
    const work = await workDir("bad");
    const junk = join(work, "junk.mhtml");
    await writeFile(junk, "this is not a MIME archive");
    const empty = join(work, "empty.html");
    await writeFile(empty, "");
    const tall = join(work, "tall.html");
    await writeFile(tall, `<div style="height:5000px;background:red"></div>`);
    const out = join(work, "out.png");
    expect((await failure(engine.convert({ inputPath: junk, outputPath: out, inputFormat: "mhtml", outputFormat: "png" }))).code).toBe("corrupt_file");
    expect((await failure(engine.convert({ inputPath: empty, outputPath: out, inputFormat: "html", outputFormat: "pdf" }))).code).toBe("corrupt_file");
    const bad = await failure(engine.convert({ inputPath: tall, outputPath: out, inputFormat: "html", outputFormat: "pdf", options: { margin: "3 furlongs" } }));
    expect([bad.code, bad.message]).toEqual(["invalid_option", expect.stringContaining("option margin must be")]);
    const big = await failure(engine.convert({ inputPath: tall, outputPath: out, inputFormat: "html", outputFormat: "png", limits: { maxPixels: 1_280 * 4_000 } }));
    expect(big.code).toBe("image_too_large");
    expect((await readdir(work)).sort()).toEqual(["empty.html", "junk.mhtml", "tall.html"]);
  });

  it("stops a page that never loads with engine_timeout and a canceled call, leaving no process or file", async () => {
    const work = await workDir("timeout");
    const t0 = Date.now();
    const call = failure(engine.capture({ url: `${origin}/hang`, outputPath: join(work, "p.mhtml"), fetch: loopbackFetch }, { timeoutMs: 2500 }));
    // The browser is up and waiting on the page: its processes name the call's workDir.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await processesNaming(work)).length).toBeGreaterThan(0);
    const timedOut = await call;
    expect(timedOut.code).toBe("engine_timeout");
    expect(Date.now() - t0).toBeLessThan(6000);
    expect(await processesNaming(work)).toEqual([]);
    expect(await readdir(work)).toEqual([]);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 1500);
    const canceled = await failure(engine.capture({ url: `${origin}/hang`, outputPath: join(work, "p.mhtml"), fetch: loopbackFetch }, { signal: controller.signal }));
    expect(canceled.code).toBe("canceled");
    expect(await processesNaming(work)).toEqual([]);
    expect(await readdir(work)).toEqual([]);
  });

  it("left nothing of Playwright's in the system temp directory", async () => {
    expect(await playwrightTempDirs()).toEqual(tmpBefore);
  });
});
