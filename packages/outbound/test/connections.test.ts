import { Agent, createServer, get, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isUnreachableCode, retireAgent } from "../src/index.js";

let server: Server;
let url: string;
const sockets: Socket[] = [];

beforeAll(async () => {
  // Answers /fast at once and never answers /hang.
  server = createServer((req, res) => {
    if (req.url === "/fast") res.end("ok");
  });
  server.on("connection", (socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function request(agent: Agent, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(`${url}${path}`, { agent }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c)).on("end", () => resolve(body)).on("error", reject);
    }).on("error", reject);
  });
}

describe("retireAgent", () => {
  it("closes the sockets in use and idle, then refuses every new connection", async () => {
    const agent = new Agent({ keepAlive: true });
    expect(await request(agent, "/fast")).toBe("ok");
    const hanging = request(agent, "/hang");
    await new Promise((resolve) => setTimeout(resolve, 100));
    retireAgent(agent, "The test session");
    await expect(hanging).rejects.toMatchObject({ code: "ECONNRESET" });
    await expect(request(agent, "/fast")).rejects.toMatchObject({ code: "ERR_AGENT_RETIRED", message: "The test session was closed." });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(sockets.length).toBeGreaterThanOrEqual(1); // /hang may reuse the idle socket
    expect(sockets.every((s) => s.destroyed || s.readableEnded)).toBe(true);
    retireAgent(agent); // idempotent
  });
});

describe("isUnreachableCode", () => {
  it("names failed connections and refused certificates, not timeouts or other errors", () => {
    for (const code of ["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "EPIPE", "CERT_HAS_EXPIRED", "DEPTH_ZERO_SELF_SIGNED_CERT", "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "ERR_TLS_CERT_ALTNAME_INVALID"]) {
      expect(isUnreachableCode(code), code).toBe(true);
    }
    for (const code of [undefined, "", "ETIMEDOUT", "ERR_AGENT_RETIRED", "ENOENT", "NoSuchKey"]) expect(isUnreachableCode(code), String(code)).toBe(false);
  });
});
