import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Engine, EngineProbe } from "../dist/index.js";
import { createImageEngine, loadEngineRegistry, probeImageEngine } from "../dist/index.js";
import { failure } from "./failure.js";

let dir: string;
let input: string;
let engine: Engine;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "transmute-engine-"));
  input = join(dir, "green.png");
  await sharp({ create: { width: 60, height: 30, channels: 3, background: { r: 0, g: 160, b: 0 } } }).png().toFile(input);
  engine = createImageEngine({ poolSize: 1, timeoutMs: 20_000, maxPixels: 10_000 });
});

afterAll(async () => {
  await engine.close();
  await rm(dir, { recursive: true, force: true });
});

function fakeEngine(name: string, probe: () => Promise<EngineProbe>): Engine {
  return {
    name,
    engineClass: "image",
    probe,
    convert: () => Promise.reject(new Error("not used")),
    close: () => Promise.resolve(),
  };
}

describe("image engine", () => {
  it("probes sharp for its conversions", async () => {
    const probe = await probeImageEngine();
    expect(probe.available).toBe(true);
    expect(probe.version).toMatch(/^sharp \d+\.\d+\.\d+, libvips \d+\.\d+/);
    const pairs = probe.conversions.map((c) => `${c.from}>${c.to}`);
    expect(pairs).toEqual(expect.arrayContaining(["jpg>png", "png>webp", "png>avif", "svg>jpg", "gif>webp", "tiff>jpg", "avif>png"]));
    expect(pairs.some((p) => p.endsWith(">svg") || p.startsWith("heic>"))).toBe(false);
  });

  it("converts in a pool child, applying options and listing the ignored ones", async () => {
    const outputPath = join(dir, "out.jpeg");
    const result = await engine.convert({
      inputPath: input, outputPath, inputFormat: "png", outputFormat: "jpeg",
      options: { image_custom_width: "30", png_compression_level: 9, foo: 1 },
    });
    expect(result).toMatchObject({ format: "jpg", width: 30, height: 15, ignoredOptions: ["foo", "png_compression_level"] });
    const meta = await sharp(outputPath).metadata();
    expect(meta).toMatchObject({ format: "jpeg", width: 30, height: 15 });
    expect((await stat(outputPath)).size).toBe(result.size);
    const { data } = await sharp(outputPath).raw().toBuffer({ resolveWithObject: true });
    expect(Math.abs(data[1]! - 160)).toBeLessThan(12);
  });

  it("rejects a bad option before any work", async () => {
    const err = await failure(engine.convert({ inputPath: input, outputPath: join(dir, "x.png"), inputFormat: "png", outputFormat: "png", options: { quality: "high" } }));
    expect(err.code).toBe("invalid_option");
  });

  it("takes a tighter per-call pixel limit, never a looser one", async () => {
    const tighter = await failure(engine.convert({ inputPath: input, outputPath: join(dir, "t.png"), inputFormat: "png", outputFormat: "png", limits: { maxPixels: 1_000 } }));
    expect(tighter.code).toBe("image_too_large");
    expect(tighter.message).toContain("the limit is 1000 pixels");
    const looser = await failure(engine.convert({
      inputPath: input, outputPath: join(dir, "l.png"), inputFormat: "png", outputFormat: "png", options: { image_resize_percentage: 1000 }, limits: { maxPixels: 10 ** 9 },
    }));
    expect(looser.code).toBe("image_too_large");
  });

  it("carries the child's error codes back (image_too_large from its own pixel limit)", async () => {
    const err = await failure(engine.convert({
      inputPath: input, outputPath: join(dir, "big.png"), inputFormat: "png", outputFormat: "png", options: { image_resize_percentage: 1000 },
    }));
    expect(err.code).toBe("image_too_large");
    expect(err.message).toContain("the output would be 600 x 300");
  });
});

describe("engine registry", () => {
  it("dispatches a conversion to the first available engine that does it", async () => {
    const broken = fakeEngine("broken", () => Promise.reject(new Error("no binary")));
    const missing = fakeEngine("office", async () => ({ version: "-", conversions: [{ from: "png", to: "jpg" }], available: false, missing: "soffice not found" }));
    const pdf = fakeEngine("pdf", async () => ({ version: "1", conversions: [{ from: "pdf", to: "png" }, { from: "png", to: "jpg" }], available: true }));
    const registry = await loadEngineRegistry([broken, missing, engine, pdf]);
    expect(registry.findEngine("JPEG", "png")).toBe(engine);
    expect(registry.findEngine("png", "jpg")).toBe(engine);
    expect(registry.findEngine("pdf", "png")).toBe(pdf);
    expect(registry.findEngine("docx", "pdf")).toBeUndefined();
    expect(registry.probes.map((p) => [p.name, p.engineClass, p.available])).toEqual([
      ["broken", "image", false], ["office", "image", false], ["sharp", "image", true], ["pdf", "image", true],
    ]);
    expect(registry.probes[0]?.missing).toBe("Error: no binary");
    expect(registry.probes[1]?.missing).toBe("soffice not found");
  });
});
