import http from "node:http";
import https from "node:https";
import net from "node:net";
import type { LookupAddress } from "node:dns";
import { afterEach, describe, expect, it } from "vitest";
import { createGuardedAgent, createGuardedLookup, createOutboundPolicy } from "../src/index.js";
import type { Resolver } from "../src/index.js";
import { settle, startHttpServer } from "./loopback-servers.js";
import type { LoopbackServer } from "./loopback-servers.js";

const servers: LoopbackServer[] = [];
async function okServer(host = "127.0.0.1"): Promise<LoopbackServer> {
  const s = await startHttpServer((_req, res) => res.end("agent ok"), host);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const defaultPolicy = createOutboundPolicy({ allow: [] });

/** What another client (a webhook sender, an SDK) would do with the agent: a plain http.get. */
function getWith(url: string, agent: http.Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const get = url.startsWith("https:") ? https.get : http.get;
    get(url, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on("error", reject);
    }).on("error", reject);
  });
}

describe("createGuardedAgent", () => {
  it("refuses an IP literal before creating a socket (node skips lookup for literals)", async () => {
    const server = await okServer();
    await expect(getWith(server.url(), createGuardedAgent(defaultPolicy))).rejects.toMatchObject({
      code: "outbound_refused",
      message: expect.stringContaining("Refused to connect to 127.0.0.1 (loopback 127.0.0.0/8)"),
    });
    await settle();
    expect(server.connections).toBe(0);
  });

  it("refuses an IPv6 literal and a host name resolving to loopback", async () => {
    const v6 = await okServer("::1");
    const v4 = await okServer();
    const agent = createGuardedAgent(defaultPolicy);
    await expect(getWith(v6.url(), agent)).rejects.toMatchObject({ code: "outbound_refused" });
    await expect(getWith(`http://localhost:${v4.port}/`, agent)).rejects.toMatchObject({
      code: "outbound_refused",
      message: expect.stringContaining("localhost at 127.0.0.1"),
    });
    await settle();
    expect(v6.connections + v4.connections).toBe(0);
  });

  it("lets allowed destinations through", async () => {
    const server = await okServer();
    const agent = createGuardedAgent(createOutboundPolicy({ allow: ["127.0.0.1/32"] }));
    expect(await getWith(server.url(), agent)).toEqual({ status: 200, body: "agent ok" });
    expect(await getWith(`http://localhost:${server.port}/`, agent)).toEqual({ status: 200, body: "agent ok" });
  });

  it("keeps the check when the caller's agent options carry their own lookup", async () => {
    const server = await okServer();
    const permissive: net.LookupFunction = (_h, _o, cb) => cb(null, [{ address: "127.0.0.1", family: 4 }]);
    // The guarded side gets the same answer from an injected resolver (no real DNS).
    const resolve: Resolver = async () => [{ address: "127.0.0.1", family: 4 }];
    const agent = createGuardedAgent(defaultPolicy, { resolve, agentOptions: { lookup: permissive } as http.AgentOptions });
    await expect(getWith(`http://anything.test:${server.port}/`, agent)).rejects.toMatchObject({ code: "outbound_refused" });
    await settle();
    expect(server.connections).toBe(0);
  });

  it("builds an https.Agent that refuses the same way", async () => {
    const server = await okServer();
    const agent = createGuardedAgent(defaultPolicy, { https: true });
    expect(agent).toBeInstanceOf(https.Agent);
    await expect(getWith(`https://127.0.0.1:${server.port}/`, agent)).rejects.toMatchObject({ code: "outbound_refused" });
    await expect(getWith(`https://localhost:${server.port}/`, agent)).rejects.toMatchObject({ code: "outbound_refused" });
    await settle();
    expect(server.connections).toBe(0);
  });
});

describe("createGuardedLookup", () => {
  const resolver = (addresses: string[]): Resolver => async () =>
    addresses.map((address): LookupAddress => ({ address, family: net.isIP(address) }));

  function lookup(fn: net.LookupFunction, hostname: string, options: object) {
    return new Promise<{ err: NodeJS.ErrnoException | null; address: unknown; family: unknown }>((resolve) =>
      fn(hostname, options, (err, address, family) => resolve({ err, address, family })),
    );
  }

  it("answers in both the single and the all:true shapes node uses, filtered by family", async () => {
    const fn = createGuardedLookup(defaultPolicy, { resolve: resolver(["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]) });
    expect(await lookup(fn, "example.test", {})).toEqual({ err: null, address: "93.184.216.34", family: 4 });
    expect((await lookup(fn, "example.test", { all: true })).address).toEqual([
      { address: "93.184.216.34", family: 4 },
      { address: "2606:2800:220:1:248:1893:25c8:1946", family: 6 },
    ]);
    expect(await lookup(fn, "example.test", { family: 6 })).toEqual({ err: null, address: "2606:2800:220:1:248:1893:25c8:1946", family: 6 });
  });

  it("fails the whole lookup when any answer is refused", async () => {
    const fn = createGuardedLookup(defaultPolicy, { resolve: resolver(["93.184.216.34", "169.254.169.254"]) });
    const { err } = await lookup(fn, "metadata.test", { all: true });
    expect(err).toMatchObject({ code: "outbound_refused", message: expect.stringContaining("metadata.test at 169.254.169.254 (link-local 169.254.0.0/16)") });
  });

  it("guards a raw net.connect: the socket errors and the server sees nothing", async () => {
    const server = await okServer();
    const fn = createGuardedLookup(defaultPolicy);
    const err = await new Promise<Error>((resolve) => {
      const socket = net.connect({ host: "localhost", port: server.port, lookup: fn });
      socket.on("connect", () => resolve(new Error("connected")));
      socket.on("error", resolve);
    });
    expect(err).toMatchObject({ code: "outbound_refused" });
    await settle();
    expect(server.connections).toBe(0);
  });
});
