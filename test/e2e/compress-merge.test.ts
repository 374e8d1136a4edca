/**
 * compress and merge end to end, embedded: PDFs of photos really shrink (and turn gray), images
 * shrink in their own format, nothing comes out larger than it went in; merges checked page by
 * page (count, size in points, the image on each page) and frame by frame; inputs from
 * convert and export tasks; a zip of an exported thumbnail and a merged PDF; clear failures.
 */
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { download, type TestServer } from "../support/harness.js";
import { isGray, makePhoto, makePhotoPdf, middlePixel, readPdf } from "./compress-merge-fixtures.js";
import { expectError, expectTaskFailed, makePng, readZip, runJob, startServer, taskOf, waitTask } from "./helpers.js";

let server: TestServer;
let photos: Buffer[];
let photoPdf: Buffer;
let bluePng: Buffer;
let webp: Buffer;

beforeAll(async () => {
  [server, photos, bluePng] = await Promise.all([
    startServer(),
    Promise.all([makePhoto(2400, 1800, 1), makePhoto(1800, 2400, 2), makePhoto(2400, 1500, 3)]),
    makePng(300, 200, [20, 40, 220]),
  ]);
  photoPdf = await makePhotoPdf(photos);
  webp = await sharp(photos[2]).resize(400).webp({ quality: 90 }).toBuffer();
});

afterAll(async () => {
  await server?.close();
});

const b64 = (bytes: Buffer) => bytes.toString("base64");
const importOf = (bytes: Buffer, filename: string) => ({ operation: "import/base64", file: b64(bytes), filename });

/** import/base64 -> compress -> export/url, waited for; returns the compress task and the downloaded output. */
async function compressBytes(bytes: Buffer, filename: string, compress: Record<string, unknown> = {}) {
  const { job } = await runJob(server.api, {
    in: importOf(bytes, filename),
    compress: { operation: "compress", input: "in", ...compress },
    out: { operation: "export/url", input: "compress" },
  });
  const task = taskOf(job, "compress");
  expect(task.status, JSON.stringify(task)).toBe("completed");
  const file = await download(taskOf(job, "out").result.url);
  expect(file.status).toBe(200);
  return { task, bytes: file.bytes, headers: file.headers };
}

/** Imports every input, merges them, exports; returns the job, the merge task and the output. */
async function mergeBytes(inputs: Array<[Buffer, string]>, merge: Record<string, unknown>) {
  const tasks: Record<string, unknown> = {};
  inputs.forEach(([bytes, name], i) => (tasks[`in${i}`] = importOf(bytes, name)));
  tasks.merge = { operation: "merge", input: inputs.map((_, i) => `in${i}`), ...merge };
  tasks.out = { operation: "export/url", input: "merge" };
  const { job } = await runJob(server.api, tasks);
  const task = taskOf(job, "merge");
  expect(task.status, JSON.stringify(task)).toBe("completed");
  const file = await download(taskOf(job, "out").result.url);
  return { job, task, bytes: file.bytes };
}

describe("compress: PDF (Ghostscript)", () => {
  it("shrinks a PDF of photos meaningfully at every level, keeping its pages", async () => {
    const sizes: Record<string, number> = {};
    for (const level of ["medium", "strong"]) {
      const { task, bytes } = await compressBytes(photoPdf, "photos.pdf", { options: { pdf_compression_level: level } });
      expect(task.result).toMatchObject({ compressed: true, input_size: photoPdf.length, output_size: bytes.length });
      expect(task.result.files).toEqual([expect.objectContaining({ filename: "photos.pdf", content_type: "application/pdf", size: bytes.length })]);
      expect(task.result.compression_ratio).toBeCloseTo(bytes.length / photoPdf.length, 3);
      const pages = await readPdf(bytes);
      expect(pages.map((p) => [p.width, p.height])).toEqual(photos.map(() => [595.28, 841.89]));
      // The photos are downsampled (they were 320 ppi on the page), not dropped.
      for (const page of pages) {
        expect(page.images).toHaveLength(1);
        expect(page.images[0]!.width).toBeLessThan(1200);
      }
      sizes[level] = bytes.length;
    }
    console.log(`compress pdf: ${photoPdf.length} B of photos -> medium ${sizes.medium} B (${(sizes.medium! / photoPdf.length).toFixed(3)}), strong ${sizes.strong} B (${(sizes.strong! / photoPdf.length).toFixed(3)})`);
    expect(sizes.medium! / photoPdf.length).toBeLessThan(0.5);
    expect(sizes.strong!).toBeLessThan(sizes.medium!);
  });

  it("converts to gray with pdf_convert_to_gray: every image has one component", async () => {
    const { task, bytes } = await compressBytes(photoPdf, "photos.pdf", { options: { pdf_compression_level: "strong", pdf_convert_to_gray: true } });
    expect(task.result.compressed).toBe(true);
    console.log(`compress pdf: strong + gray ${bytes.length} B (${(bytes.length / photoPdf.length).toFixed(3)})`);
    const original = (await readPdf(photoPdf)).flatMap((p) => p.images);
    expect(original.every((image) => !isGray(image))).toBe(true);
    const images = (await readPdf(bytes)).flatMap((p) => p.images);
    expect(images).toHaveLength(photos.length);
    for (const image of images) expect(isGray(image), image.colorSpace).toBe(true);
    // A gray JPEG really is one channel.
    const gray = images.find((image) => image.filter === "DCTDecode");
    if (gray) expect((await sharp(gray.data).metadata()).channels).toBe(1);
  });

  it("runs as the standalone endpoint with the reference's body, ignoring its output_format", async () => {
    const upload = await runJob(server.api, { in: importOf(photoPdf, "sample.pdf") });
    const importId = taskOf(upload.job, "in").id;
    const res = await server.api.post("/v1/process/compress", {
      input: importId,
      input_format: "pdf",
      output_format: "png",
      filename: "sample.pdf",
      options: { pdf_compression_level: "strong", pdf_convert_to_gray: true },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ operation: "compress", dependsOn: [importId], payload: { input_format: "pdf", options: { pdf_compression_level: "strong", pdf_convert_to_gray: true } } });
    const task = await waitTask(server.api, res.body.id);
    expect(task.status, JSON.stringify(task)).toBe("completed");
    expect(task.result).toMatchObject({ compressed: true, ignored_options: ["output_format"], files: [expect.objectContaining({ filename: "sample.pdf", content_type: "application/pdf" })] });
  });

  it("keeps a PDF that cannot be made smaller, and says so", async () => {
    // Text only, already tiny: Ghostscript's rewrite (fonts, metadata) comes out larger.
    const { PDFDocument } = await import("pdf-lib");
    const doc = await PDFDocument.create();
    doc.addPage([200, 200]).drawText("hi", { x: 10, y: 10 });
    const tiny = Buffer.from(await doc.save());
    const { task, bytes } = await compressBytes(tiny, "tiny.pdf", { options: { pdf_compression_level: "low" } });
    expect(task.result).toMatchObject({ compressed: false, input_size: tiny.length, output_size: tiny.length, compression_ratio: 1 });
    expect(bytes.equals(tiny)).toBe(true);
  });
});

describe("compress: images (sharp)", () => {
  it("shrinks a jpg with mozjpeg and keeps its size in pixels", async () => {
    const { task, bytes } = await compressBytes(photos[0]!, "photo.jpg", { options: { quality: 70 } });
    expect(task.result.compressed).toBe(true);
    expect(bytes.length).toBeLessThan(photos[0]!.length * 0.7);
    expect(await sharp(bytes).metadata()).toMatchObject({ format: "jpeg", width: 2400, height: 1800 });
  });

  it("quantises a png to a palette of at most `colors` colours", async () => {
    const png = await sharp(photos[1]).resize(300).png().toBuffer();
    const { task, bytes } = await compressBytes(png, "photo.png", { options: { colors: 16 } });
    expect(task.result.compressed).toBe(true);
    expect(await sharp(bytes).metadata()).toMatchObject({ format: "png", width: 300, isPalette: true });
    const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
    const colours = new Set<number>();
    for (let i = 0; i < data.length; i += info.channels) colours.add((data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!);
    expect(colours.size).toBeLessThanOrEqual(16);
    expect(bytes.length).toBeLessThan(png.length / 2);
  });

  it("compresses webp and lists options that do not apply to it", async () => {
    const { task, bytes } = await compressBytes(webp, "photo.webp", { options: { quality: 40, mozjpeg: false, pdf_compression_level: "strong", shiny: 1 } });
    expect(task.result).toMatchObject({ compressed: true });
    expect([...task.result.ignored_options].sort()).toEqual(["mozjpeg", "pdf_compression_level", "shiny"]);
    expect(await sharp(bytes).metadata()).toMatchObject({ format: "webp", width: 400 });
  });

  it("never returns a larger file: an already minimal image is kept as it is", async () => {
    const small = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#000" } }).png({ palette: true, colours: 2, compressionLevel: 9 }).toBuffer();
    const { task, bytes } = await compressBytes(small, "dot.png");
    expect(task.result).toMatchObject({ compressed: false, input_size: small.length, output_size: small.length, compression_ratio: 1 });
    expect(bytes.equals(small)).toBe(true);
  });
});

describe("compress: failures", () => {
  it("fails an input of a format it does not compress with unsupported_format", async () => {
    const { job } = await runJob(server.api, {
      in: importOf(Buffer.from("just some text\n"), "notes.txt"),
      compress: { operation: "compress", input: "in" },
    });
    expectTaskFailed(taskOf(job, "compress"), "unsupported_format");
    expect(taskOf(job, "compress").message).toContain("compress takes");
  });

  it("refuses bad options at creation, naming the valid values", async () => {
    const res = await server.api.post("/v1/process/jobs", {
      tasks: { in: importOf(photoPdf, "a.pdf"), c: { operation: "compress", input: "in", options: { pdf_compression_level: "extreme" } } },
    });
    expectError(res, 400, "invalid_option", "pdf_compression_level", "low, medium, strong");
  });
});

describe("merge into pdf (pdf-lib)", () => {
  it("merges images and a PDF in input order, page by page", async () => {
    const { task, bytes } = await mergeBytes(
      [[photos[0]!, "one.jpg"], [bluePng, "two.png"], [photoPdf, "three.pdf"], [webp, "four.webp"]],
      { output_format: "pdf", filename: "bundle.pdf", options: { pdf_page_size: "Letter", pdf_orientation: "portrait" } },
    );
    expect(task.result).toMatchObject({ pages: 6, files: [expect.objectContaining({ filename: "bundle.pdf", content_type: "application/pdf" })] });
    const pages = await readPdf(bytes);
    // Image pages are Letter; the PDF's own A4 pages are copied as they are.
    expect(pages.map((p) => `${p.width}x${p.height}`)).toEqual(["612x792", "612x792", "595.28x841.89", "595.28x841.89", "595.28x841.89", "612x792"]);
    // Page 1: the JPEG itself, not re-encoded.
    expect(pages[0]!.images[0]!.filter).toBe("DCTDecode");
    expect(pages[0]!.images[0]!.data.equals(photos[0]!)).toBe(true);
    // Page 2: the PNG's pixels.
    expect(pages[1]!.images[0]).toMatchObject({ width: 300, height: 200 });
    expect(middlePixel(pages[1]!.images[0]!)).toEqual([20, 40, 220]);
    // Pages 3-5: the source PDF's photos, in order; page 6: the webp.
    expect(pages.slice(2, 5).map((p) => [p.images[0]!.width, p.images[0]!.height])).toEqual([[2400, 1800], [1800, 2400], [2400, 1500]]);
    expect(pages[5]!.images[0]).toMatchObject({ width: 400, height: 250 });
  });

  it("sizes image pages: WxH in points, landscape, auto orientation and auto size", async () => {
    const wide = photos[0]!; // 2400 x 1800
    const tall = photos[1]!; // 1800 x 2400
    const cases: Array<[Record<string, unknown>, string[]]> = [
      [{ pdf_page_size: "1240.2x1753.95", pdf_orientation: "portrait" }, ["1240.2x1753.95", "1240.2x1753.95"]],
      [{ pdf_page_size: "1240.2x1753.95", pdf_orientation: "landscape" }, ["1753.95x1240.2", "1753.95x1240.2"]],
      [{ pdf_page_size: "a4" }, ["841.89x595.28", "595.28x841.89"]],
      [{}, ["2400x1800", "1800x2400"]],
    ];
    for (const [options, expected] of cases) {
      const { bytes } = await mergeBytes([[wide, "wide.jpg"], [tall, "tall.jpg"]], { output_format: "pdf", options: { ...options, pdf_image_alignment: "TopLeft", enlarge_images_to_fit: true } });
      expect((await readPdf(bytes)).map((p) => `${p.width}x${p.height}`), JSON.stringify(options)).toEqual(expected);
    }
  });

  it("runs as the standalone endpoint on tasks of convert and export", async () => {
    const { job } = await runJob(server.api, {
      a: importOf(bluePng, "a.png"),
      b: importOf(photos[2]!, "b.jpg"),
      small: { operation: "convert", input: "b", output_format: "png", options: { image_custom_width: 160 } },
      exported: { operation: "export/url", input: "a" },
    });
    const res = await server.api.post("/v1/process/merge", { input: [taskOf(job, "small").id, taskOf(job, "exported").id], output_format: "pdf", filename: "some.pdf" });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const task = await waitTask(server.api, res.body.id);
    expect(task.status, JSON.stringify(task)).toBe("completed");
    expect(task.result).toMatchObject({ pages: 2, files: [expect.objectContaining({ filename: "some.pdf" })] });
  });
});

describe("merge into gif (sharp)", () => {
  it("makes one frame per image on the first image's canvas, with the delay asked", async () => {
    const { task, bytes } = await mergeBytes(
      [[await sharp(photos[0]).resize(160).jpeg().toBuffer(), "a.jpg"], [bluePng, "b.png"], [webp, "c.webp"]],
      { output_format: "gif", options: { gif_frame_delay: 250, pdf_page_size: "A4" } },
    );
    expect(task.result).toMatchObject({ frames: 3, width: 160, height: 120, ignored_options: ["pdf_page_size"], files: [expect.objectContaining({ filename: "a.gif", content_type: "image/gif" })] });
    const meta = await sharp(bytes, { animated: true }).metadata();
    expect(meta).toMatchObject({ format: "gif", pages: 3, width: 160, pageHeight: 120, loop: 0 });
    expect(meta.delay).toEqual([250, 250, 250]);
    // Frame 2 is the blue PNG, scaled into the canvas.
    const frame = await sharp(bytes, { page: 1 }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const at = (60 * frame.info.width + 80) * frame.info.channels;
    expect(Math.abs(frame.data[at + 2]! - 220)).toBeLessThan(30);
    expect(frame.data[at]!).toBeLessThan(60);
  });
});

describe("merge: failures", () => {
  it("refuses one input, and an output_format merge does not make, at creation", async () => {
    expectError(
      await server.api.post("/v1/process/jobs", { tasks: { a: importOf(bluePng, "a.png"), m: { operation: "merge", input: ["a"], output_format: "pdf" } } }),
      400, "invalid_payload", "at least 2 inputs",
    );
    expectError(
      await server.api.post("/v1/process/jobs", { tasks: { a: importOf(bluePng, "a.png"), b: importOf(bluePng, "b.png"), m: { operation: "merge", input: ["a", "b"], output_format: "docx" } } }),
      400, "invalid_payload", "pdf, gif",
    );
    expectError(
      await server.api.post("/v1/process/jobs", { tasks: { a: importOf(bluePng, "a.png"), b: importOf(bluePng, "b.png"), m: { operation: "merge", input: ["a", "b"], output_format: "pdf", options: { pdf_page_size: "A9000" } } } }),
      400, "invalid_option", "pdf_page_size", "WxH",
    );
  });

  it("fails an input that is neither image nor PDF, and a PDF into a gif, naming the input", async () => {
    const { job } = await runJob(server.api, {
      a: importOf(bluePng, "a.png"),
      b: importOf(Buffer.from("not an image"), "b.txt"),
      m: { operation: "merge", input: ["a", "b"], output_format: "pdf" },
    });
    expectTaskFailed(taskOf(job, "m"), "unsupported_format");
    expect(taskOf(job, "m").message).toContain("Input 2");
    const gif = await runJob(server.api, {
      a: importOf(bluePng, "a.png"),
      b: importOf(photoPdf, "b.pdf"),
      m: { operation: "merge", input: ["a", "b"], output_format: "gif" },
    });
    expectTaskFailed(taskOf(gif.job, "m"), "unsupported_format");
    expect(taskOf(gif.job, "m").message).toContain("is pdf");
  });
});

describe("export/url of an export and a merge", () => {
  it("zips an exported thumbnail together with a merged PDF", async () => {
    const { job } = await runJob(server.api, {
      a: importOf(photos[0]!, "a.jpg"),
      b: importOf(photos[1]!, "b.jpg"),
      thumb: { operation: "convert", input: "a", output_format: "png", filename: "thumbnail.png", options: { image_custom_width: 64 } },
      thumbExport: { operation: "export/url", input: "thumb" },
      merged: { operation: "merge", input: ["a", "b"], output_format: "pdf", filename: "merged.pdf" },
      bundle: { operation: "export/url", input: ["thumbExport", "merged"], archive_multiple_files: true, filename: "bundle.zip" },
    });
    expect(job.status, JSON.stringify(job)).toBe("completed");
    const bundle = taskOf(job, "bundle");
    expect(bundle.result.files).toEqual([expect.objectContaining({ filename: "bundle.zip", content_type: "application/zip" })]);
    const entries = readZip((await download(bundle.result.url)).bytes);
    expect(entries.map((e) => e.name)).toEqual(["thumbnail.png", "merged.pdf"]);
    expect(await sharp(entries[0]!.data).metadata()).toMatchObject({ format: "png", width: 64, height: 48 });
    expect((await readPdf(entries[1]!.data)).length).toBe(2);
  });
});
