/**
 * Web page capture: Chromium loads the page with every request answered through the caller's
 * `fetch` (its outbound policy), then writes an MHTML snapshot of what it rendered.
 *
 * Redirects: Playwright routes only the first request of a redirect chain; when a route is
 * fulfilled with a 3xx, Chromium follows it on its own, past the route, straight to the network
 * (here: to the dead proxy, so it fails). Redirects are therefore followed here, through
 * `fetch`, at most MAX_REDIRECTS per request. The main document's chain is followed before
 * navigating, so the page is loaded at its final URL and its relative links resolve against it;
 * a redirected subresource is answered with its final response under its first URL.
 */
import { writeFile, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import type { Page, Route } from "playwright-core";
import { AppError, isAppError } from "@transmute/core";
import type { CaptureFetchResponse, CaptureRequest, CaptureResult, ConvertContext } from "./engine.js";
import { withBrowser, type BrowserLaunchSettings } from "./browser-launch.js";

/** Most redirects followed for one request (browsers stop at 20; real pages need 1 or 2). */
export const MAX_REDIRECTS = 10;

/**
 * Headers not passed on to Chromium: the body handed to fulfill() is already decoded and
 * complete (Node's fetch inflates gzip and br), so a content-encoding would make Chromium
 * decode it twice and a stale length would cut it.
 */
const DROPPED_HEADERS = new Set(["content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive"]);

/** What one capture needs from its engine. */
export interface CaptureSettings extends BrowserLaunchSettings {
  executablePath: string;
  timeoutMs: number;
}

/** Loads `request.url` with every request going through `request.fetch`, and writes its MHTML snapshot. */
export async function capturePage(settings: CaptureSettings, request: CaptureRequest, context: ConvertContext = {}): Promise<CaptureResult> {
  const workDir = dirname(request.outputPath);
  if (!/^https?:$/.test(URL.canParse(request.url) ? new URL(request.url).protocol : "")) {
    throw new AppError("download_failed", "the page's URL is not an http or https URL", { detail: request.url });
  }
  const stats = { requests: 0, blocked: 0, bytes: 0, overLimit: false };
  const limits = { timeoutMs: context.timeoutMs ?? settings.timeoutMs, what: "the capture", ...(context.signal ? { signal: context.signal } : {}) };
  const contextOptions = {
    viewport: { width: request.viewportWidth ?? 1280, height: request.viewportHeight ?? 800 },
    // A service worker's own requests are not routed by Playwright: none may start.
    serviceWorkers: "block" as const,
    acceptDownloads: false,
  };
  try {
    return await withBrowser(settings.executablePath, workDir, settings, contextOptions, limits, async ({ context: browser }) => {
      /** One request through fetch with its redirects followed; counts bytes against maxBytes. */
      const fetchFollowing = async (url: string, method: string, headers: Record<string, string>, body?: Buffer) => {
        let current = { url, method, body };
        for (let hop = 0; ; hop++) {
          // Each hop of a redirect chain is a request the page made.
          stats.requests += 1;
          const answer: CaptureFetchResponse = await request.fetch({ url: current.url, method: current.method, headers, ...(current.body ? { body: current.body } : {}) });
          stats.bytes += answer.body.length;
          if (request.maxBytes !== undefined && stats.bytes > request.maxBytes) {
            stats.overLimit = true;
            throw new AppError("limit_exceeded", `the page and its resources are larger than ${request.maxBytes} bytes`);
          }
          const location = header(answer.headers, "location");
          if (answer.status < 300 || answer.status > 399 || answer.status === 304 || !location) return { url: current.url, answer };
          if (hop >= MAX_REDIRECTS) throw new AppError("download_failed", `${current.url} redirects more than ${MAX_REDIRECTS} times`);
          // 307 and 308 repeat the method and body; the others turn into a GET, as browsers do.
          const keep = answer.status === 307 || answer.status === 308;
          current = { url: new URL(location, current.url).href, method: keep ? current.method : "GET", body: keep ? current.body : undefined };
        }
      };

      const main = await fetchFollowing(withoutHash(request.url), "GET", {}).catch((err: unknown) => {
        throw isAppError(err) ? err : new AppError("download_failed", "the page could not be downloaded", { detail: String(err) });
      });
      if (main.answer.status >= 400) throw new AppError("download_failed", `the page answered with HTTP status ${main.answer.status}`, { detail: main.url });
      let mainPending: typeof main | undefined = main;

      const page: Page = await browser.newPage();
      await browser.routeWebSocket(/.*/, (ws) => {
        stats.requests += 1;
        stats.blocked += 1;
        void ws.close({ code: 1008, reason: "blocked" }).catch(() => undefined);
      });
      await browser.route("**/*", async (route: Route) => {
        const req = route.request();
        // The main document was fetched before navigating: its first load is served from that.
        if (mainPending && withoutHash(req.url()) === mainPending.url && req.isNavigationRequest()) {
          const { answer } = mainPending;
          mainPending = undefined;
          return fulfill(route, answer);
        }
        const scheme = new URL(req.url()).protocol;
        if (stats.overLimit || (scheme !== "http:" && scheme !== "https:")) {
          stats.requests += 1;
          stats.blocked += 1;
          return route.abort("blockedbyclient").catch(() => undefined);
        }
        try {
          const { answer } = await fetchFollowing(req.url(), req.method(), req.headers(), req.postDataBuffer() ?? undefined);
          await fulfill(route, answer);
        } catch {
          stats.blocked += 1;
          await route.abort("blockedbyclient").catch(() => undefined);
        }
      });
      try {
        await page.goto(new URL(new URL(request.url).hash, main.url).href, { waitUntil: "load", timeout: 0 });
      } catch (err) {
        throw new AppError("download_failed", "the page could not be loaded", { detail: String(err) });
      }
      if (request.waitMs) await page.waitForTimeout(request.waitMs);
      if (stats.overLimit) throw new AppError("limit_exceeded", `the page and its resources are larger than ${request.maxBytes} bytes`);
      const cdp = await browser.newCDPSession(page);
      const { data } = (await cdp.send("Page.captureSnapshot", { format: "mhtml" })) as { data: string };
      await writeFile(request.outputPath, data);
      const title = (await page.title().catch(() => "")).trim();
      const { size } = await stat(request.outputPath);
      return { format: "mhtml", size, ...(title ? { title } : {}), finalUrl: page.url(), requests: stats.requests, blocked: stats.blocked };
    });
  } catch (err) {
    await rm(request.outputPath, { force: true }).catch(() => undefined);
    throw err;
  }
}

function fulfill(route: Route, answer: CaptureFetchResponse): Promise<void> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(answer.headers)) if (!DROPPED_HEADERS.has(name.toLowerCase())) headers[name] = value;
  return route.fulfill({ status: answer.status, headers, body: answer.body }).catch(() => undefined);
}

/** The URL as Chromium requests it: normalised, without its fragment. */
function withoutHash(url: string): string {
  const parsed = new URL(url);
  parsed.hash = "";
  return parsed.href;
}

function header(headers: Record<string, string>, name: string): string | undefined {
  return Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1];
}
