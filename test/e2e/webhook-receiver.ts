/**
 * A real webhook receiver on loopback for the webhook tests: each path answers as its script
 * says, attempt by attempt, and every request is recorded with its raw body and headers.
 */
import { createHmac } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** A request the receiver got. */
export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  body: any;
  at: number;
}

/** How the receiver answers one request: a status, "hang" (never answers) or "huge" (a 100 MB body). */
export type Answer = number | "hang" | "huge";

/** A running receiver. */
export interface Receiver {
  url: string;
  received: Received[];
  /** Answers of `path`, attempt by attempt; the last repeats. */
  script(path: string, answers: Answer[]): void;
  /** Requests to `path` so far. */
  to(path: string): Received[];
  /** Bytes of the 100 MB answers actually written before the sender dropped the connection. */
  hugeBytesWritten: number[];
  close(): Promise<void>;
}

/** The hex HMAC-SHA256 a receiver computes to verify FreeConvert-Signature. */
export function expectedSignature(raw: string, secret: string): string {
  return createHmac("sha256", secret).update(raw).digest("hex");
}

const HUGE = 100 * 1024 * 1024;

/** Starts a receiver on 127.0.0.1. */
export async function startReceiver(): Promise<Receiver> {
  const scripts = new Map<string, Answer[]>();
  const received: Received[] = [];
  const hugeBytesWritten: number[] = [];
  const hanging = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      const path = req.url ?? "/";
      let body: unknown = null;
      try {
        body = JSON.parse(raw);
      } catch {
        /* recorded raw */
      }
      received.push({ path, headers: req.headers, raw, body, at: Date.now() });
      const answers = scripts.get(path) ?? [200];
      const n = received.filter((r) => r.path === path).length;
      const answer = answers[Math.min(n - 1, answers.length - 1)]!;
      if (answer === "hang") {
        hanging.add(res);
        return;
      }
      if (answer === "huge") {
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(HUGE) });
        const chunk = Buffer.alloc(64 * 1024, 120);
        let written = 0;
        const index = hugeBytesWritten.push(0) - 1;
        const pump = (): void => {
          while (written < HUGE && !res.destroyed) {
            written += chunk.length;
            hugeBytesWritten[index] = written;
            if (!res.write(chunk)) return void res.once("drain", pump);
          }
          if (!res.destroyed) res.end();
        };
        pump();
        return;
      }
      res.writeHead(answer, { "content-type": "text/plain" });
      res.end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    hugeBytesWritten,
    script: (path, answers) => void scripts.set(path, answers),
    to: (path) => received.filter((r) => r.path === path),
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
