/**
 * compress, merge and zipped exports scaled out: a gateway and worker processes on Postgres and
 * Redis. The work runs on workers that registered the engine classes (image, pdf, ghostscript);
 * a worker without Ghostscript never gets a PDF compression, and with no such worker alive the
 * task fails at once naming what is missing.
 */
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCluster, type Cluster, type ServerProcess } from "../support/cluster.js";
import { download } from "../support/harness.js";
import { servicesAvailable } from "../support/services.js";
import { makePhoto, makePhotoPdf, readPdf } from "../e2e/compress-merge-fixtures.js";
import { readZip } from "../e2e/helpers.js";
import { pidOfServer, printLogsOnFailure } from "./fixtures.js";

const available = await servicesAvailable();

describe.skipIf(!available)("scaled out: compress, merge and zip", () => {
  let cluster: Cluster | undefined;
  let gateway: ServerProcess;
  let worker: ServerProcess;
  let photos: Buffer[];
  let photoPdf: Buffer;
  printLogsOnFailure(() => cluster);

  beforeAll(async () => {
    cluster = await createCluster();
    const started = await Promise.all([cluster.start("gateway", { noWait: true }), cluster.start("worker", { noWait: true })]);
    photos = await Promise.all([makePhoto(1600, 1200, 11), makePhoto(1200, 1600, 12)]);
    photoPdf = await makePhotoPdf(photos);
    await Promise.all(started.map((p) => cluster!.waitReady(p)));
    [gateway, worker] = started as [ServerProcess, ServerProcess];
  });

  afterAll(async () => {
    await cluster?.close();
  });

  const api = () => gateway.api!;
  const importOf = (bytes: Buffer, filename: string) => ({ operation: "import/base64", file: bytes.toString("base64"), filename });
  const taskOf = (job: any, name: string) => job.tasks.find((t: any) => t.name === name);

  async function runJob(tasks: Record<string, unknown>): Promise<any> {
    const created = await api().post("/v1/process/jobs", { tasks });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const done = await api().get(`/v1/process/jobs/${created.body.id}/wait`);
    expect(done.status).toBe(200);
    return done.body;
  }

  it("registers the engine classes of compress and merge", async () => {
    const [row] = await cluster!.sql<{ engines: { classes: string[]; engines: Array<{ name: string; engineClass: string }> } }>(`SELECT engines FROM "Worker"`);
    expect(row!.engines.classes).toEqual(expect.arrayContaining(["io", "image", "pdf", "ghostscript"]));
    expect(row!.engines.engines.map((e) => `${e.name}/${e.engineClass}`)).toEqual(expect.arrayContaining(["sharp/image", "pdf-lib/pdf", "ghostscript/ghostscript"]));
  });

  it("compresses, merges and zips on the worker", async () => {
    const job = await runJob({
      pdf: importOf(photoPdf, "photos.pdf"),
      a: importOf(photos[0]!, "a.jpg"),
      b: importOf(photos[1]!, "b.jpg"),
      small: { operation: "compress", input: "pdf", options: { pdf_compression_level: "strong", pdf_convert_to_gray: true } },
      lighter: { operation: "compress", input: "a", options: { quality: 60 } },
      merged: { operation: "merge", input: ["a", "pdf", "b"], output_format: "pdf", filename: "all.pdf", options: { pdf_page_size: "A4" } },
      anim: { operation: "merge", input: ["a", "b"], output_format: "gif", options: { gif_frame_delay: 100 } },
      thumbExport: { operation: "export/url", input: "lighter" },
      bundle: { operation: "export/url", input: ["thumbExport", "small", "merged", "anim"], archive_multiple_files: true, filename: "bundle" },
    });
    expect(job.status, JSON.stringify(job.tasks.map((t: any) => [t.name, t.status, t.message]))).toBe("completed");
    for (const name of ["small", "lighter", "merged", "anim", "bundle"]) expect(pidOfServer(taskOf(job, name).server)).toBe(worker.pid);
    expect(taskOf(job, "small").result).toMatchObject({ compressed: true });
    expect(taskOf(job, "small").result.compression_ratio).toBeLessThan(0.3);
    expect(taskOf(job, "lighter").result).toMatchObject({ compressed: true });
    expect(taskOf(job, "merged").result).toMatchObject({ pages: 4 });
    expect(taskOf(job, "anim").result).toMatchObject({ frames: 2, width: 1600, height: 1200 });

    const entries = readZip((await download(taskOf(job, "bundle").result.url)).bytes);
    expect(entries.map((e) => e.name)).toEqual(["a.jpg", "photos.pdf", "all.pdf", "a.gif"]);
    expect(await sharp(entries[0]!.data).metadata()).toMatchObject({ format: "jpeg", width: 1600 });
    expect((await readPdf(entries[2]!.data)).map((p) => `${p.width}x${p.height}`)).toEqual(["841.89x595.28", "595.28x841.89", "595.28x841.89", "595.28x841.89"]);
    expect(await sharp(entries[3]!.data, { animated: true }).metadata()).toMatchObject({ pages: 2, delay: [100, 100] });
  });

  it("runs the standalone endpoints", async () => {
    const imported = await runJob({ a: importOf(photos[0]!, "a.jpg"), b: importOf(photos[1]!, "b.jpg") });
    const [a, b] = [taskOf(imported, "a").id, taskOf(imported, "b").id];
    const merge = await api().post("/v1/process/merge", { input: [a, b], output_format: "pdf", filename: "some.pdf" });
    const compress = await api().post("/v1/process/compress", { input: a, input_format: "jpg", options: { quality: 50 } });
    expect([merge.status, compress.status]).toEqual([201, 201]);
    const [merged, compressed] = await Promise.all([merge, compress].map((r) => api().get(`/v1/process/tasks/${r.body.id}/wait`)));
    expect(merged!.body).toMatchObject({ status: "completed", result: { pages: 2 } });
    expect(compressed!.body).toMatchObject({ status: "completed", result: { compressed: true } });
  });

  it("never routes a PDF compression to a worker without Ghostscript", async () => {
    // The only worker left serves image and pdf, not ghostscript (as on a machine without gs).
    const partial = await cluster!.start("worker", { env: { TRANSMUTE_ENGINES: "io,image,pdf" } });
    await worker.stop();
    const job = await runJob({
      pdf: importOf(photoPdf, "photos.pdf"),
      a: importOf(photos[0]!, "a.jpg"),
      small: { operation: "compress", input: "pdf", ignore_error: true },
      lighter: { operation: "compress", input: "a" },
      merged: { operation: "merge", input: ["a", "pdf"], output_format: "pdf" },
    });
    const small = taskOf(job, "small");
    expect(small).toMatchObject({ status: "failed", code: "unsupported_conversion", server: null });
    expect(small.message).toContain('No running worker compresses pdf (the "ghostscript" engine');
    expect(taskOf(job, "lighter")).toMatchObject({ status: "completed" });
    expect(pidOfServer(taskOf(job, "merged").server)).toBe(partial.pid);
    expect(taskOf(job, "merged").result).toMatchObject({ pages: 3 });
  });
});
