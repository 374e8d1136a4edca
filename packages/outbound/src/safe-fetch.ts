import http from "node:http";
import https from "node:https";
import type { IncomingHttpHeaders, IncomingMessage, ClientRequest } from "node:http";
import type { Socket } from "node:net";
import { Readable } from "node:stream";
import { AppError } from "@transmute/core";
import type { OutboundPolicy } from "./policy.js";
import { assertUrlAllowed, getConnectHost, redactUrl } from "./policy.js";
import type { Resolver } from "./guarded-lookup.js";
import { createGuardedAgent } from "./guarded-lookup.js";
import { toDownloadError } from "./network-errors.js";

/** Options of safeFetch. */
export interface SafeFetchOptions {
  /** Decides which addresses may be connected to; checked on every hop at connect time. */
  policy: OutboundPolicy;
  /** HTTP method; default GET. */
  method?: string;
  /** Request headers. Authorization and Cookie are dropped on a redirect to another origin. */
  headers?: Record<string, string>;
  /** Request body; a buffer, not a stream, so a 307/308 redirect can send it again. */
  body?: string | Uint8Array;
  /** Largest response body accepted, in bytes; larger fails with `file_too_large`. */
  maxBytes?: number;
  /** Budget for the whole exchange: every hop, every connection and reading the body to the end. */
  timeoutMs: number;
  /** Budget for each connection (DNS, TCP and TLS handshake); default: only the total applies. */
  connectTimeoutMs?: number;
  /** Most redirects followed; default 5. */
  maxRedirects?: number;
  /** Follow redirects (default); when false a 3xx is returned as is. */
  followRedirects?: boolean;
  /** Cancels the exchange, failing with a `canceled` AppError. */
  signal?: AbortSignal;
  /** Replaces the system resolver (tests; the address it returns is still checked). */
  resolve?: Resolver;
}

/** A response whose body is still streaming. */
export interface SafeFetchResponse {
  status: number;
  statusText: string;
  headers: IncomingHttpHeaders;
  /** The URL of the last hop, without credentials. */
  finalUrl: string;
  /** How many redirects were followed. */
  redirects: number;
  /**
   * The raw body bytes (Content-Encoding is not decoded: files are files). Fails with an
   * AppError (`file_too_large`, `download_failed`, `canceled`) if the exchange breaks while
   * streaming; destroy it to abandon the download.
   */
  body: Readable;
}

const DEFAULT_MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const CROSS_ORIGIN_DROPPED = new Set(["authorization", "cookie", "proxy-authorization"]);
const BODY_HEADERS = new Set(["content-type", "content-length", "content-encoding", "content-language", "content-location", "transfer-encoding"]);

function createTooLargeError(maxBytes: number, declared?: number): AppError {
  const size = declared === undefined ? "" : ` (${declared} bytes)`;
  return new AppError("file_too_large", `The file at the URL is larger than the limit of ${maxBytes} bytes${size}`, { retryable: false });
}

/**
 * Fetches a URL on a caller's behalf under the outbound policy, built on node:http/https so
 * that nothing (redirects, data: URLs, DNS) happens without a check. Every hop's scheme is
 * checked, every address is checked at connect time, redirects are followed by hand; the body
 * streams with `maxBytes` and the total timeout enforced until its last byte. Throws AppError:
 * `outbound_refused`, `invalid_payload` (not a URL), `download_failed` (network, timeout, too
 * many redirects), `file_too_large`, `canceled`. A non-2xx status is returned, not thrown.
 */
export async function safeFetch(input: string | URL, options: SafeFetchOptions): Promise<SafeFetchResponse> {
  const { policy, timeoutMs, connectTimeoutMs, maxBytes, signal } = options;
  const maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const followRedirects = options.followRedirects ?? true;
  if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) throw new RangeError("safeFetch: timeoutMs must be a positive number");

  let url = assertUrlAllowed(policy, input);
  let method = (options.method ?? "GET").toUpperCase();
  let body = options.body;
  let headers = normalizeHeaders(options.headers ?? {});

  const agentOptions = options.resolve ? { resolve: options.resolve } : {};
  let httpAgent: http.Agent | undefined;
  let httpsAgent: https.Agent | undefined;
  const agentFor = (u: URL): http.Agent =>
    u.protocol === "https:"
      ? (httpsAgent ??= createGuardedAgent(policy, { ...agentOptions, https: true }))
      : (httpAgent ??= createGuardedAgent(policy, agentOptions));

  // One place decides how the exchange ends early, whichever phase it is in.
  let failure: AppError | undefined;
  let activeRequest: ClientRequest | undefined;
  let activeBody: Readable | undefined;
  const fail = (err: AppError): void => {
    if (failure) return;
    failure = err;
    finish();
    if (activeBody) activeBody.destroy(err);
    else activeRequest?.destroy(err);
  };
  const timer = setTimeout(
    () => fail(new AppError("download_failed", `Download from ${url.host} timed out after ${timeoutMs} ms`, { retryable: true })),
    timeoutMs,
  );
  const onAbort = (): void => fail(new AppError("canceled", "The download was canceled", { cause: signal?.reason }));
  const finish = (): void => {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  };
  if (signal?.aborted) {
    finish();
    throw new AppError("canceled", "The download was canceled", { cause: signal.reason });
  }
  signal?.addEventListener("abort", onAbort, { once: true });

  try {
    for (let redirects = 0; ; redirects++) {
      if (failure) throw failure;
      const { request, response } = sendRequest(url, { method, headers, body, agent: agentFor(url), connectTimeoutMs });
      activeRequest = request;
      const res = await response;
      const status = res.statusCode ?? 0;
      const location = res.headers.location;

      if (followRedirects && REDIRECT_STATUSES.has(status) && location !== undefined) {
        res.destroy();
        if (redirects >= maxRedirects) {
          throw new AppError("download_failed", `Too many redirects: gave up after ${maxRedirects}`, { retryable: false, detail: `last hop ${redactUrl(url)}` });
        }
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          throw new AppError("download_failed", `${url.host} redirected to an invalid URL`, { retryable: false });
        }
        next = assertUrlAllowed(policy, next);
        if ((status === 301 || status === 302 || status === 303) && method !== "HEAD") {
          method = "GET";
          body = undefined;
          headers = dropHeaders(headers, BODY_HEADERS);
        }
        if (next.origin !== url.origin) headers = dropHeaders(headers, CROSS_ORIGIN_DROPPED);
        url = next;
        continue;
      }

      const declared = parseContentLength(res.headers["content-length"]);
      if (maxBytes !== undefined && method !== "HEAD" && declared !== undefined && declared > maxBytes) {
        res.destroy();
        throw createTooLargeError(maxBytes, declared);
      }
      activeBody = streamBody(res, { maxBytes, fail, finish, host: url.host });
      return {
        status,
        statusText: res.statusMessage ?? "",
        headers: res.headers,
        finalUrl: redactUrl(url),
        redirects,
        body: activeBody,
      };
    }
  } catch (err) {
    finish();
    activeRequest?.destroy();
    throw failure ?? toDownloadError(err, url.host);
  }
}

function normalizeHeaders(input: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(input)) out[name.toLowerCase()] = value;
  out["user-agent"] ??= "Transmute";
  return out;
}

function dropHeaders(headers: Record<string, string>, names: Set<string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !names.has(name)));
}

function parseContentLength(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

interface HopOptions {
  method: string;
  headers: Record<string, string>;
  body: string | Uint8Array | undefined;
  agent: http.Agent;
  connectTimeoutMs: number | undefined;
}

/** Sends one request; the promise settles with the response head or the request's error. */
function sendRequest(url: URL, hop: HopOptions): { request: ClientRequest; response: Promise<IncomingMessage> } {
  const isHttps = url.protocol === "https:";
  const headers = { ...hop.headers };
  if (hop.body !== undefined) headers["content-length"] ??= String(Buffer.byteLength(hop.body));
  const requestOptions: https.RequestOptions = {
    protocol: url.protocol,
    hostname: getConnectHost(url),
    port: url.port === "" ? undefined : Number(url.port),
    path: `${url.pathname}${url.search}`,
    method: hop.method,
    headers,
    agent: hop.agent,
  };
  if (url.username !== "" || url.password !== "") {
    requestOptions.auth = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  }

  const request = (isHttps ? https : http).request(requestOptions);
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    request.once("response", resolve);
    // Stays attached after the response: a late socket error must not become an uncaught one.
    request.on("error", reject);
  });

  if (hop.connectTimeoutMs !== undefined) {
    const limit = hop.connectTimeoutMs;
    request.once("socket", (socket: Socket) => {
      if (!socket.connecting) return;
      const timer = setTimeout(() => {
        request.destroy(new AppError("download_failed", `Connecting to ${url.host} timed out after ${limit} ms`, { retryable: true }));
      }, limit);
      const clear = (): void => clearTimeout(timer);
      socket.once(isHttps ? "secureConnect" : "connect", clear);
      socket.once("close", clear);
    });
  }

  request.end(hop.body);
  return { request, response };
}

interface BodyControl {
  maxBytes: number | undefined;
  fail: (err: AppError) => void;
  finish: () => void;
  host: string;
}

/**
 * Wraps the response in a Readable that counts bytes as they arrive, so `maxBytes` holds even
 * when Content-Length is absent or wrong, and maps every way the stream can break to AppError.
 */
function streamBody(res: IncomingMessage, control: BodyControl): Readable {
  let received = 0;
  let ended = false;
  const body = new Readable({
    read() {
      res.resume();
    },
    destroy(err, callback) {
      res.destroy();
      control.finish();
      callback(err);
    },
  });

  res.on("data", (chunk: Buffer) => {
    received += chunk.length;
    if (control.maxBytes !== undefined && received > control.maxBytes) {
      control.fail(createTooLargeError(control.maxBytes));
      return;
    }
    if (!body.push(chunk)) res.pause();
  });
  res.pause();
  res.once("end", () => {
    ended = true;
    control.finish();
    body.push(null);
  });
  res.once("error", (err) => {
    if (!body.destroyed) body.destroy(toDownloadError(err, control.host));
  });
  res.once("close", () => {
    if (!ended && !res.complete && !body.destroyed) {
      body.destroy(new AppError("download_failed", `Connection to ${control.host} closed before the whole file was received`, { retryable: true }));
    }
  });
  return body;
}
