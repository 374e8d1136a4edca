import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import type { LookupAddress } from "node:dns";
import { afterEach, describe, expect, it } from "vitest";
import { createOutboundPolicy, safeFetch } from "../src/index.js";
import type { OutboundPolicy, Resolver, SafeFetchOptions } from "../src/index.js";
import { settle, startHttpServer, startHttpsServer, startSilentServer } from "./loopback-servers.js";
import type { LoopbackServer } from "./loopback-servers.js";

const servers: LoopbackServer[] = [];
async function track<T extends LoopbackServer>(server: Promise<T>): Promise<T> {
  const s = await server;
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const defaultPolicy = createOutboundPolicy({ allow: [] });
const loopbackPolicy = createOutboundPolicy({ allow: ["127.0.0.1/32"] });

function fetchWith(url: string, policy: OutboundPolicy, extra: Partial<SafeFetchOptions> = {}) {
  return safeFetch(url, { policy, timeoutMs: 5_000, ...extra });
}

async function readBody(body: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function okServer(text = "hello from loopback", host = "127.0.0.1", port = 0) {
  return track(startHttpServer((_req, res) => res.writeHead(200, { "content-type": "text/plain" }).end(text), host, port));
}

/** A resolver scripted per call, recording each call; the DNS answers tests need without DNS. */
function scriptedResolver(answers: (string | string[] | Error)[]): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const resolve = async (hostname: string): Promise<LookupAddress[]> => {
    const answer = answers[Math.min(calls.length, answers.length - 1)]!;
    calls.push(hostname);
    if (answer instanceof Error) throw answer;
    return (Array.isArray(answer) ? answer : [answer]).map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
  return Object.assign(resolve, { calls });
}

function dnsError(code: string): Error {
  return Object.assign(new Error(`getaddrinfo ${code} example.test`), { code });
}

describe("safeFetch refuses local destinations by default", () => {
  it("refuses 127.0.0.1 and never connects", async () => {
    const server = await okServer();
    const err = await fetchWith(server.url("/file"), defaultPolicy).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "outbound_refused",
      message:
        "Refused to connect to 127.0.0.1 (loopback 127.0.0.0/8): the outbound policy refuses private and local addresses; an operator can allow it with TRANSMUTE_OUTBOUND_ALLOW",
    });
    await settle();
    expect(server.connections).toBe(0);
  });

  it.each([
    ["decimal", (port: number) => `http://2130706433:${port}/`],
    ["hex", (port: number) => `http://0x7f000001:${port}/`],
    ["octal", (port: number) => `http://0177.0.0.1:${port}/`],
    ["short", (port: number) => `http://127.1:${port}/`],
    ["unspecified", (port: number) => `http://0.0.0.0:${port}/`],
    ["other loopback", (port: number) => `http://127.0.0.2:${port}/`],
    ["IPv4-mapped", (port: number) => `http://[::ffff:127.0.0.1]:${port}/`],
    ["IPv4-mapped hex", (port: number) => `http://[::ffff:7f00:1]:${port}/`],
    ["IPv6 unspecified", (port: number) => `http://[::]:${port}/`],
  ])("refuses the %s form of a loopback URL without connecting", async (_name, makeUrl) => {
    const server = await okServer();
    const err = await fetchWith(makeUrl(server.port), defaultPolicy).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "outbound_refused" });
    expect((err as Error).message).toContain("TRANSMUTE_OUTBOUND_ALLOW");
    await settle();
    expect(server.connections).toBe(0);
  });

  it("refuses ::1 without connecting", async () => {
    const server = await okServer("v6", "::1");
    await expect(fetchWith(server.url(), defaultPolicy)).rejects.toMatchObject({
      code: "outbound_refused",
      message: expect.stringContaining("Refused to connect to ::1 (loopback ::1/128)"),
    });
    await settle();
    expect(server.connections).toBe(0);
  });

  it("refuses the DNS name localhost (resolved by the system) without connecting", async () => {
    const server = await okServer();
    await expect(fetchWith(`http://localhost:${server.port}/`, defaultPolicy)).rejects.toMatchObject({
      code: "outbound_refused",
      message: expect.stringMatching(/^Refused to connect to localhost at 127\.0\.0\.1 \(loopback 127\.0\.0\.0\/8\)/),
    });
    await settle();
    expect(server.connections).toBe(0);
  });

  it.each(["data:text/plain,hello", "file:///etc/passwd", "ftp://127.0.0.1/file", "gopher://127.0.0.1:70/"])("refuses the non-http URL %s", async (url) => {
    await expect(fetchWith(url, defaultPolicy)).rejects.toMatchObject({ code: "outbound_refused", message: expect.stringContaining("only http and https") });
  });

  it("answers invalid_payload for something that is not a URL", async () => {
    await expect(fetchWith("not a url", defaultPolicy)).rejects.toMatchObject({ code: "invalid_payload" });
  });
});

describe("safeFetch with an allow list", () => {
  it("fetches from 127.0.0.1 when 127.0.0.1/32 is allowed, streaming the body", async () => {
    const server = await okServer("file contents");
    const res = await fetchWith(server.url("/a/b.txt?x=1"), loopbackPolicy);
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("text/plain");
    expect(res.finalUrl).toBe(server.url("/a/b.txt?x=1"));
    expect(res.redirects).toBe(0);
    expect((await readBody(res.body)).toString()).toBe("file contents");
    expect(server.requests[0]).toMatchObject({ method: "GET", url: "/a/b.txt?x=1" });
    expect(server.requests[0]!.headers["user-agent"]).toBe("Transmute");
  });

  it("accepts the decimal spelling of an allowed address", async () => {
    const server = await okServer("via decimal");
    const res = await fetchWith(`http://2130706433:${server.port}/`, loopbackPolicy);
    expect((await readBody(res.body)).toString()).toBe("via decimal");
  });

  it("fetches from localhost when the host name localhost is allowed", async () => {
    const server = await okServer("by name");
    const res = await fetchWith(`http://localhost:${server.port}/`, createOutboundPolicy({ allow: ["localhost"] }));
    expect((await readBody(res.body)).toString()).toBe("by name");
    expect(server.requests[0]!.headers.host).toBe(`localhost:${server.port}`);
  });

  it("fetches from ::1 when ::1/128 is allowed", async () => {
    const server = await okServer("v6 ok", "::1");
    const res = await fetchWith(server.url(), createOutboundPolicy({ allow: ["::1/128"] }));
    expect((await readBody(res.body)).toString()).toBe("v6 ok");
    expect(server.requests[0]!.remoteAddress).toBe("::1");
  });

  it("allows a *.suffix host name whatever address it resolves to", async () => {
    const server = await okServer("wildcard");
    const resolve = scriptedResolver(["127.0.0.1"]);
    const res = await fetchWith(`http://files.corp.test:${server.port}/`, createOutboundPolicy({ allow: ["*.corp.test"] }), { resolve });
    expect((await readBody(res.body)).toString()).toBe("wildcard");
    expect(resolve.calls).toEqual(["files.corp.test"]);
    await expect(fetchWith(`http://corp.test:${server.port}/`, createOutboundPolicy({ allow: ["*.corp.test"] }), { resolve })).rejects.toMatchObject({
      code: "outbound_refused",
    });
  });

  it("sends credentials from the URL as Basic auth and keeps them out of finalUrl", async () => {
    const server = await okServer();
    const res = await fetchWith(`http://user:p%40ss@127.0.0.1:${server.port}/`, loopbackPolicy);
    await readBody(res.body);
    expect(server.requests[0]!.headers.authorization).toBe(`Basic ${Buffer.from("user:p@ss").toString("base64")}`);
    expect(res.finalUrl).toBe(server.url("/"));
  });

  it("returns a non-2xx status instead of throwing", async () => {
    const server = await track(startHttpServer((_req, res) => res.writeHead(404).end("missing")));
    const res = await fetchWith(server.url(), loopbackPolicy);
    expect(res.status).toBe(404);
    expect((await readBody(res.body)).toString()).toBe("missing");
  });

  it("does not decode gzip: the bytes are the file", async () => {
    const gz = gzipSync(Buffer.from("compressed text ".repeat(50)));
    const server = await track(startHttpServer((_req, res) => res.writeHead(200, { "content-encoding": "gzip", "content-length": gz.length }).end(gz)));
    const res = await fetchWith(server.url(), loopbackPolicy);
    expect(res.headers["content-encoding"]).toBe("gzip");
    expect((await readBody(res.body)).equals(gz)).toBe(true);
  });
});

describe("safeFetch checks at connect time (DNS rebinding)", () => {
  it("connects to exactly the address it checked, resolving once per connection", async () => {
    const allowed = await okServer("allowed server");
    const other = await okServer("should never answer", "127.0.0.2", allowed.port);
    // A check-then-connect client would check 127.0.0.1 and then connect to 127.0.0.2.
    const resolve = scriptedResolver(["127.0.0.1", "127.0.0.2"]);
    const res = await fetchWith(`http://rebind.test:${allowed.port}/`, loopbackPolicy, { resolve });
    expect((await readBody(res.body)).toString()).toBe("allowed server");
    expect(resolve.calls).toEqual(["rebind.test"]);
    expect(allowed.connections).toBe(1);
    expect(other.connections).toBe(0);
  });

  it("refuses when the answer at connect time is refused, and re-checks on the next fetch", async () => {
    const allowed = await okServer("second time lucky");
    const other = await okServer("never", "127.0.0.2", allowed.port);
    const resolve = scriptedResolver(["127.0.0.2", "127.0.0.1"]);
    await expect(fetchWith(`http://rebind.test:${allowed.port}/`, loopbackPolicy, { resolve })).rejects.toMatchObject({
      code: "outbound_refused",
      message: expect.stringContaining("Refused to connect to rebind.test at 127.0.0.2 (loopback 127.0.0.0/8)"),
    });
    await settle();
    expect(allowed.connections + other.connections).toBe(0);
    // Nothing is cached: the next connection resolves and checks again.
    const res = await fetchWith(`http://rebind.test:${allowed.port}/`, loopbackPolicy, { resolve });
    expect((await readBody(res.body)).toString()).toBe("second time lucky");
    expect(resolve.calls).toHaveLength(2);
    expect(other.connections).toBe(0);
  });

  it("refuses a name with any refused answer, even next to an allowed one", async () => {
    const allowed = await okServer();
    const resolve = scriptedResolver([["127.0.0.1", "127.0.0.2"]]);
    await expect(fetchWith(`http://mixed.test:${allowed.port}/`, loopbackPolicy, { resolve })).rejects.toMatchObject({ code: "outbound_refused" });
    await settle();
    expect(allowed.connections).toBe(0);
  });

  it("refuses every address family: an AAAA answer of ::1 is refused", async () => {
    const server = await okServer("v6", "::1");
    const resolve = scriptedResolver(["::1"]);
    await expect(fetchWith(`http://six.test:${server.port}/`, defaultPolicy, { resolve })).rejects.toMatchObject({
      code: "outbound_refused",
      message: expect.stringContaining("six.test at ::1 (loopback ::1/128)"),
    });
    await settle();
    expect(server.connections).toBe(0);
  });

  it("resolves and checks each redirect hop again", async () => {
    const first = await track(
      startHttpServer((_req, res) => res.writeHead(302, { location: `http://rebind.test:${first.port}/second` }).end()),
    );
    const target = await okServer("never", "127.0.0.2", first.port);
    const resolve = scriptedResolver(["127.0.0.1", "127.0.0.2"]);
    await expect(fetchWith(`http://rebind.test:${first.port}/first`, loopbackPolicy, { resolve })).rejects.toMatchObject({ code: "outbound_refused" });
    expect(resolve.calls).toEqual(["rebind.test", "rebind.test"]);
    expect(first.requests.map((r) => r.url)).toEqual(["/first"]);
    await settle();
    expect(target.connections).toBe(0);
  });
});

describe("safeFetch redirects", () => {
  it("refuses a redirect from an allowed server to a refused address, without connecting", async () => {
    const refused = await okServer("secret", "127.0.0.2");
    const allowed = await track(startHttpServer((_req, res) => res.writeHead(302, { location: refused.url("/secret") }).end()));
    await expect(fetchWith(allowed.url(), loopbackPolicy)).rejects.toMatchObject({
      code: "outbound_refused",
      message: expect.stringContaining("127.0.0.2 (loopback 127.0.0.0/8)"),
    });
    await settle();
    expect(allowed.requests).toHaveLength(1);
    expect(refused.connections).toBe(0);
  });

  it.each(["file:///etc/passwd", "data:text/plain,hi", "ftp://127.0.0.1/"])("refuses a redirect to %s", async (location) => {
    const server = await track(startHttpServer((_req, res) => res.writeHead(301, { location }).end()));
    await expect(fetchWith(server.url(), loopbackPolicy)).rejects.toMatchObject({ code: "outbound_refused" });
  });

  function chainServer(length: number) {
    return track(
      startHttpServer((req, res) => {
        const n = Number((req.url ?? "").split("/")[2] ?? 0);
        if (n < length) res.writeHead(302, { location: `/hop/${n + 1}` }).end();
        else res.writeHead(200).end(`arrived after ${n}`);
      }),
    );
  }

  it("follows up to 5 redirects, relative locations included", async () => {
    const server = await chainServer(5);
    const res = await fetchWith(server.url("/hop/0"), loopbackPolicy);
    expect(res.status).toBe(200);
    expect(res.redirects).toBe(5);
    expect(res.finalUrl).toBe(server.url("/hop/5"));
    expect((await readBody(res.body)).toString()).toBe("arrived after 5");
  });

  it("gives up after 5 redirects", async () => {
    const server = await chainServer(1_000);
    await expect(fetchWith(server.url("/hop/0"), loopbackPolicy)).rejects.toMatchObject({
      code: "download_failed",
      retryable: false,
      message: "Too many redirects: gave up after 5",
    });
    expect(server.requests).toHaveLength(6);
  });

  it("honours maxRedirects and followRedirects: false", async () => {
    const server = await chainServer(3);
    await expect(fetchWith(server.url("/hop/0"), loopbackPolicy, { maxRedirects: 2 })).rejects.toMatchObject({ code: "download_failed" });
    const res = await fetchWith(server.url("/hop/0"), loopbackPolicy, { followRedirects: false });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe("/hop/1");
    res.body.destroy();
  });

  it("turns a POST into a GET without body on 303, and resends it on 307", async () => {
    const server = await track(
      startHttpServer((req, res) => {
        if (req.url === "/see-other") res.writeHead(303, { location: "/landed" }).end();
        else if (req.url === "/temporary") res.writeHead(307, { location: "/landed" }).end();
        else res.end("ok");
      }),
    );
    const post = { method: "POST", body: "payload=1", headers: { "Content-Type": "application/x-www-form-urlencoded" } };
    await readBody((await fetchWith(server.url("/see-other"), loopbackPolicy, post)).body);
    await readBody((await fetchWith(server.url("/temporary"), loopbackPolicy, post)).body);
    const [seeOther, afterSeeOther, temporary, afterTemporary] = server.requests;
    expect(seeOther).toMatchObject({ method: "POST", body: "payload=1" });
    expect(afterSeeOther).toMatchObject({ method: "GET", url: "/landed", body: "" });
    expect(afterSeeOther!.headers["content-type"]).toBeUndefined();
    expect(temporary).toMatchObject({ method: "POST", body: "payload=1" });
    expect(afterTemporary).toMatchObject({ method: "POST", url: "/landed", body: "payload=1" });
  });

  it("drops Authorization and Cookie on a redirect to another origin, keeps them on the same one", async () => {
    const elsewhere = await okServer("elsewhere");
    const origin = await track(
      startHttpServer((req, res) => {
        if (req.url === "/same") res.writeHead(302, { location: "/next" }).end();
        else if (req.url === "/cross") res.writeHead(302, { location: elsewhere.url("/") }).end();
        else res.end("here");
      }),
    );
    const headers = { Authorization: "Bearer secret", Cookie: "a=b" };
    await readBody((await fetchWith(origin.url("/same"), loopbackPolicy, { headers })).body);
    expect(origin.requests[1]!.headers).toMatchObject({ authorization: "Bearer secret", cookie: "a=b" });
    await readBody((await fetchWith(origin.url("/cross"), loopbackPolicy, { headers })).body);
    expect(elsewhere.requests[0]!.headers.authorization).toBeUndefined();
    expect(elsewhere.requests[0]!.headers.cookie).toBeUndefined();
  });
});

describe("safeFetch limits", () => {
  const big = Buffer.alloc(10_000, 0x61);

  it("refuses up front when Content-Length is over maxBytes", async () => {
    const server = await track(startHttpServer((_req, res) => res.writeHead(200, { "content-length": big.length }).end(big)));
    await expect(fetchWith(server.url(), loopbackPolicy, { maxBytes: 1_000 })).rejects.toMatchObject({
      code: "file_too_large",
      status: 413,
      message: "The file at the URL is larger than the limit of 1000 bytes (10000 bytes)",
    });
  });

  it("stops the stream once more than maxBytes arrived without Content-Length", async () => {
    const server = await track(
      startHttpServer((_req, res) => {
        res.writeHead(200);
        for (let i = 0; i < 10; i++) res.write(big.subarray(i * 1_000, (i + 1) * 1_000));
        res.end();
      }),
    );
    const res = await fetchWith(server.url(), loopbackPolicy, { maxBytes: 2_500 });
    expect(res.headers["content-length"]).toBeUndefined();
    await expect(readBody(res.body)).rejects.toMatchObject({ code: "file_too_large" });
  });

  it("accepts a body of exactly maxBytes", async () => {
    const server = await track(startHttpServer((_req, res) => res.writeHead(200).end(big)));
    const res = await fetchWith(server.url(), loopbackPolicy, { maxBytes: big.length });
    expect((await readBody(res.body)).length).toBe(big.length);
  });

  it("times out a server that never answers", async () => {
    const server = await track(startHttpServer(() => {}));
    const started = Date.now();
    await expect(fetchWith(server.url(), loopbackPolicy, { timeoutMs: 300 })).rejects.toMatchObject({
      code: "download_failed",
      retryable: true,
      message: `Download from 127.0.0.1:${server.port} timed out after 300 ms`,
    });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(server.requests).toHaveLength(1);
  });

  it("times out a body that trickles past the total budget", async () => {
    const server = await track(
      startHttpServer((_req, res) => {
        res.writeHead(200);
        res.write("first bytes");
      }),
    );
    const res = await fetchWith(server.url(), loopbackPolicy, { timeoutMs: 400 });
    await expect(readBody(res.body)).rejects.toMatchObject({ code: "download_failed", message: expect.stringContaining("timed out after 400 ms") });
  });

  it("times out a connection whose TLS handshake never completes", async () => {
    const silent = await track(startSilentServer());
    const started = Date.now();
    await expect(
      fetchWith(`https://127.0.0.1:${silent.port}/`, loopbackPolicy, { timeoutMs: 5_000, connectTimeoutMs: 300 }),
    ).rejects.toMatchObject({ code: "download_failed", message: `Connecting to 127.0.0.1:${silent.port} timed out after 300 ms` });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(silent.connections).toBe(1);
  });

  it("times out DNS resolution that never answers as part of connecting", async () => {
    const resolve: Resolver = () => new Promise(() => {});
    await expect(fetchWith("http://slow-dns.test/", loopbackPolicy, { connectTimeoutMs: 200, resolve })).rejects.toMatchObject({
      code: "download_failed",
      message: "Connecting to slow-dns.test timed out after 200 ms",
    });
  });

  it("cancels on the caller's signal, before and during the exchange", async () => {
    const server = await track(startHttpServer(() => {}));
    await expect(fetchWith(server.url(), loopbackPolicy, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: "canceled" });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    await expect(fetchWith(server.url(), loopbackPolicy, { signal: controller.signal })).rejects.toMatchObject({ code: "canceled" });
  });
});

describe("safeFetch network errors", () => {
  it("reports a connection refused as retryable download_failed", async () => {
    const gone = await startHttpServer(() => {});
    await gone.close();
    await expect(fetchWith(gone.url(), loopbackPolicy)).rejects.toMatchObject({
      code: "download_failed",
      retryable: true,
      message: `Connection to 127.0.0.1:${gone.port} was refused`,
    });
  });

  it("reports a connection closed mid-body as retryable download_failed", async () => {
    const server = await track(
      startHttpServer((_req, res) => {
        res.writeHead(200, { "content-length": 1_000 });
        res.write("only a little", () => res.socket?.destroy());
      }),
    );
    const res = await fetchWith(server.url(), loopbackPolicy);
    await expect(readBody(res.body)).rejects.toMatchObject({ code: "download_failed", retryable: true });
  });

  it("reports DNS failures, retryable only when temporary", async () => {
    await expect(fetchWith("http://nowhere.test/", defaultPolicy, { resolve: scriptedResolver([dnsError("ENOTFOUND")]) })).rejects.toMatchObject({
      code: "download_failed",
      retryable: false,
      message: "Could not resolve host nowhere.test: no such name",
    });
    await expect(fetchWith("http://flaky.test/", defaultPolicy, { resolve: scriptedResolver([dnsError("EAI_AGAIN")]) })).rejects.toMatchObject({
      code: "download_failed",
      retryable: true,
    });
    await expect(fetchWith("http://empty.test/", defaultPolicy, { resolve: scriptedResolver([[]]) })).rejects.toMatchObject({
      code: "download_failed",
      message: "Could not resolve host empty.test: no such name",
    });
  });

  it("reports a TLS failure (https to a plain http server) as not retryable", async () => {
    const server = await okServer();
    await expect(fetchWith(`https://127.0.0.1:${server.port}/`, loopbackPolicy)).rejects.toMatchObject({
      code: "download_failed",
      retryable: false,
      message: expect.stringContaining(`TLS connection to 127.0.0.1:${server.port} failed`),
    });
  });

  let hasOpenssl = true;
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
  } catch {
    hasOpenssl = false;
  }

  it.skipIf(!hasOpenssl)("verifies certificates: a self-signed one is refused", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "outbound-tls-"));
    try {
      execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=localhost"], { stdio: "ignore" });
      const tls = { key: readFileSync(path.join(dir, "key.pem"), "utf8"), cert: readFileSync(path.join(dir, "cert.pem"), "utf8") };
      const server = await track(startHttpsServer((_req, res) => res.end("tls"), tls));
      await expect(fetchWith(`https://localhost:${server.port}/`, createOutboundPolicy({ allow: ["localhost"] }))).rejects.toMatchObject({
        code: "download_failed",
        retryable: false,
        message: expect.stringMatching(/^TLS connection to localhost:\d+ failed: .*self[- ]signed/),
      });
      expect(server.requests).toHaveLength(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
