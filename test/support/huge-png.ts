/** Test fixture: a decompression bomb that is a perfectly valid PNG (used by the engine and e2e tests). */
import { once } from "node:events";
import { createDeflate, crc32 } from "node:zlib";

/** A valid 1-bit greyscale PNG of width x height whose pixels, all 0, deflate to almost nothing. */
export async function makeHugePng(width: number, height: number): Promise<Buffer> {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const out = Buffer.alloc(8 + data.length + 4);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([1, 0, 0, 0, 0], 8); // bit depth 1, greyscale, deflate, adaptive filtering, no interlace
  const deflate = createDeflate({ level: 9 });
  const compressed: Buffer[] = [];
  deflate.on("data", (c: Buffer) => compressed.push(c));
  const rowsPerBlock = 1000;
  const block = Buffer.alloc((1 + Math.ceil(width / 8)) * rowsPerBlock); // filter byte 0 + packed row
  for (let rows = 0; rows < height; rows += rowsPerBlock) {
    if (!deflate.write(block)) await once(deflate, "drain");
  }
  deflate.end();
  await once(deflate, "end");
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", Buffer.concat(compressed)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}
