/**
 * The Filewall API scaled out: two gateways and a worker as separate processes on one database
 * and Redis. A file authorized on one gateway is uploaded, polled and downloaded through the
 * other, secured by the worker; the per-key limit of files in progress holds across gateways.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { PDFDocument, StandardFonts } from "pdf-lib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCluster, type Cluster, type ServerProcess } from "../support/cluster.js";
import { engineAvailable } from "../support/engine-tools.js";
import { download } from "../support/harness.js";
import { servicesAvailable } from "../support/services.js";
import { pidOfServer, printLogsOnFailure } from "./fixtures.js";

const run = promisify(execFile);
const available = await servicesAvailable();
const havePoppler = await engineAvailable("poppler (secure PDF)", async () =>
  run("sh", ["-c", "command -v pdftoppm"]).then(() => ({ available: true }), () => ({ available: false, missing: "pdftoppm not found" })),
);

/** A JSON call with the key in Filewall's header. */
async function call(url: string, method: string, key: string | null, body?: Buffer | string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method, headers: { ...(key ? { apikey: key } : {}), ...headers }, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

describe.skipIf(!available || !havePoppler)("scaled out: the Filewall API", () => {
  let cluster: Cluster | undefined;
  let gatewayA: ServerProcess;
  let gatewayB: ServerProcess;
  let worker: ServerProcess;
  printLogsOnFailure(() => cluster);

  beforeAll(async () => {
    cluster = await createCluster({ env: { TRANSMUTE_FILEWALL_MAX_IN_PROGRESS: "3" } });
    const started = await Promise.all([
      cluster.start("gateway", { noWait: true }),
      cluster.start("gateway", { noWait: true }),
      cluster.start("worker", { noWait: true }),
    ]);
    await Promise.all(started.map((p) => cluster!.waitReady(p)));
    [gatewayA, gatewayB, worker] = started as [ServerProcess, ServerProcess, ServerProcess];
  });

  afterAll(async () => {
    await cluster?.close();
  });

  it("authorize on A, upload and poll on B, the worker secures a PDF, the download has its pages", async () => {
    const doc = await PDFDocument.create();
    const font = await doc.embedFont(StandardFonts.Helvetica);
    for (let i = 1; i <= 3; i++) doc.addPage([300, 200]).drawText(`Page ${i}`, { x: 30, y: 100, size: 24, font });
    const pdf = Buffer.from(await doc.save());
    const auth = await call(`${gatewayA.url}/api/authorize`, "POST", cluster!.key, '{"max_pages_per_document": 2}', { "content-type": "application/json" });
    expect(auth.status, JSON.stringify(auth.body)).toBe(202);
    const upload = auth.body.links.upload.replace(gatewayA.url!, gatewayB.url!);
    const self = auth.body.links.self.replace(gatewayA.url!, gatewayB.url!);
    expect((await call(upload, "POST", null, pdf, { filename: "report.pdf" })).status).toBe(202);
    let status: any;
    const deadline = Date.now() + 60_000;
    do {
      await new Promise((resolve) => setTimeout(resolve, 200));
      status = (await call(self, "GET", cluster!.key)).body;
      expect(status.status).not.toBe("new");
    } while (["waiting", "processing"].includes(status.status) && Date.now() < deadline);
    expect(status.status, JSON.stringify(status)).toBe("finished");
    expect(status).toMatchObject({ name: "report.pdf", type: "application/pdf", source_name: "report.pdf", source_size: pdf.length });
    const file = await download(status.links.download);
    expect(file.status).toBe(200);
    expect((await PDFDocument.load(file.bytes)).getPageCount()).toBe(2);
    const row = (await cluster!.sql<{ jobId: string }>(`SELECT "jobId" FROM "FilewallFile" WHERE uid = $1`, [auth.body.uid]))[0]!;
    const [secure] = await cluster!.sql<{ server: string }>(`SELECT server FROM "Task" WHERE "jobId" = $1 AND operation = 'secure'`, [row.jobId]);
    expect(pidOfServer(secure!.server)).toBe(worker.pid);
  });

  it("counts a key's files in progress across both gateways (429 past the limit)", async () => {
    const answers = [];
    for (const gateway of [gatewayA, gatewayB, gatewayA, gatewayB]) answers.push((await call(`${gateway.url}/api/authorize`, "POST", cluster!.key)).status);
    // One file is already finished (the test above); three more fill the limit, the fourth is refused.
    expect(answers).toEqual([202, 202, 202, 429]);
  });
});
