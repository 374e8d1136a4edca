import { describe, expect, it } from "vitest";
import { isAppError } from "../src/errors.js";
import { engineClassForConversion, engineClassesForConversion, extractSecrets, redactPayload, restoreSecrets, staticEngineClass, validateTaskPayload } from "../src/operations.js";

function codeOf(fn: () => void): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    if (isAppError(err)) return `${err.code}: ${err.message}`;
    throw err;
  }
}

describe("validateTaskPayload", () => {
  const table: Array<[string, string, Record<string, unknown>, number, RegExp | null]> = [
    ["upload with nothing", "import/upload", {}, 0, null],
    ["upload with a redirect", "import/upload", { redirect: "https://example.com/done" }, 0, null],
    ["upload redirect not a URL", "import/upload", { redirect: "javascript:alert(1)" }, 0, /^invalid_payload: .*redirect/],
    ["upload with an input", "import/upload", {}, 1, /^invalid_payload: .*takes no input/],
    ["url without url", "import/url", {}, 0, /^invalid_payload: .*url/],
    ["convert without input", "convert", { output_format: "png" }, 0, /^invalid_payload: .*needs an input/],
    ["convert with two inputs", "convert", { output_format: "png" }, 2, /^invalid_payload: .*at most 1/],
    ["convert without output_format", "convert", {}, 1, /^invalid_payload: .*output_format/],
    ["convert to a format nothing produces", "convert", { output_format: "xyz" }, 1, /^invalid_payload: .*"xyz".*valid values: .*png/],
    ["convert alias jpeg", "convert", { output_format: "JPEG" }, 1, null],
    ["convert option of a wrong type", "convert", { output_format: "png", options: { image_custom_width: "abc" } }, 1, /^invalid_option: .*image_custom_width/],
    ["convert option out of range", "convert", { output_format: "jpg", options: { quality: 500 } }, 1, /^invalid_option: .*quality/],
    ["convert numeric string option", "convert", { output_format: "png", options: { image_custom_width: "120" } }, 1, null],
    ["convert unknown option is not an error", "convert", { output_format: "png", options: { shiny: true } }, 1, null],
    ["export of several inputs", "export/url", { archive_multiple_files: true }, 3, null],
    ["export flag of a wrong type", "export/url", { archive_multiple_files: "yes" }, 1, /^invalid_payload: .*archive_multiple_files/],
  ];
  it.each(table)("%s", (_label, op, payload, inputs, expected) => {
    const got = codeOf(() => validateTaskPayload("t1", op, payload, inputs));
    if (expected === null) expect(got).toBeNull();
    else {
      expect(got).toMatch(expected);
      expect(got).toContain('"t1"');
    }
  });
});

describe("engineClassForConversion", () => {
  it.each([
    ["jpg", "png", "image"],
    ["JPEG", "webp", "image"],
    ["svg", "jpg", "image"],
    ["png", "svg", null],
    ["pdf", "png", "poppler"],
    ["png", "pdf", "pdf"],
    ["docx", "pdf", "office"],
    ["csv", "xlsx", "office"],
    ["xlsx", "docx", null],
    ["html", "pdf", "browser"],
    ["md", "pdf", "browser"],
    ["mhtml", "png", "browser"],
    ["mp4", "mp3", "media"],
    ["mov", "gif", "media"],
    ["gif", "gif", "image"],
    ["mp3", "mp4", null],
    ["zip", "7z", "archive"],
    ["tar.gz", "zip", "archive"],
  ])("%s -> %s", (from, to, expected) => {
    expect(engineClassForConversion(from, to)).toBe(expected);
  });

  it("lists every candidate engine, most preferred first: html -> pdf is Chromium, else LibreOffice", () => {
    expect(engineClassesForConversion("html", "pdf")).toEqual(["browser", "office"]);
    expect(engineClassesForConversion("htm", "docx")).toEqual(["office"]);
    expect(engineClassesForConversion("png", "svg")).toEqual([]);
  });

  it("routes extract and the web-page import", () => {
    expect(engineClassForConversion("tgz", "tgz", "extract")).toBe("archive");
    expect(engineClassForConversion("rar", "rar", "extract")).toBeNull();
    expect(staticEngineClass("import/webpage")).toBe("browser");
    expect(staticEngineClass("extract")).toBeNull();
    expect(staticEngineClass("import/url")).toBe("io");
  });
});

describe("redactPayload", () => {
  it("drops large fields", () => {
    expect(redactPayload("import/base64", { file: "AAAA", filename: "a.png" })).toEqual({ filename: "a.png" });
  });

  it("masks a nested secret without touching the caller's payload, and keeps it apart for the worker", () => {
    const payload = { output_format: "png", options: { password: "s3cret", dpi: 72 } };
    const stored = redactPayload("convert", payload);
    expect(stored).toEqual({ output_format: "png", options: { password: "*****", dpi: 72 } });
    expect(payload.options.password).toBe("s3cret");
    const secrets = extractSecrets("convert", payload);
    expect(secrets).toEqual({ "options.password": "s3cret" });
    expect(restoreSecrets(stored, secrets)).toEqual(payload);
    expect(stored.options).toEqual({ password: "*****", dpi: 72 });
  });

  it("has no secrets to keep when none is given", () => {
    expect(extractSecrets("convert", { output_format: "png", options: { dpi: 72 } })).toBeNull();
    expect(extractSecrets("convert", { output_format: "png", options: "x" })).toBeNull();
    expect(restoreSecrets({ a: 1 }, null)).toEqual({ a: 1 });
  });
});
