/**
 * export/url's zip with fakes around the real handler: sources that are slow to read show how
 * many are open at once (one, however many inputs), and a failing store or source ends the
 * export with that error instead of leaving it waiting.
 */
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { HANDLERS, type InputFile, type OperationContext } from "../dist/index.js";

const exportUrl = HANDLERS.get("export/url")!;

/** A store whose objects trickle out in small delayed chunks, counting the streams open at once. */
function slowStore(opts: { failAt?: number } = {}) {
  const stats = { open: 0, peak: 0, opened: 0 };
  const store = {
    async get(key: string) {
      stats.open++;
      stats.opened++;
      stats.peak = Math.max(stats.peak, stats.open);
      const index = Number(key.split("/").pop());
      const source = Readable.from(
        (async function* () {
          for (let i = 0; i < 3; i++) {
            await new Promise((resolve) => setTimeout(resolve, 1));
            if (index === opts.failAt) throw new Error("disk read failed");
            yield Buffer.from(`${key} part ${i}\n`);
          }
        })(),
      );
      source.once("close", () => stats.open--);
      return source;
    },
  };
  return { store, stats };
}

/** A sink that reads the zip into memory (or fails after `failAfterBytes`). */
function memorySink(opts: { failAfterBytes?: number } = {}) {
  const out = { zip: Buffer.alloc(0), name: "" };
  const sink = {
    addStream(source: Readable, name: string) {
      out.name = name;
      return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        source.on("data", (chunk: Buffer) => {
          chunks.push(chunk);
          bytes += chunk.length;
          if (opts.failAfterBytes !== undefined && bytes > opts.failAfterBytes) {
            source.destroy();
            reject(new Error("storage full"));
          }
        });
        source.on("end", () => {
          out.zip = Buffer.concat(chunks);
          resolve({ name });
        });
        source.on("error", reject);
      });
    },
    addReference() {
      throw new Error("not used");
    },
  };
  return { sink, out };
}

function contextFor(count: number, store: unknown, sink: unknown): OperationContext {
  const inputs: InputFile[] = Array.from({ length: count }, (_, i) => ({
    taskId: "t", ordinal: i, name: `f${i % 50}.txt`, size: 20, contentType: "text/plain", format: "txt", sha256: "", md5: "", storageKey: `tasks/t/1/${i}`,
  }));
  return {
    task: { id: "x", jobId: "j", accountId: "a", name: "export", operation: "export/url", payload: { archive_multiple_files: true, filename: "all" }, attempt: 1 },
    inputs,
    storage: store,
    output: sink,
    signal: new AbortController().signal,
  } as unknown as OperationContext;
}

/** The number of entries an archive's end-of-central-directory record announces. */
function zipEntryCount(zip: Buffer): number {
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  return zip.readUInt16LE(eocd + 10);
}

describe("export/url archive_multiple_files", () => {
  it("keeps one source open at a time, whatever the number of inputs", async () => {
    const { store, stats } = slowStore();
    const { sink, out } = memorySink();
    await exportUrl.run(contextFor(300, store, sink));
    expect(out.name).toBe("all.zip");
    expect(zipEntryCount(out.zip)).toBe(300);
    expect(stats).toEqual({ open: 0, peak: 1, opened: 300 });
    // Names repeat every 50 inputs: later ones get a numbered prefix, none is lost.
    expect(out.zip.includes(Buffer.from("6-f0.txt"))).toBe(true);
  });

  it("fails with the source's error, and opens nothing after it", async () => {
    const { store, stats } = slowStore({ failAt: 5 });
    const { sink } = memorySink();
    await expect(exportUrl.run(contextFor(50, store, sink))).rejects.toThrow("disk read failed");
    expect(stats.opened).toBe(6);
    expect(stats.open).toBe(0);
  });

  it("fails with the store's error instead of waiting for room", async () => {
    const { store, stats } = slowStore();
    const { sink } = memorySink({ failAfterBytes: 2000 });
    await expect(exportUrl.run(contextFor(200, store, sink))).rejects.toThrow("storage full");
    expect(stats.opened).toBeLessThan(200);
  });
});
