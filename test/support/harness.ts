/**
 * Test harness: a real Transmute on loopback (embedded, in this process), an API client on
 * fetch, and a few fixtures. Every server gets its own data directory, removed on close.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "@transmute/config";
import { startTransmute, type Transmute } from "@transmute/server";

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A running test server. */
export interface TestServer {
  app: Transmute;
  url: string;
  key: string;
  dataDir: string;
  api: ApiClient;
  close(): Promise<void>;
}

/** Starts an embedded server; `env` overrides settings. */
export async function startEmbedded(env: Record<string, string> = {}): Promise<TestServer> {
  const dataDir = env.TRANSMUTE_DATA_DIR ?? (await mkdtemp(join(tmpdir(), "transmute-test-")));
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = loadConfig(
    {
      PORT: String(port),
      PUBLIC_URL: url,
      TRANSMUTE_DATA_DIR: dataDir,
      LOG_LEVEL: "silent",
      TRANSMUTE_OUTBOUND_ALLOW: "127.0.0.1/32",
      TRANSMUTE_WORKER_CONCURRENCY: "2",
      ...env,
    },
    { role: "all" },
  );
  const app = await startTransmute({ config });
  const key = app.apiKey!;
  return {
    app,
    url,
    key,
    dataDir,
    api: apiClient(url, key),
    async close() {
      await app.close();
      if (!env.TRANSMUTE_DATA_DIR) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** An answer of the API. */
export interface ApiAnswer<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

/** A tiny FreeConvert client on fetch. */
export interface ApiClient {
  request<T = any>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiAnswer<T>>;
  get<T = any>(path: string): Promise<ApiAnswer<T>>;
  post<T = any>(path: string, body?: unknown): Promise<ApiAnswer<T>>;
}

/** Makes a client for `base` with `key`. */
export function apiClient(base: string, key: string | null): ApiClient {
  const request = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiAnswer> => {
    const init: RequestInit = { method, headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers } };
    if (body !== undefined) {
      init.body = typeof body === "string" ? body : JSON.stringify(body);
      (init.headers as Record<string, string>)["content-type"] ??= "application/json";
    }
    const res = await fetch(base + path, init);
    const text = await res.text();
    let parsed: unknown = text;
    if ((res.headers.get("content-type") ?? "").includes("json") && text.length > 0) parsed = JSON.parse(text);
    return { status: res.status, headers: res.headers, body: parsed };
  };
  return {
    request,
    get: (path) => request("GET", path),
    post: (path, body) => request("POST", path, body ?? {}),
  };
}

/** A loopback HTTP server serving fixed routes, for import/url. */
export async function serveFiles(routes: Record<string, { body: Buffer | string; type?: string; status?: number; headers?: Record<string, string> }>): Promise<{ url: string; server: Server; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? "");
    const route = routes[req.url ?? ""];
    if (!route) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(route.status ?? 200, { "content-type": route.type ?? "application/octet-stream", ...(route.headers ?? {}) });
    res.end(route.body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, server, hits, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Downloads a URL's bytes. */
export async function download(url: string): Promise<{ status: number; headers: Headers; bytes: Buffer }> {
  const res = await fetch(url);
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}
