// Real servers on loopback for the outbound tests. Each counts the TCP connections it
// accepted, so a test can prove that a refused destination was never connected to.
import http from "node:http";
import https from "node:https";
import net from "node:net";
import type { AddressInfo } from "node:net";

/** What a test server saw of one request. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  remoteAddress: string;
}

/** A listening loopback server plus what it observed. */
export interface LoopbackServer {
  host: string;
  port: number;
  /** Accepted TCP connections, counted before any byte is read. */
  connections: number;
  requests: SeenRequest[];
  /** A URL on this server, e.g. url("/file"). */
  url(path?: string): string;
  close(): Promise<void>;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, seen: SeenRequest) => void;

function formatHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

async function listen(server: net.Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

function track(server: net.Server, scheme: string, host: string, port: number, state: { connections: number; requests: SeenRequest[] }): LoopbackServer {
  const sockets = new Set<net.Socket>();
  server.on("connection", (socket: net.Socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  return {
    host,
    port,
    get connections() {
      return state.connections;
    },
    requests: state.requests,
    url: (path = "/") => `${scheme}://${formatHost(host)}:${port}${path}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function wrapHandler(handler: Handler, state: { requests: SeenRequest[] }): http.RequestListener {
  return (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const seen: SeenRequest = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
        remoteAddress: req.socket.remoteAddress ?? "",
      };
      state.requests.push(seen);
      handler(req, res, seen);
    });
  };
}

/** Starts an HTTP server on a loopback address (port 0 picks a free one). */
export async function startHttpServer(handler: Handler, host = "127.0.0.1", port = 0): Promise<LoopbackServer> {
  const state = { connections: 0, requests: [] as SeenRequest[] };
  const server = http.createServer(wrapHandler(handler, state));
  const bound = await listen(server, host, port);
  return track(server, "http", host, bound, state);
}

/** Starts an HTTPS server with the given key and certificate on a loopback address. */
export async function startHttpsServer(handler: Handler, tls: { key: string; cert: string }, host = "127.0.0.1"): Promise<LoopbackServer> {
  const state = { connections: 0, requests: [] as SeenRequest[] };
  const server = https.createServer(tls, wrapHandler(handler, state));
  const bound = await listen(server, host, 0);
  return track(server, "https", host, bound, state);
}

/** Starts a TCP server that accepts connections and never says anything. */
export async function startSilentServer(host = "127.0.0.1"): Promise<LoopbackServer> {
  const state = { connections: 0, requests: [] as SeenRequest[] };
  const server = net.createServer(() => {});
  const bound = await listen(server, host, 0);
  return track(server, "http", host, bound, state);
}

/** Gives a connection that a flawed client might open asynchronously the time to show up. */
export function settle(ms = 100): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
