/**
 * The external engines scaled out: a gateway, a worker with every engine and a worker that
 * serves images only, as separate processes on one database and Redis. Office and media tasks
 * go to the worker that registered those engines, never to the other; ffmpeg's progress reaches
 * a socket client on the gateway as task_min_update and the task's `percent`.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { PDFDocument } from "pdf-lib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCluster, type Cluster, type ServerProcess } from "../support/cluster.js";
import { engineAvailable } from "../support/engine-tools.js";
import { download } from "../support/harness.js";
import { connectRealtime, type RealtimeClient } from "../support/realtime-client.js";
import { servicesAvailable } from "../support/services.js";
import { pidOfServer, printLogsOnFailure } from "./fixtures.js";

const run = promisify(execFile);
const available = await servicesAvailable();
const haveTools = await engineAvailable("ffmpeg and LibreOffice", async () => {
  const missing: string[] = [];
  for (const tool of ["ffmpeg", "soffice"]) await run("sh", ["-c", `command -v ${tool}`]).catch(() => missing.push(tool));
  return missing.length === 0 ? { available: true } : { available: false, missing: `not found: ${missing.join(", ")}` };
});

describe.skipIf(!available || !haveTools)("scaled out: engines on the workers that have them", () => {
  let cluster: Cluster | undefined;
  let gateway: ServerProcess;
  let full: ServerProcess;
  let imagesOnly: ServerProcess;
  let work: string;
  let client: RealtimeClient | undefined;
  printLogsOnFailure(() => cluster);

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "transmute-scaled-engines-"));
    cluster = await createCluster();
    const started = await Promise.all([
      cluster.start("gateway", { noWait: true }),
      cluster.start("worker", { noWait: true, name: "worker-full" }),
      cluster.start("worker", { noWait: true, name: "worker-images", env: { TRANSMUTE_ENGINES: "io,image" } }),
    ]);
    await Promise.all(started.map((p) => cluster!.waitReady(p)));
    [gateway, full, imagesOnly] = started as [ServerProcess, ServerProcess, ServerProcess];
  });

  afterAll(async () => {
    client?.close();
    await cluster?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("registers each worker's engine classes: only the full worker offers office and media", async () => {
    const rows = await cluster!.sql<{ pid: number; engines: { classes: string[] } }>(`SELECT pid, engines FROM "Worker"`);
    const byPid = new Map(rows.map((r) => [r.pid, r.engines.classes]));
    expect(byPid.get(full.pid)).toEqual(expect.arrayContaining(["io", "image", "office", "media", "poppler"]));
    expect(byPid.get(imagesOnly.pid)?.sort()).toEqual(["image", "io"]);
  });

  it("runs html -> odt -> pdf on the worker with LibreOffice", async () => {
    const html = "<html><body><h1>Scaled document</h1><p>Converted on another process.</p></body></html>";
    const created = await gateway.api!.post("/v1/process/jobs", {
      tasks: {
        doc: { operation: "import/base64", file: Buffer.from(html).toString("base64"), filename: "doc.html" },
        odt: { operation: "convert", input: "doc", output_format: "odt" },
        pdf: { operation: "convert", input: "odt", output_format: "pdf" },
        export: { operation: "export/url", input: "pdf" },
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const job = (await gateway.api!.get(`/v1/process/jobs/${created.body.id}/wait`)).body;
    expect(job.status, JSON.stringify(job)).toBe("completed");
    for (const name of ["odt", "pdf"]) expect(pidOfServer(job.tasks.find((t: any) => t.name === name).server)).toBe(full.pid);
    const pdf = await download(job.tasks.find((t: any) => t.name === "export").result.url);
    expect((await PDFDocument.load(pdf.bytes)).getPageCount()).toBe(1);
    const saved = join(work, "doc.pdf");
    await writeFile(saved, pdf.bytes);
    expect((await run("pdftotext", [saved, "-"])).stdout).toContain("Scaled document");
  });

  it("sends ffmpeg's progress to a socket client as task_min_update, and stores it as the task's percent", async () => {
    const video = join(work, "long.mp4");
    await run("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=20", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", video]);
    const created = await gateway.api!.post("/v1/process/jobs", {
      tasks: {
        clip: { operation: "import/base64", file: (await readFile(video)).toString("base64"), filename: "long.mp4" },
        webm: { operation: "convert", input: "clip", output_format: "webm", options: { video_codec: "vp8" } },
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const task = (created.body.tasks as any[]).find((t) => t.name === "webm");
    client = await connectRealtime(gateway.url!, cluster!.key);
    expect((await client.subscribe(`task.${task.id}`)).ok).toBe(true);
    const update = await client.waitFor("task_min_update", task.id, 60_000);
    expect(update.data.percent).toBeGreaterThan(0);
    expect(update.data.percent).toBeLessThan(100);
    await client.waitFor("task_completed", task.id, 120_000);
    const updates = client.events.filter((e) => e.event === "task_min_update").map((e) => e.data.percent as number);
    expect([...updates].sort((a, b) => a - b)).toEqual(updates);
    const ended = (await gateway.api!.get(`/v1/process/tasks/${task.id}`)).body;
    expect(ended.status).toBe("completed");
    expect(ended.percent).toBe(100);
    expect(pidOfServer(ended.server)).toBe(full.pid);
  });
});
