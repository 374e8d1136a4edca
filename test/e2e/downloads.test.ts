/**
 * Signed download links: the headers a client saves the file by (Content-Type from the bytes,
 * Content-Length, a Content-Disposition that both public parsers read back as a sane name, for
 * ASCII, non-ASCII and hostile names), refused tampering, and HEAD that does not count.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { download, type TestServer } from "../support/harness.js";
import { decode, expectError, makePng, runJob, startServer, taskOf } from "./helpers.js";

let server: TestServer;
let png: Buffer;

beforeAll(async () => {
  [server, png] = await Promise.all([startServer(), makePng(12, 9, [250, 120, 0])]);
});

afterAll(async () => {
  await server?.close();
});

/** Imports `png` under `filename`, exports it, and returns the exported file entry. */
async function publish(filename: string): Promise<{ filename: string; size: number; content_type: string; url: string; downloads_counter: number; exportId: string }> {
  const { job } = await runJob(server.api, {
    import: { operation: "import/base64", file: png.toString("base64"), filename },
    export: { operation: "export/url", input: "import" },
  });
  expect(job.status, JSON.stringify(job)).toBe("completed");
  const exported = taskOf(job, "export");
  return { ...exported.result.files[0], exportId: exported.id };
}

/** The public Python client: the text after the last `; filename="`, up to the closing quote. */
function pythonClientName(header: string): string {
  const marker = '; filename="';
  const rest = header.slice(header.lastIndexOf(marker) + marker.length);
  return rest.slice(0, rest.indexOf('"'));
}

/** The public Java client: `header.split("; filename=")[1].replace("\"", "")`. */
function javaClientName(header: string): string {
  return header.split("; filename=")[1]!.replaceAll('"', "");
}

/** The RFC 5987 `filename*` value, decoded, or null. */
function rfc5987Name(header: string): string | null {
  const match = /filename\*=UTF-8''([^;]+)/i.exec(header);
  return match ? decodeURIComponent(match[1]!) : null;
}

/** A name a client can save a file under: printable ASCII, no quotes, separators or controls. */
function expectSaneName(name: string, extension: string): void {
  expect(name).toMatch(/^[\x20-\x7e]+$/);
  expect(name).not.toMatch(/["/\\;\r\n]/);
  expect(name.endsWith(extension)).toBe(true);
  expect(name.startsWith(".")).toBe(false);
}

describe("download headers", () => {
  it("an ASCII name: Content-Type from the bytes, Content-Length, and a plain quoted filename", async () => {
    const file = await publish("plain name.png");
    expect(file).toMatchObject({ filename: "plain name.png", size: png.length, content_type: "image/png" });
    const got = await download(file.url);
    expect(got.status).toBe(200);
    expect(got.headers.get("content-type")).toBe("image/png");
    expect(got.headers.get("content-length")).toBe(String(png.length));
    const disposition = got.headers.get("content-disposition")!;
    expect(disposition).toBe('attachment; filename="plain name.png"');
    expect(pythonClientName(disposition)).toBe("plain name.png");
    expect(javaClientName(disposition)).toBe("plain name.png");
    expect(got.bytes.equals(png)).toBe(true);
    expect(await decode(got.bytes)).toMatchObject({ format: "png", width: 12, height: 9 });
  });

  it("a non-ASCII name: filename* carries it exactly, and both public parsers get a sane ASCII name", async () => {
    const name = "résumé ünïcode.png";
    const file = await publish(name);
    expect(file.filename).toBe(name);
    expect(decodeURIComponent(new URL(file.url).pathname.split("/").pop()!)).toBe(name);
    const got = await download(file.url);
    expect(got.status).toBe(200);
    const disposition = got.headers.get("content-disposition")!;
    expect(disposition).toMatch(/^[\x20-\x7e]+$/);
    expect(rfc5987Name(disposition)).toBe(name);
    for (const parsed of [pythonClientName(disposition), javaClientName(disposition)]) {
      expectSaneName(parsed, ".png");
      expect(parsed).toMatch(/^r.sum. .n.code\.png$/);
    }
    expect(got.bytes.equals(png)).toBe(true);
  });

  it("a name with quotes, CR/LF and slashes cannot break the header, and parses back sane", async () => {
    const hostile = 'evil"name\r\nX-Injected: yes/..\\report "final"\r\n.png';
    const file = await publish(hostile);
    expect(file.filename).not.toMatch(/["/\\\r\n]/);
    const got = await download(file.url);
    expect(got.status).toBe(200);
    expect(got.headers.get("x-injected")).toBeNull();
    const disposition = got.headers.get("content-disposition")!;
    expect(disposition).toMatch(/^[\x20-\x7e]+$/);
    expect(disposition.match(/"/g)).toHaveLength(2);
    for (const parsed of [pythonClientName(disposition), javaClientName(disposition)]) {
      expectSaneName(parsed, ".png");
      expect(parsed).toContain("report");
    }
    expect(got.bytes.equals(png)).toBe(true);
  });
});

describe("link integrity", () => {
  it("a tampered signature, expiry or file id is a 403; the untouched link still works", async () => {
    const file = await publish("guarded.png");
    const url = new URL(file.url);
    const sig = url.searchParams.get("signature")!;

    const flipped = new URL(url);
    flipped.searchParams.set("signature", (sig[0] === "A" ? "B" : "A") + sig.slice(1));
    expectError(await fetchAnswer(flipped), 403, "forbidden");

    const later = new URL(url);
    later.searchParams.set("expires", String(Number(url.searchParams.get("expires")) + 1000));
    expectError(await fetchAnswer(later), 403, "forbidden");

    const unsigned = new URL(url);
    unsigned.searchParams.delete("signature");
    expectError(await fetchAnswer(unsigned), 403, "forbidden");

    const other = await publish("other.png");
    const swapped = new URL(other.url);
    swapped.searchParams.set("signature", sig);
    swapped.searchParams.set("expires", url.searchParams.get("expires")!);
    expectError(await fetchAnswer(swapped), 403, "forbidden");

    expect((await download(file.url)).status).toBe(200);
  });

  it("HEAD answers the headers without a body and does not count as a download", async () => {
    const file = await publish("counted.png");
    expect(file.downloads_counter).toBe(0);
    const head = await fetch(file.url, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-type")).toBe("image/png");
    expect(head.headers.get("content-length")).toBe(String(png.length));
    expect(head.headers.get("content-disposition")).toBe('attachment; filename="counted.png"');
    expect((await head.arrayBuffer()).byteLength).toBe(0);
    expect(await downloadsOf(file.exportId)).toBe(0);

    expect((await download(file.url)).bytes.equals(png)).toBe(true);
    expect(await downloadsOf(file.exportId)).toBe(1);
  });
});

async function fetchAnswer(url: URL) {
  const res = await fetch(url);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : text };
}

async function downloadsOf(exportTaskId: string): Promise<number> {
  const res = await server.api.get(`/v1/process/tasks/${exportTaskId}`);
  expect(res.status).toBe(200);
  return res.body.result.files[0].downloads_counter;
}
