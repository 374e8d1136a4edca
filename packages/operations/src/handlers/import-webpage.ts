/**
 * import/webpage: captures a web page in headless Chromium as one self-contained MHTML
 * snapshot. Every request the page makes (the document, its redirects, images, styles, frames,
 * scripts' fetches) is made here through the outbound policy, one hop at a time, so a page cannot
 * reach an address import/url could not; a refused subresource is left out, a refused page fails
 * the task with the policy's reason.
 */
import { AppError } from "@transmute/core";
import { safeFetch } from "@transmute/outbound";
import { join } from "node:path";
import { constants } from "node:buffer";
import { brotliDecompressSync, gunzipSync, inflateSync } from "node:zlib";
import type { OperationHandler } from "../context.js";
import { readAll } from "../context.js";
import { nameForFormat, nameFromUrl, stemOf } from "../names.js";

/** Headers a page's request may not set: hop-by-hop, and those the fetcher sets itself. */
const DROPPED_HEADERS = new Set(["host", "connection", "content-length", "transfer-encoding", "keep-alive", "upgrade", "proxy-authorization", "te", "trailer"]);

export const importWebpage: OperationHandler = {
  name: "import/webpage",
  async run(ctx) {
    if (!ctx.engines.browser) throw new AppError("unsupported_conversion", "This worker has no browser engine to capture web pages.");
    const payload = ctx.task.payload;
    const url = new URL(String(payload.url));
    const timeoutMs = Math.min(ctx.limits.importUrlTimeoutMs, ctx.limits.timeoutMs);
    const maxBytes = ctx.limits.importUrlMaxBytes;
    const outputPath = join(ctx.scratchDir, "page.mhtml");
    const capture = await ctx.engines.browser.capture(
      {
        url: url.href,
        outputPath,
        maxBytes,
        ...(typeof payload.viewport_width === "number" ? { viewportWidth: payload.viewport_width } : {}),
        ...(typeof payload.viewport_height === "number" ? { viewportHeight: payload.viewport_height } : {}),
        ...(typeof payload.wait_time === "number" ? { waitMs: payload.wait_time } : {}),
        async fetch(request) {
          const headers: Record<string, string> = {};
          for (const [key, value] of Object.entries(request.headers)) if (!DROPPED_HEADERS.has(key.toLowerCase())) headers[key] = value;
          // safeFetch hands bodies over as sent; the browser gets them decoded (decodeBody).
          for (const key of Object.keys(headers)) if (key.toLowerCase() === "accept-encoding") delete headers[key];
          headers["accept-encoding"] = "gzip, deflate, br";
          const res = await safeFetch(request.url, {
            policy: ctx.outbound,
            method: request.method,
            headers,
            ...(request.body ? { body: request.body } : {}),
            maxBytes,
            timeoutMs,
            followRedirects: false,
            signal: ctx.signal,
          });
          const raw = await readAll(res.body);
          const out: Record<string, string> = {};
          for (const [key, value] of Object.entries(res.headers)) if (value !== undefined) out[key] = Array.isArray(value) ? value.join(", ") : value;
          const body = decodeBody(raw, out["content-encoding"], maxBytes);
          delete out["content-encoding"];
          delete out["content-length"];
          return { status: res.status, headers: out, body };
        },
      },
      { signal: ctx.signal, timeoutMs: ctx.limits.timeoutMs },
    );
    const given = typeof payload.filename === "string" ? payload.filename : null;
    const stem = given ? stemOf(given) : (capture.title?.trim() || nameFromUrl(new URL(capture.finalUrl)) || url.hostname);
    await ctx.output.addFile(outputPath, nameForFormat(stem, "mhtml"));
    return { result: { url: capture.finalUrl, title: capture.title ?? null, requests: capture.requests, blocked_requests: capture.blocked } };
  },
};

/** A response body without its Content-Encoding, at most `maxBytes` once decoded (a gzip bomb fails). */
function decodeBody(raw: Buffer, encoding: string | undefined, maxBytes: number): Buffer {
  const codings = (encoding ?? "").split(",").map((c) => c.trim().toLowerCase()).filter((c) => c !== "" && c !== "identity");
  let body = raw;
  // zlib refuses a cap above what one Buffer can hold.
  const cap = Math.min(maxBytes, constants.MAX_LENGTH);
  try {
    for (const coding of codings.reverse()) {
      if (coding === "gzip" || coding === "x-gzip") body = gunzipSync(body, { maxOutputLength: cap });
      else if (coding === "deflate") body = inflateSync(body, { maxOutputLength: cap });
      else if (coding === "br") body = brotliDecompressSync(body, { maxOutputLength: cap });
      else throw new AppError("download_failed", `The page answered with an unknown content encoding "${coding}".`);
    }
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError("download_failed", "A response of the page could not be decoded (damaged or larger than the download limit).", { cause: err });
  }
  return body;
}
