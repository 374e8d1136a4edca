import { describe, expect, it } from "vitest";
import { AppError } from "../src/errors.js";
import {
  IMAGE_OPTIONS,
  describeImageOptionValues,
  parseColor,
  parseImageOptions,
  toJpegQuality,
} from "../src/image-options.js";

function parseError(options: unknown, context?: { outputFormat?: string }): AppError {
  try {
    parseImageOptions(options, context);
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error(`expected ${JSON.stringify(options)} to be rejected`);
}

describe("the options table", () => {
  it("has one row per option, with docs, and no name used twice", () => {
    const names = IMAGE_OPTIONS.flatMap((o) => [o.name, ...o.aliases]);
    expect(new Set(names).size).toBe(names.length);
    for (const o of IMAGE_OPTIONS) {
      expect(o.description.length, o.name).toBeGreaterThan(20);
      expect(o.defaultText.length, o.name).toBeGreaterThan(0);
      if (o.type === "integer" || o.type === "number") expect(o.min! <= o.max!, o.name).toBe(true);
    }
    expect(IMAGE_OPTIONS.map((o) => o.name)).toEqual([
      "image_custom_width", "image_custom_height", "image_resize_percentage", "background",
      "png_compression_quality", "png_compression_level", "jpg_convert_compression_level", "quality", "keep_metadata",
    ]);
  });

  it("describes accepted values in words", () => {
    const byName = (n: string) => IMAGE_OPTIONS.find((o) => o.name === n)!;
    expect(describeImageOptionValues(byName("image_custom_width"))).toBe("a whole number from 1 to 50000 (px)");
    expect(describeImageOptionValues(byName("png_compression_level"))).toBe('a whole number from 0 to 9, or "lossless" or "lossy"');
    expect(describeImageOptionValues(byName("image_resize_percentage"))).toBe("a number from 1 to 1000 (%)");
    expect(describeImageOptionValues(byName("keep_metadata"))).toBe("true or false");
  });
});

describe("parseImageOptions: accepted values", () => {
  it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
    ["numbers", { image_custom_width: 450, image_custom_height: 300 }, { image_custom_width: 450, image_custom_height: 300 }],
    ["numeric strings", { image_custom_width: "450", quality: " 70 " }, { image_custom_width: 450, quality: 70 }],
    ["a whole number written with decimals", { quality: "70.0" }, { quality: 70 }],
    ["bounds", { image_custom_width: 1, image_custom_height: 50000, quality: 100 }, { image_custom_width: 1, image_custom_height: 50000, quality: 100 }],
    ["fractional percentage", { image_resize_percentage: "12.5" }, { image_resize_percentage: 12.5 }],
    ["png level number", { png_compression_level: 0 }, { png_compression_level: 0 }],
    ["png level keyword", { png_compression_level: "LOSSY", png_compression_quality: "70" }, { png_compression_level: "lossy", png_compression_quality: 70 }],
    ["alias png_convert_quality", { png_convert_quality: 55 }, { png_compression_quality: 55 }],
    ["alias background_color", { background_color: "#fff" }, { background: { r: 255, g: 255, b: 255, alpha: 1 } }],
    ["same option twice with one value", { png_compression_quality: 60, png_convert_quality: "60" }, { png_compression_quality: 60 }],
    ["jpg compression level", { jpg_convert_compression_level: "30" }, { jpg_convert_compression_level: 30 }],
    ["booleans", { keep_metadata: "true" }, { keep_metadata: true }],
    ["boolean 0", { keep_metadata: 0 }, { keep_metadata: false }],
    ["null and empty mean absent", { image_custom_width: null, quality: "" }, {}],
  ])("%s", (_label, options, expected) => {
    expect(parseImageOptions(options).values).toEqual(expected);
  });

  it("accepts its own output again unchanged (the worker re-validates parsed values)", () => {
    const first = parseImageOptions({ background: "rgba(1, 2, 3, 0.5)", png_compression_level: "lossy", png_convert_quality: "40", image_custom_width: "9" });
    expect(parseImageOptions(first.values)).toEqual({ values: first.values, ignored: [] });
    expect(parseError({ background: { r: 300, g: 0, b: 0 } }).code).toBe("invalid_option");
    expect(parseError({ background: { r: 1, g: 2, b: 3, alpha: 2 } }).code).toBe("invalid_option");
  });

  it("treats missing options as none", () => {
    expect(parseImageOptions(undefined)).toEqual({ values: {}, ignored: [] });
    expect(parseImageOptions(null)).toEqual({ values: {}, ignored: [] });
  });
});

describe("parseImageOptions: rejected values", () => {
  it.each<[string, Record<string, unknown>, string]>([
    ["width 0", { image_custom_width: 0 }, "image_custom_width"],
    ["width too large", { image_custom_width: 50001 }, "image_custom_width"],
    ["width fractional", { image_custom_width: 12.5 }, "image_custom_width"],
    ["width word", { image_custom_width: "abc" }, "image_custom_width"],
    ["width hex", { image_custom_width: "0x10" }, "image_custom_width"],
    ["width exponent", { image_custom_width: "1e3" }, "image_custom_width"],
    ["width boolean", { image_custom_width: true }, "image_custom_width"],
    ["width negative", { image_custom_height: -5 }, "image_custom_height"],
    ["percentage 0", { image_resize_percentage: 0 }, "image_resize_percentage"],
    ["percentage too large", { image_resize_percentage: "1001" }, "image_resize_percentage"],
    ["png level 10", { png_compression_level: 10 }, "png_compression_level"],
    ["png level word", { png_compression_level: "medium" }, "png_compression_level"],
    ["png quality 0", { png_compression_quality: 0 }, "png_compression_quality"],
    ["alias named in the message", { png_convert_quality: 101 }, "png_convert_quality"],
    ["jpg level 0", { jpg_convert_compression_level: 0 }, "jpg_convert_compression_level"],
    ["quality 101", { quality: 101 }, "quality"],
    ["quality NaN", { quality: Number.NaN }, "quality"],
    ["quality object", { quality: { value: 3 } }, "quality"],
    ["background word", { background: "blurple" }, "background"],
    ["background number", { background: 0xffffff }, "background"],
    ["background array", { background: [255, 255, 255] }, "background"],
    ["keep_metadata word", { keep_metadata: "maybe" }, "keep_metadata"],
  ])("%s", (_label, options, name) => {
    const err = parseError(options);
    expect(err.code).toBe("invalid_option");
    expect(err.status).toBe(400);
    expect(err.message).toContain(name);
    const spec = IMAGE_OPTIONS.find((o) => o.name === name || o.aliases.includes(name))!;
    expect(err.message).toContain(describeImageOptionValues(spec));
  });

  it("names the option, the value and the valid range", () => {
    expect(parseError({ image_custom_width: "60000" }).message).toBe(
      'option image_custom_width must be a whole number from 1 to 50000 (px); got "60000"',
    );
  });

  it("refuses one option given twice with different values", () => {
    const err = parseError({ png_compression_quality: 60, png_convert_quality: 70 });
    expect(err.code).toBe("invalid_option");
    expect(err.message).toContain("png_compression_quality");
    expect(err.message).toContain("png_convert_quality");
  });

  it.each([["a string", "width=10"], ["an array", [1, 2]], ["a number", 5]])("refuses options that are %s", (_l, options) => {
    expect(parseError(options).code).toBe("invalid_option");
  });
});

describe("parseImageOptions: ignored options", () => {
  it.each<[string, Record<string, unknown>, string | undefined, Record<string, unknown>, string[]]>([
    ["unknown names", { foo: 1, image_custom_width: 10, Quality: 5 }, undefined, { image_custom_width: 10 }, ["foo", "Quality"]],
    ["percentage beside a width", { image_resize_percentage: 50, image_custom_width: 10 }, undefined, { image_custom_width: 10 }, ["image_resize_percentage"]],
    ["png quality under lossless", { png_compression_level: "lossless", png_convert_quality: 50 }, undefined, { png_compression_level: "lossless" }, ["png_convert_quality"]],
    ["png options for a jpg", { png_compression_quality: 70, quality: 80 }, "jpeg", { quality: 80 }, ["png_compression_quality"]],
    ["quality for a png", { quality: 75, png_compression_level: 9 }, "png", { png_compression_level: 9 }, ["quality"]],
    ["quality under a jpg level", { quality: 75, jpg_convert_compression_level: 10 }, "jpg", { jpg_convert_compression_level: 10 }, ["quality"]],
    ["jpg level for a webp", { quality: 75, jpg_convert_compression_level: 10 }, "webp", { quality: 75 }, ["jpg_convert_compression_level"]],
    ["resize and background apply everywhere", { image_custom_width: 5, background: "red", keep_metadata: true }, "gif",
      { image_custom_width: 5, background: { r: 255, g: 0, b: 0, alpha: 1 }, keep_metadata: true }, []],
  ])("%s", (_label, options, outputFormat, values, ignored) => {
    const parsed = parseImageOptions(options, outputFormat === undefined ? {} : { outputFormat });
    expect(parsed.values).toEqual(values);
    expect(parsed.ignored).toEqual(ignored);
  });

  it("still validates an option it then ignores", () => {
    expect(parseError({ png_compression_quality: 500 }, { outputFormat: "jpg" }).code).toBe("invalid_option");
  });
});

describe("parseColor", () => {
  it.each<[string, { r: number; g: number; b: number; alpha: number } | null]>([
    ["#fff", { r: 255, g: 255, b: 255, alpha: 1 }],
    ["#FFFFFF", { r: 255, g: 255, b: 255, alpha: 1 }],
    ["#ff8800", { r: 255, g: 136, b: 0, alpha: 1 }],
    ["ff8800", { r: 255, g: 136, b: 0, alpha: 1 }],
    ["#f008", { r: 255, g: 0, b: 0, alpha: 0.533 }],
    ["#00ff0080", { r: 0, g: 255, b: 0, alpha: 0.502 }],
    ["white", { r: 255, g: 255, b: 255, alpha: 1 }],
    [" Navy ", { r: 0, g: 0, b: 128, alpha: 1 }],
    ["grey", { r: 128, g: 128, b: 128, alpha: 1 }],
    ["transparent", { r: 0, g: 0, b: 0, alpha: 0 }],
    ["rgb(255, 0, 0)", { r: 255, g: 0, b: 0, alpha: 1 }],
    ["rgb(10 20 30)", { r: 10, g: 20, b: 30, alpha: 1 }],
    ["rgba(0,0,255,0.5)", { r: 0, g: 0, b: 255, alpha: 0.5 }],
    ["rgb(100%, 0%, 50%)", { r: 255, g: 0, b: 128, alpha: 1 }],
    ["rgb(0 0 0 / 25%)", { r: 0, g: 0, b: 0, alpha: 0.25 }],
    ["#ggg", null], ["#12345", null], ["fff", null], ["rgb(256, 0, 0)", null], ["rgba(0, 0, 0, 2)", null],
    ["rgb(0, 0)", null], ["blurple", null], ["", null],
  ])("%j", (text, expected) => {
    expect(parseColor(text)).toEqual(expected);
  });
});

describe("toJpegQuality", () => {
  it.each([[1, 100], [21, 80], [50, 51], [100, 1]])("level %i -> quality %i", (level, quality) => {
    expect(toJpegQuality(level)).toBe(quality);
  });
});
