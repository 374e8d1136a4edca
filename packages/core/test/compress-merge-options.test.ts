import { describe, expect, it } from "vitest";
import { AppError } from "../src/errors.js";
import { COMPRESS_OPTIONS, parseCompressOptions } from "../src/compress-options.js";
import { MERGE_OPTIONS, parseMergeOptions, parsePageSize, placeImage, type MergeOptions } from "../src/merge-options.js";
import { acceptedFormats, engineClassForConversion, producibleFormats, validateTaskPayload } from "../src/operations.js";

function failure(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error("expected a failure");
}

describe("the option tables", () => {
  it("have one row per option, with docs, and no name used twice", () => {
    for (const table of [COMPRESS_OPTIONS, MERGE_OPTIONS]) {
      const names = table.flatMap((o) => [o.name, ...o.aliases]);
      expect(new Set(names).size).toBe(names.length);
      for (const o of table) {
        expect(o.description.length, o.name).toBeGreaterThan(20);
        expect(o.defaultText.length, o.name).toBeGreaterThan(0);
      }
    }
  });
});

describe("parseCompressOptions", () => {
  it.each([
    [{ pdf_compression_level: "strong", pdf_convert_to_gray: true }, "pdf", { pdf_compression_level: "strong", pdf_convert_to_gray: true }, []],
    [{ pdf_compression_level: "STRONG", pdf_convert_to_gray: "true" }, "pdf", { pdf_compression_level: "strong", pdf_convert_to_gray: true }, []],
    [{ quality: "60", mozjpeg: false }, "jpg", { quality: 60, mozjpeg: false }, []],
    [{ quality: 60, pdf_convert_to_gray: true, foo: 1 }, "jpeg", { quality: 60 }, ["foo", "pdf_convert_to_gray"]],
    [{ colours: 16 }, "png", { colors: 16 }, []],
    [{ lossless: true, quality: 50 }, "webp", { lossless: true }, ["quality"]],
    [{ png_palette: false, quality: 50 }, "png", { png_palette: false }, ["quality"]],
    [{ quality: 50, colors: 8 }, "tiff", {}, ["quality", "colors"]],
    [{ pdf_compression_level: "" , quality: null }, "pdf", {}, []],
  ])("%j for %s", (options, format, values, ignored) => {
    expect(parseCompressOptions(options, { format })).toEqual({ values, ignored });
  });

  it.each([
    [{ pdf_compression_level: "extreme" }, "option pdf_compression_level must be one of low, medium, strong; got \"extreme\""],
    [{ quality: 0 }, "option quality must be a whole number from 1 to 100; got 0"],
    [{ colors: 300 }, "option colors must be a whole number from 2 to 256; got 300"],
    [{ pdf_convert_to_gray: "yes" }, "option pdf_convert_to_gray must be true or false; got \"yes\""],
    [{ colors: 16, colours: 32 }, "options colors and colours are the same option and were given different values"],
    ["strong", "options must be an object; got \"strong\""],
  ])("refuses %j", (options, message) => {
    const err = failure(() => parseCompressOptions(options));
    expect(err.code).toBe("invalid_option");
    expect(err.message).toBe(message);
  });
});

describe("page sizes", () => {
  it.each([
    ["A4", { name: "A4", width: 595.28, height: 841.89 }],
    ["letter", { name: "Letter", width: 612, height: 792 }],
    [" 1240.2x1753.95 ", { name: null, width: 1240.2, height: 1753.95 }],
    ["100 X 200", { name: null, width: 100, height: 200 }],
    ["300×200", { name: null, width: 300, height: 200 }],
    ["auto", "auto"],
  ])("%j", (text, size) => {
    expect(parsePageSize(text)).toEqual(size);
  });

  it.each(["A9", "0x100", "100x", "20000x100", "-5x10", "1e3x100"])("refuses %j", (text) => {
    const err = failure(() => parsePageSize(text));
    expect(err.code).toBe("invalid_option");
    expect(err.message).toContain("WxH in points");
  });
});

describe("parseMergeOptions", () => {
  it("parses pdf options and moves gif ones to ignored (and the other way round)", () => {
    const options = { pdf_page_size: "a4", pdf_orientation: "Landscape", pdf_image_alignment: "Top Left", enlarge_images_to_fit: "1", gif_frame_delay: 100, x: 1 };
    expect(parseMergeOptions(options, "pdf")).toEqual({
      values: { pdf_page_size: { name: "A4", width: 595.28, height: 841.89 }, pdf_orientation: "landscape", pdf_image_alignment: "top-left", enlarge_images_to_fit: true },
      ignored: ["x", "gif_frame_delay"],
    });
    expect(parseMergeOptions(options, "gif")).toEqual({
      values: { enlarge_images_to_fit: true, gif_frame_delay: 100 },
      ignored: ["x", "pdf_page_size", "pdf_orientation", "pdf_image_alignment"],
    });
  });

  it.each([
    [{ pdf_image_alignment: "Centre" }, "center"],
    [{ pdf_image_alignment: "middle" }, "center"],
    [{ pdf_image_alignment: "bottom_right" }, "bottom-right"],
    [{ image_alignment: "TopRight" }, "top-right"],
  ])("alignment %j", (options, expected) => {
    expect(parseMergeOptions(options, "pdf").values.pdf_image_alignment).toBe(expected);
  });

  it("names the option given and the valid values", () => {
    expect(failure(() => parseMergeOptions({ pdf_orientation: "sideways" }, "pdf")).message).toBe('option pdf_orientation must be one of portrait, landscape, auto; got "sideways"');
    expect(failure(() => parseMergeOptions({ page_size: "huge" }, "pdf")).message).toContain("option page_size must be auto, a named size (A0, A1");
    expect(failure(() => parseMergeOptions({ pdf_image_alignment: "upwards" }, "pdf")).message).toContain("center, top, bottom, left, right, top-left");
  });
});

describe("placeImage", () => {
  const a4: MergeOptions = { pdf_page_size: { name: "A4", width: 595.28, height: 841.89 } };
  it.each<[string, { width: number; height: number }, MergeOptions, Record<string, number>]>([
    ["auto size: the page is the image", { width: 800, height: 600 }, {}, { pageWidth: 800, pageHeight: 600, x: 0, y: 0, width: 800, height: 600 }],
    ["small image centred, not enlarged", { width: 200, height: 100 }, { ...a4, pdf_orientation: "portrait" }, { pageWidth: 595.28, pageHeight: 841.89, x: 197.64, y: 370.945, width: 200, height: 100 }],
    ["enlarged to fit the width", { width: 200, height: 100 }, { ...a4, pdf_orientation: "portrait", enlarge_images_to_fit: true }, { x: 0, y: 272.125, width: 595.28, height: 297.64 }],
    ["large image scaled down", { width: 2000, height: 1000 }, { ...a4, pdf_orientation: "portrait" }, { x: 0, width: 595.28, height: 297.64 }],
    ["auto orientation: wide image, landscape page", { width: 2000, height: 1000 }, a4, { pageWidth: 841.89, pageHeight: 595.28, x: 0, y: 87.1675, width: 841.89, height: 420.945 }],
    ["auto orientation: tall image, portrait page", { width: 100, height: 300 }, a4, { pageWidth: 595.28, pageHeight: 841.89 }],
    ["landscape forced for a tall image", { width: 100, height: 300 }, { ...a4, pdf_orientation: "landscape" }, { pageWidth: 841.89, pageHeight: 595.28 }],
    ["WxH given landscape-first, portrait asked", { width: 10, height: 10 }, { pdf_page_size: { name: null, width: 1753.95, height: 1240.2 }, pdf_orientation: "portrait" }, { pageWidth: 1240.2, pageHeight: 1753.95 }],
    ["top-left", { width: 100, height: 100 }, { ...a4, pdf_orientation: "portrait", pdf_image_alignment: "top-left" }, { x: 0, y: 741.89 }],
    ["bottom-right", { width: 100, height: 100 }, { ...a4, pdf_orientation: "portrait", pdf_image_alignment: "bottom-right" }, { x: 495.28, y: 0 }],
    ["right", { width: 100, height: 100 }, { ...a4, pdf_orientation: "portrait", pdf_image_alignment: "right" }, { x: 495.28, y: 370.945 }],
    ["top", { width: 100, height: 100 }, { ...a4, pdf_orientation: "portrait", pdf_image_alignment: "top" }, { x: 247.64, y: 741.89 }],
  ])("%s", (_what, image, options, expected) => {
    const placed = placeImage(image, options) as unknown as Record<string, number>;
    for (const [key, value] of Object.entries(expected)) expect(placed[key], key).toBeCloseTo(value, 3);
  });
});

describe("compress and merge in the operation registry", () => {
  it("routes by format through the conversion table", () => {
    expect(engineClassForConversion("jpeg", "jpg", "compress")).toBe("image");
    expect(engineClassForConversion("pdf", "pdf", "compress")).toBe("ghostscript");
    expect(engineClassForConversion("docx", "docx", "compress")).toBeNull();
    expect(engineClassForConversion("pdf", "pdf", "merge")).toBe("pdf");
    expect(engineClassForConversion("png", "gif", "merge")).toBe("image");
    expect(engineClassForConversion("pdf", "gif", "merge")).toBeNull();
    // convert pdf -> pdf is a split (pdf-lib), not a compression.
    expect(engineClassForConversion("pdf", "pdf")).toBe("pdf");
    expect(acceptedFormats("merge", "gif")).not.toContain("pdf");
    expect([...producibleFormats()]).toContain("pdf");
    expect([...producibleFormats("merge")].sort()).toEqual(["gif", "pdf"]);
  });

  it("validates payloads at creation", () => {
    expect(() => validateTaskPayload("c", "compress", { options: { pdf_compression_level: "strong" } }, 1)).not.toThrow();
    expect(() => validateTaskPayload("m", "merge", { output_format: "pdf" }, 2)).not.toThrow();
    expect(failure(() => validateTaskPayload("m", "merge", { output_format: "pdf" }, 1)).message).toBe('Task "m" (merge) needs at least 2 inputs.');
    expect(failure(() => validateTaskPayload("m", "merge", {}, 2)).code).toBe("invalid_payload");
    expect(failure(() => validateTaskPayload("m", "merge", { output_format: "zip" }, 2)).message).toBe('Task "m": output_format "zip" is not one merge produces; valid values: pdf, gif.');
    expect(failure(() => validateTaskPayload("c", "compress", { input_format: "jpg", options: { quality: "high" } }, 1)).code).toBe("invalid_option");
    expect(failure(() => validateTaskPayload("c", "compress", {}, 2)).message).toBe('Task "c" (compress) takes at most 1 input(s).');
  });
});
