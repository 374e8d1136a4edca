import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { identifyFormat, parseImageOptions, type ImageOptions } from "@transmute/core";
import { convertImage, listImageFormats } from "../dist/convert-image.js";
import { makeHugePng } from "../../../test/support/huge-png.js";

const LIMITS = { maxPixels: 100_000_000 };
let dir: string;

type Rgb = [number, number, number];

async function pixel(path: string, x: number, y: number): Promise<{ rgb: Rgb; alpha: number }> {
  const { data, info } = await sharp(path).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const at = (y * info.width + x) * 4;
  return { rgb: [data[at]!, data[at + 1]!, data[at + 2]!], alpha: data[at + 3]! };
}

function expectColor(actual: Rgb, expected: Rgb, tolerance = 12): void {
  actual.forEach((channel, i) => expect(Math.abs(channel - expected[i]!), `${actual} vs ${expected}`).toBeLessThanOrEqual(tolerance));
}

async function convert(input: string, inputFormat: string, outputFormat: string, options: Record<string, unknown> = {}, limits = LIMITS) {
  const outputPath = join(dir, `out-${Math.random().toString(36).slice(2)}.${outputFormat}`);
  const { values } = parseImageOptions(options, { outputFormat });
  const result = await convertImage({ inputPath: input, outputPath, inputFormat, outputFormat, options: values as ImageOptions, limits });
  return { result, outputPath, meta: await sharp(outputPath, { animated: true }).metadata() };
}

async function failure(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error("expected the conversion to fail");
}

const RED: Rgb = [200, 30, 40];
const BLUE: Rgb = [20, 40, 220];
let jpgPath: string;
let alphaPngPath: string;
let svgPath: string;
let animatedGifPath: string;
let hugePngPath: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "transmute-image-"));
  jpgPath = join(dir, "red.jpg");
  await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: RED[0], g: RED[1], b: RED[2] } } }).jpeg({ quality: 95 }).toFile(jpgPath);
  // 80 x 40: left half transparent, right half opaque blue.
  alphaPngPath = join(dir, "half.png");
  const blueHalf = await sharp({ create: { width: 40, height: 40, channels: 4, background: { r: BLUE[0], g: BLUE[1], b: BLUE[2], alpha: 1 } } }).png().toBuffer();
  await sharp({ create: { width: 80, height: 40, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
    .composite([{ input: blueHalf, left: 40, top: 0 }]).png().toFile(alphaPngPath);
  // 100 x 50 user units, a red disc in the middle, transparent elsewhere.
  svgPath = join(dir, "disc.svg");
  await writeFile(svgPath, '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="100" height="50" viewBox="0 0 100 50"><circle cx="50" cy="25" r="20" fill="#ff0000"/></svg>');
  // Three 20 x 10 frames: red, green, blue.
  animatedGifPath = join(dir, "anim.gif");
  const frames = await Promise.all([[255, 0, 0], [0, 255, 0], [0, 0, 255]].map(([r, g, b]) =>
    sharp({ create: { width: 20, height: 10, channels: 3, background: { r: r!, g: g!, b: b! } } }).raw().toBuffer()));
  await sharp(Buffer.concat(frames), { raw: { width: 20, height: 30, channels: 3, pageHeight: 10 } }).gif({ delay: [100, 100, 100], loop: 0 }).toFile(animatedGifPath);
  hugePngPath = join(dir, "huge.png");
  await writeFile(hugePngPath, await makeHugePng(50_000, 50_000));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("convertImage", () => {
  it("jpg -> png keeps size and colour", async () => {
    const { result, meta, outputPath } = await convert(jpgPath, "jpg", "png");
    expect(meta).toMatchObject({ format: "png", width: 64, height: 48 });
    expect(result).toMatchObject({ format: "png", width: 64, height: 48, size: (await stat(outputPath)).size });
    expectColor((await pixel(outputPath, 10, 10)).rgb, RED);
  });

  it("png -> webp keeps transparency", async () => {
    const { meta, outputPath } = await convert(alphaPngPath, "png", "webp");
    expect(meta).toMatchObject({ format: "webp", width: 80, height: 40, hasAlpha: true });
    expect((await pixel(outputPath, 10, 20)).alpha).toBe(0);
    const right = await pixel(outputPath, 60, 20);
    expect(right.alpha).toBe(255);
    expectColor(right.rgb, BLUE);
  });

  it("png -> avif with a width keeps the aspect ratio", async () => {
    const { result, meta, outputPath } = await convert(alphaPngPath, "png", "avif", { image_custom_width: "40" });
    expect(meta).toMatchObject({ format: "heif", compression: "av1", width: 40, height: 20 });
    expect(result).toMatchObject({ format: "avif", width: 40, height: 20 });
    expect(identifyFormat(await readFile(outputPath))).toBe("avif");
    expectColor((await pixel(outputPath, 30, 10)).rgb, BLUE, 16);
  });

  it("svg -> jpg with a background and a width renders at the target size", async () => {
    const { result, meta, outputPath } = await convert(svgPath, "svg", "jpg", { background: "#00ff00", image_custom_width: 400 });
    expect(meta).toMatchObject({ format: "jpeg", width: 400, height: 200 });
    expect(result).toMatchObject({ format: "jpg", width: 400, height: 200 });
    expectColor((await pixel(outputPath, 5, 5)).rgb, [0, 255, 0]);
    expectColor((await pixel(outputPath, 200, 100)).rgb, [255, 0, 0]);
  });

  it("svg -> png without options keeps the SVG's size and transparency", async () => {
    const { meta, outputPath } = await convert(svgPath, "svg", "png");
    expect(meta).toMatchObject({ format: "png", width: 100, height: 50 });
    expect((await pixel(outputPath, 2, 2)).alpha).toBe(0);
  });

  it("an svg cannot pull in local files", async () => {
    const secret = join(dir, "secret.png");
    await sharp({ create: { width: 100, height: 50, channels: 3, background: { r: 255, g: 0, b: 0 } } }).png().toFile(secret);
    const sneaky = join(dir, "sneaky.svg");
    await writeFile(sneaky, `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="100" height="50">
      <image href="file://${secret}" xlink:href="file://${secret}" width="100" height="50"/><image href="secret.png" width="100" height="50"/></svg>`);
    const { outputPath } = await convert(sneaky, "svg", "png");
    expect((await pixel(outputPath, 50, 25)).alpha).toBe(0);
  });

  it("a transparent png -> jpg is flattened on white", async () => {
    const { meta, outputPath } = await convert(alphaPngPath, "png", "jpg");
    expect(meta).toMatchObject({ format: "jpeg", width: 80, height: 40, channels: 3 });
    expectColor((await pixel(outputPath, 10, 20)).rgb, [255, 255, 255]);
    expectColor((await pixel(outputPath, 60, 20)).rgb, BLUE);
  });

  it("background flattens transparency in formats that have alpha too", async () => {
    const { meta, outputPath } = await convert(alphaPngPath, "png", "png", { background: "rgb(255, 255, 0)" });
    expect(meta.hasAlpha).toBe(false);
    expectColor((await pixel(outputPath, 10, 20)).rgb, [255, 255, 0], 0);
  });

  it("png -> gif, and png -> tiff (lossless, alpha kept)", async () => {
    const gif = await convert(alphaPngPath, "png", "gif");
    expect(gif.meta).toMatchObject({ format: "gif", width: 80, height: 40 });
    expectColor((await pixel(gif.outputPath, 60, 20)).rgb, BLUE, 16);
    const tiff = await convert(alphaPngPath, "png", "tif");
    expect(tiff.meta).toMatchObject({ format: "tiff", width: 80, height: 40, channels: 4 });
    expect(tiff.result.format).toBe("tiff");
    expect((await pixel(tiff.outputPath, 10, 20)).alpha).toBe(0);
    expectColor((await pixel(tiff.outputPath, 60, 20)).rgb, BLUE, 0);
  });

  it("an animated gif -> webp keeps every frame, resized per frame", async () => {
    const { result, meta, outputPath } = await convert(animatedGifPath, "gif", "webp", { image_resize_percentage: 200 });
    expect(meta).toMatchObject({ format: "webp", width: 40, pages: 3, pageHeight: 20 });
    expect(result).toMatchObject({ width: 40, height: 20 });
    const frame3 = await sharp(outputPath, { page: 2 }).ensureAlpha().raw().toBuffer();
    const centre = (10 * 40 + 20) * 4;
    expectColor([frame3[centre]!, frame3[centre + 1]!, frame3[centre + 2]!], [0, 0, 255], 24);
  });

  it("an animated gif -> png takes the first frame", async () => {
    const { meta, outputPath } = await convert(animatedGifPath, "gif", "png");
    expect(meta).toMatchObject({ format: "png", width: 20, height: 10 });
    expectColor((await pixel(outputPath, 5, 5)).rgb, [255, 0, 0], 16);
  });

  it.each<[string, Record<string, unknown>, number, number]>([
    ["a percentage", { image_resize_percentage: 50 }, 32, 24],
    ["a height alone", { image_custom_height: 12 }, 16, 12],
    ["width and height, exactly", { image_custom_width: 10, image_custom_height: 30 }, 10, 30],
  ])("resizes by %s", async (_label, options, width, height) => {
    const { meta, outputPath } = await convert(jpgPath, "jpg", "png", options);
    expect(meta).toMatchObject({ width, height });
    expectColor((await pixel(outputPath, Math.floor(width / 2), Math.floor(height / 2))).rgb, RED);
  });

  it("applies the EXIF orientation to the pixels", async () => {
    const rotated = join(dir, "rotated.jpg");
    await sharp({ create: { width: 40, height: 20, channels: 3, background: { r: 0, g: 0, b: 255 } } })
      .jpeg().withMetadata({ orientation: 6 }).toFile(rotated);
    expect((await sharp(rotated).metadata()).orientation).toBe(6);
    const { meta } = await convert(rotated, "jpg", "png");
    expect(meta).toMatchObject({ width: 20, height: 40 });
    expect(meta.orientation).toBeUndefined();
  });

  it("png_compression_level lossy quantises to a palette and makes a smaller file", async () => {
    const gradient = join(dir, "gradient.png");
    const raw = Buffer.alloc(128 * 128 * 3);
    for (let i = 0; i < 128 * 128; i++) raw.set([i % 128 * 2, Math.floor(i / 128) * 2, (i * 7) % 256], i * 3);
    await sharp(raw, { raw: { width: 128, height: 128, channels: 3 } }).png().toFile(gradient);
    const lossless = await convert(gradient, "png", "png", { png_compression_level: "lossless" });
    const lossy = await convert(gradient, "png", "png", { png_compression_level: "lossy", png_compression_quality: 40 });
    expect(lossless.meta.isPalette).toBe(false);
    expect(lossy.meta.isPalette).toBe(true);
    expect(lossy.result.size).toBeLessThan(lossless.result.size);
  });

  it("jpg_convert_compression_level: a higher level gives a smaller file", async () => {
    const photo = join(dir, "noise.png");
    const raw = Buffer.alloc(96 * 96 * 3);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 2654435761) >>> 24;
    await sharp(raw, { raw: { width: 96, height: 96, channels: 3 } }).png().toFile(photo);
    const fine = await convert(photo, "png", "jpg", { jpg_convert_compression_level: 5 });
    const coarse = await convert(photo, "png", "jpg", { jpg_convert_compression_level: 90 });
    expect(coarse.result.size).toBeLessThan(fine.result.size / 2);
  });

  it("refuses a 50000 x 50000 png fast, from its header, without decoding it", async () => {
    expect((await stat(hugePngPath)).size).toBeLessThan(2_000_000);
    await convert(jpgPath, "jpg", "png"); // sharp is warm: what follows measures the conversion only
    const rssBefore = process.memoryUsage().rss;
    const started = performance.now();
    const err = await failure(convert(hugePngPath, "png", "jpg"));
    const elapsed = performance.now() - started;
    expect(err.code).toBe("image_too_large");
    expect(err.message).toContain("50000 x 50000");
    expect(elapsed).toBeLessThan(2_000);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(100 * 1024 * 1024);
  });

  it("refuses an output over the pixel limit before resizing", async () => {
    const started = performance.now();
    const err = await failure(convert(jpgPath, "jpg", "png", { image_custom_width: 50_000, image_custom_height: 50_000 }));
    expect(err.code).toBe("image_too_large");
    expect(err.message).toContain("the output would be 50000 x 50000");
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it("a truncated jpeg is corrupt_file and leaves no output behind", async () => {
    const bytes = await readFile(jpgPath);
    const truncated = join(dir, "truncated.jpg");
    await writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const outputPath = join(dir, "never.png");
    const err = await failure(convertImage({ inputPath: truncated, outputPath, inputFormat: "jpg", outputFormat: "png", options: {}, limits: LIMITS }));
    expect(err.code).toBe("corrupt_file");
    expect(err.message).not.toContain(dir);
    expect(existsSync(outputPath)).toBe(false);
  });

  it.each([
    ["bytes that are no image", "png", Buffer.from("this is not an image at all")],
    ["a broken svg", "svg", Buffer.from("<svg xmlns='http://www.w3.org/2000/svg'><circle")],
  ])("%s is corrupt_file", async (_label, format, bytes) => {
    const path = join(dir, `bad.${format}`);
    await writeFile(path, bytes);
    expect((await failure(convert(path, format, "png"))).code).toBe("corrupt_file");
  });

  it.each([["bmp", "png"], ["png", "svg"], ["png", "pdf"], ["heic", "jpg"]])("%s -> %s is unsupported_conversion", async (from, to) => {
    expect((await failure(convert(jpgPath, from, to))).code).toBe("unsupported_conversion");
  });

  it("writes what identifyFormat recognises, for every output format", async () => {
    for (const [format, expected] of [["jpg", "jpg"], ["png", "png"], ["webp", "webp"], ["avif", "avif"], ["gif", "gif"], ["tiff", "tiff"]] as const) {
      const { outputPath } = await convert(jpgPath, "jpg", format);
      expect(identifyFormat(await readFile(outputPath)), format).toBe(expected);
    }
  });

  it("lists the formats this sharp build handles", () => {
    const { inputs, outputs } = listImageFormats();
    expect(inputs.sort()).toEqual(["avif", "gif", "jpg", "png", "svg", "tiff", "webp"]);
    expect(outputs.sort()).toEqual(["avif", "gif", "jpg", "png", "tiff", "webp"]);
  });
});
