/**
 * Fixtures of the scaled-out tests: a loopback file server whose answers the test controls
 * (served at once, after a delay, or held half-sent until the test releases them), and images.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import sharp from "sharp";
import { afterEach } from "vitest";
import type { Cluster } from "../support/cluster.js";

/** A route of the source server. */
export interface SourceRoute {
  body: Buffer;
  type?: string;
  /** Answer only after this many ms. */
  delayMs?: number;
  /** Hold requests half-sent until released (see `hold`). */
  gate?: Gate;
}

/** Holds the answers of a route: the headers and half the body go out, the rest waits for `release()`. */
export interface Gate {
  /** Resolves when a request reached the gate. */
  requested: Promise<void>;
  /** How many requests reached it. */
  count: number;
  /** Sends the rest of every held answer, and answers later requests at once. */
  release(): void;
  released: boolean;
}

/** A gate that holds the answers of a route until released. */
export function createGate(): Gate {
  let onRequest!: () => void;
  const requested = new Promise<void>((resolve) => (onRequest = resolve));
  const waiting = new Set<() => void>();
  const gate: Gate & { arrive(): Promise<void> } = {
    requested,
    count: 0,
    released: false,
    release() {
      gate.released = true;
      for (const w of waiting) w();
      waiting.clear();
    },
    arrive() {
      gate.count++;
      onRequest();
      if (gate.released) return Promise.resolve();
      return new Promise<void>((resolve) => waiting.add(resolve));
    },
  };
  return gate;
}

/** The loopback server import/url downloads from. */
export interface SourceServer {
  url: string;
  /** Request paths in order. */
  hits: string[];
  route(path: string, route: SourceRoute): void;
  close(): Promise<void>;
}

/** Starts the source server on 127.0.0.1 (allowed by TRANSMUTE_OUTBOUND_ALLOW in the clusters). */
export async function startSourceServer(): Promise<SourceServer> {
  const routes = new Map<string, SourceRoute>();
  const hits: string[] = [];
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? "";
    hits.push(path);
    const route = routes.get(path);
    if (!route) {
      res.writeHead(404).end("not found");
      return;
    }
    if (route.delayMs) await new Promise((resolve) => setTimeout(resolve, route.delayMs));
    res.writeHead(200, { "content-type": route.type ?? "application/octet-stream", "content-length": String(route.body.length) });
    if (route.gate) {
      const half = Math.floor(route.body.length / 2);
      res.write(route.body.subarray(0, half));
      await (route.gate as Gate & { arrive(): Promise<void> }).arrive();
      if (!res.destroyed) res.end(route.body.subarray(half));
      return;
    }
    res.end(route.body);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    route: (path, route) => void routes.set(path, route),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A JPEG of `width` x `height` with some detail (a gradient), so conversions do real work. */
export async function makeJpeg(width: number, height: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      raw[i] = (x * 255) / width;
      raw[i + 1] = (y * 255) / height;
      raw[i + 2] = ((x + y) * 7) % 256;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
}

/** The reference job of FreeConvert's docs: import/url -> convert -> export/url. */
export function referenceJob(url: string, outputFormat = "png", tag?: string) {
  return {
    ...(tag ? { tag } : {}),
    tasks: {
      "import-my-file": { operation: "import/url", url },
      "convert-my-file": { operation: "convert", input: "import-my-file", input_format: "jpg", output_format: outputFormat },
      "export-my-file": { operation: "export/url", input: ["convert-my-file"] },
    },
  };
}

/** Prints the cluster's process output when a test of the file fails. */
export function printLogsOnFailure(cluster: () => Cluster | undefined): void {
  afterEach((ctx) => {
    const c = cluster();
    if (c && ctx.task.result?.state === "fail") console.error(`\n===== process output =====\n${c.logs()}\n===== end =====\n`);
  });
}

/** The pid in a worker id (`host:pid:random`, the Task.server field). */
export function pidOfServer(server: unknown): number | null {
  if (typeof server !== "string") return null;
  const parts = server.split(":");
  const pid = Number(parts[parts.length - 2]);
  return Number.isInteger(pid) ? pid : null;
}
