/**
 * The outbound policy through the API: with no allowance, import/url of loopback in every
 * spelling (plain, IPv4-mapped IPv6, decimal, hex) fails the task with `outbound_refused`, the
 * message names the address and the setting, and the target never sees a request. A redirect
 * from an allowed address to a refused one is refused at the hop; file: and data: URLs too.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveFiles, type TestServer } from "../support/harness.js";
import { expectError, expectTaskFailed, makePng, runJob, startServer, taskOf } from "./helpers.js";

let closed: TestServer;
let allowsSecond: TestServer;
let target: Awaited<ReturnType<typeof serveFiles>>;
let png: Buffer;

beforeAll(async () => {
  png = await makePng(10, 10, [0, 0, 0]);
  [closed, allowsSecond, target] = await Promise.all([
    startServer({ TRANSMUTE_OUTBOUND_ALLOW: "" }),
    startServer({ TRANSMUTE_OUTBOUND_ALLOW: "127.0.0.2/32" }),
    serveFiles({ "/x": { body: png, type: "image/png" } }),
  ]);
});

afterAll(async () => {
  await Promise.all([closed?.close(), allowsSecond?.close(), target?.close()]);
});

/** Runs one import/url on `server` and returns the import task once the job ended. */
async function importUrl(server: TestServer, url: string): Promise<any> {
  const { job } = await runJob(server.api, { fetch: { operation: "import/url", url } });
  expect(job.status).toBe("failed");
  return taskOf(job, "fetch");
}

describe("no loopback allowance (TRANSMUTE_OUTBOUND_ALLOW empty)", () => {
  const port = () => new URL(target.url).port;
  const spellings: Array<[string, () => string, RegExp]> = [
    ["plain IPv4", () => `http://127.0.0.1:${port()}/x`, /127\.0\.0\.1/],
    ["IPv4-mapped IPv6", () => `http://[::ffff:127.0.0.1]:${port()}/x`, /::ffff:7f00:1 \(loopback 127\.0\.0\.0\/8/],
    ["decimal", () => `http://2130706433:${port()}/x`, /127\.0\.0\.1/],
    ["hex", () => `http://0x7f000001:${port()}/x`, /127\.0\.0\.1/],
  ];

  for (const [label, url, address] of spellings) {
    it(`refuses loopback written as ${label}, and the target sees no request`, async () => {
      const before = target.hits.length;
      const task = await importUrl(closed, url());
      expectTaskFailed(task, "outbound_refused");
      expect(task.message).toMatch(address);
      expect(task.message).toContain("TRANSMUTE_OUTBOUND_ALLOW");
      expect(target.hits.length).toBe(before);
    });
  }

  it("refuses a host name that resolves to loopback", async () => {
    const before = target.hits.length;
    const task = await importUrl(closed, `http://localhost:${port()}/x`);
    expectTaskFailed(task, "outbound_refused");
    expect(task.message).toMatch(/127\.0\.0\.1|::1/);
    expect(task.message).toContain("TRANSMUTE_OUTBOUND_ALLOW");
    expect(target.hits.length).toBe(before);
  });

  it("refuses file: and data: URLs when the job is created (400 naming the scheme)", async () => {
    for (const url of ["file:///etc/passwd", `data:image/png;base64,${png.toString("base64")}`]) {
      const res = await closed.api.post("/v1/process/jobs", { tasks: { fetch: { operation: "import/url", url } } });
      expectError(res, 400, "invalid_payload", '"fetch"', "http or https", url.split(":")[0]!);
    }
  });
});

describe("an allowed address redirecting to a refused one", () => {
  let redirector: Server;
  let redirectorUrl: string;
  const redirectorHits: string[] = [];

  beforeAll(async () => {
    redirector = createServer((req, res) => {
      redirectorHits.push(req.url ?? "");
      if (req.url === "/direct.png") res.writeHead(200, { "content-type": "image/png" }).end(png);
      else res.writeHead(302, { location: `${target.url}/x` }).end();
    });
    // 127.0.0.2 is loopback too (the whole 127/8 is on lo on Linux).
    await new Promise<void>((resolve, reject) => {
      redirector.once("error", reject);
      redirector.listen(0, "127.0.0.2", resolve);
    });
    redirectorUrl = `http://127.0.0.2:${(redirector.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => redirector?.close(resolve));
  });

  it("the allowed address itself works", async () => {
    const { job } = await runJob(allowsSecond.api, { fetch: { operation: "import/url", url: `${redirectorUrl}/direct.png` } });
    expect(job.status).toBe("completed");
    expect(taskOf(job, "fetch").result.files).toEqual([{ filename: "direct.png", size: png.length, content_type: "image/png" }]);
  });

  it("the redirect to 127.0.0.1 is refused at the hop: the redirector is asked, the target never", async () => {
    const before = target.hits.length;
    const task = await importUrl(allowsSecond, `${redirectorUrl}/go`);
    expectTaskFailed(task, "outbound_refused");
    expect(task.message).toContain("127.0.0.1");
    expect(task.message).toContain("TRANSMUTE_OUTBOUND_ALLOW");
    expect(redirectorHits).toContain("/go");
    expect(target.hits.length).toBe(before);
  });
});
