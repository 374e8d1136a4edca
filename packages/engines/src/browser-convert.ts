/**
 * Page conversions with Chromium: an MHTML snapshot, an HTML file or a Markdown file to a
 * screenshot (png, jpg) or a printed PDF, offline. The input is loaded from a copy under
 * workDir by its file:// URL (Chromium renders MHTML only from files); every other request,
 * http or file:// alike, is refused by the route, so a document cannot pull in the network or
 * another file of the worker (an `<iframe src="file:///etc/passwd">`).
 */
import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { marked } from "marked";
import { PDFDocument } from "pdf-lib";
import sharp from "sharp";
import { AppError, BROWSER_DEFAULTS, normalizeFormat, parseBrowserOptions, type BrowserOptions } from "@transmute/core";
import type { ConvertContext, ConvertRequest, ConvertResult } from "./engine.js";
import { withBrowser, type BrowserLaunchSettings } from "./browser-launch.js";

/** Inputs the browser engine converts. */
export const BROWSER_INPUTS = ["mhtml", "html", "md"] as const;

/** What one conversion needs from its engine. */
export interface BrowserConvertSettings extends BrowserLaunchSettings {
  executablePath: string;
  timeoutMs: number;
  /** Most pixels of a screenshot when the request sets no limit. */
  maxPixels: number;
}

/** Chromium cannot paint a screenshot taller than this (Skia's largest surface side), in CSS px. */
const MAX_SCREENSHOT_SIDE = 32_767;

/** A readable default for Markdown, which brings no style of its own. */
const MARKDOWN_STYLE = `body{font-family:"DejaVu Sans","Liberation Sans","Noto Sans CJK SC",sans-serif;line-height:1.55;color:#1f2328;max-width:860px;margin:2em auto;padding:0 1.5em}
h1,h2{border-bottom:1px solid #d8dee4;padding-bottom:.3em}code,pre{font-family:"DejaVu Sans Mono",monospace;background:#f6f8fa;border-radius:4px}
code{padding:.15em .3em}pre{padding:1em;overflow-x:auto}pre code{padding:0}blockquote{margin:0;padding:0 1em;color:#59636e;border-left:.25em solid #d1d9e0}
table{border-collapse:collapse}th,td{border:1px solid #d1d9e0;padding:.4em .8em}img{max-width:100%}a{color:#0969da}`;

/** Converts one mhtml, html or md file to png, jpg or pdf. */
export async function convertDocument(settings: BrowserConvertSettings, request: ConvertRequest, context: ConvertContext = {}): Promise<ConvertResult> {
  const from = normalizeFormat(request.inputFormat);
  const to = normalizeFormat(request.outputFormat);
  if (!(BROWSER_INPUTS as readonly string[]).includes(from) || !["png", "jpg", "pdf"].includes(to)) {
    throw new AppError("unsupported_conversion", `the browser engine converts ${BROWSER_INPUTS.join(", ")} to png, jpg or pdf, not ${from} to ${to}`);
  }
  const { values, ignored } = parseBrowserOptions(request.options, to);
  const workDir = request.workDir ?? dirname(request.outputPath);
  const input = await readFile(request.inputPath);
  checkInput(input, from);
  const docDir = await mkdtemp(join(workDir, ".page-"));
  try {
    const docPath = join(docDir, `document.${from === "mhtml" ? "mhtml" : "html"}`);
    if (from === "md") await writeFile(docPath, markdownPage(input.toString("utf8")));
    else await copyFile(request.inputPath, docPath);
    const docUrl = pathToFileURL(docPath).href;
    const viewport = { width: values.viewport_width ?? BROWSER_DEFAULTS.viewport_width, height: values.viewport_height ?? BROWSER_DEFAULTS.viewport_height };
    const contextOptions = {
      viewport,
      deviceScaleFactor: 1,
      // The input is untrusted and its output is all we want: no script may run, so nothing can
      // probe the worker, loop forever or rewrite the page after load. (MHTML runs none anyway.)
      javaScriptEnabled: false,
      serviceWorkers: "block" as const,
      acceptDownloads: false,
    };
    const limits = { timeoutMs: context.timeoutMs ?? settings.timeoutMs, what: "the conversion", ...(context.signal ? { signal: context.signal } : {}) };
    return await withBrowser(settings.executablePath, workDir, settings, contextOptions, limits, async ({ context: browser }) => {
      let refused = 0;
      await browser.route("**/*", (route) => {
        if (route.request().url() === docUrl) return route.continue();
        refused += 1;
        return route.abort("blockedbyclient");
      });
      const page = await browser.newPage();
      try {
        await page.goto(docUrl, { waitUntil: "load", timeout: 0 });
      } catch (err) {
        throw new AppError("corrupt_file", `the ${from} file could not be opened`, { detail: String(err) });
      }
      const details: Record<string, unknown> = { blocked_requests: refused };
      if (to === "pdf") {
        await page.pdf({
          path: request.outputPath,
          format: values.page_size ?? BROWSER_DEFAULTS.page_size,
          landscape: values.landscape ?? BROWSER_DEFAULTS.landscape,
          printBackground: values.print_background ?? BROWSER_DEFAULTS.print_background,
          margin: margins(values),
        });
        const pages = (await PDFDocument.load(await readFile(request.outputPath), { updateMetadata: false })).getPageCount();
        if (request.limits?.maxPages !== undefined && pages > request.limits.maxPages) {
          throw new AppError("limit_exceeded", `the document prints to ${pages} pages; at most ${request.limits.maxPages} are allowed`);
        }
        const { size } = await stat(request.outputPath);
        return { format: "pdf", size, ignoredOptions: ignored, details: { ...details, pages } };
      }
      const fullPage = values.full_page ?? BROWSER_DEFAULTS.full_page;
      if (fullPage) {
        const cdp = await browser.newCDPSession(page);
        const metrics = (await cdp.send("Page.getLayoutMetrics")) as { cssContentSize: { width: number; height: number } };
        const width = Math.max(viewport.width, Math.ceil(metrics.cssContentSize.width));
        const height = Math.max(viewport.height, Math.ceil(metrics.cssContentSize.height));
        const maxPixels = request.limits?.maxPixels ?? settings.maxPixels;
        if (width * height > maxPixels || height > MAX_SCREENSHOT_SIDE || width > MAX_SCREENSHOT_SIDE) {
          throw new AppError("image_too_large", `the page is ${width}x${height} pixels in full; at most ${maxPixels} pixels (and ${MAX_SCREENSHOT_SIDE} a side) are allowed: set full_page to false or a smaller viewport_width`);
        }
      }
      await page.screenshot({
        path: request.outputPath,
        type: to === "jpg" ? "jpeg" : "png",
        fullPage,
        ...(to === "jpg" ? { quality: values.quality ?? BROWSER_DEFAULTS.quality } : {}),
      });
      const meta = await sharp(request.outputPath).metadata();
      const { size } = await stat(request.outputPath);
      return { format: to, size, width: meta.width, height: meta.height, ignoredOptions: ignored, details };
    });
  } catch (err) {
    await rm(request.outputPath, { force: true }).catch(() => undefined);
    throw err;
  } finally {
    await rm(docDir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Refuses inputs Chromium would render as an empty or garbled page instead of failing. */
function checkInput(input: Buffer, from: string): void {
  if (input.length === 0) throw new AppError("corrupt_file", `the ${from} file is empty`);
  const head = input.subarray(0, 65_536);
  if (from === "mhtml") {
    // An MHTML file is a MIME message whose root is multipart/related (RFC 2557).
    if (!/^content-type:\s*multipart\/related/im.test(head.toString("latin1"))) {
      throw new AppError("corrupt_file", "the file is not an MHTML archive (no multipart/related MIME header)");
    }
  } else if (head.includes(0) && !isUtf16(head)) {
    throw new AppError("corrupt_file", `the file is not ${from === "md" ? "Markdown" : "HTML"} text (it holds binary data)`);
  }
}

/** A UTF-16 text starts with its byte order mark; its NUL bytes are not binary data. */
function isUtf16(head: Buffer): boolean {
  return (head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff);
}

/** Markdown rendered to a whole HTML document; raw HTML in it stays, offline and without scripts like any HTML input. */
function markdownPage(markdown: string): string {
  const body = marked.parse(markdown, { async: false, gfm: true });
  return `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><style>${MARKDOWN_STYLE}</style></head>\n<body>\n${body}</body></html>\n`;
}

function margins(values: BrowserOptions): { top: string; right: string; bottom: string; left: string } {
  const m = values.margin ?? BROWSER_DEFAULTS.margin;
  return { top: m, right: m, bottom: m, left: m };
}
