/**
 * A minimal reader of OLE2 compound files (MS-CFB), the container of Office 97-2003 documents
 * and of encrypted OOXML files: enough to list the streams and read the head of one, so an
 * encrypted or mislabelled file is refused before LibreOffice sees it. It reads sectors on
 * demand and bounds every chain walk: a hostile file cannot make it loop or allocate much.
 */
import type { FileHandle } from "node:fs/promises";

const SIGNATURE = [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];
const END_OF_CHAIN = 0xfffffffe;
const FREE_SECTOR = 0xffffffff;
/** Most directory entries read: real documents have tens. */
const MAX_ENTRIES = 4096;

/** One stream of a compound file. */
export interface CfbStream {
  name: string;
  start: number;
  size: number;
}

/** An opened compound file: its streams and a reader of their first bytes. */
export interface CompoundFile {
  streams: CfbStream[];
  /** The first `maxBytes` of a stream (fewer when it is shorter). */
  readHead(stream: CfbStream, maxBytes: number): Promise<Buffer>;
}

/** Thrown when the bytes are not a well-formed compound file. */
export class CfbError extends Error {}

/** Whether `head` starts with the compound-file signature. */
export function isCompoundFile(head: Uint8Array): boolean {
  return SIGNATURE.every((b, i) => head[i] === b);
}

/** Opens the compound file behind `file` (of `fileSize` bytes); throws CfbError when it is malformed. */
export async function openCompoundFile(file: FileHandle, fileSize: number): Promise<CompoundFile> {
  const header = Buffer.alloc(512);
  await file.read(header, 0, 512, 0);
  if (!isCompoundFile(header)) throw new CfbError("no compound-file signature");
  const shift = header.readUInt16LE(0x1e);
  if (shift !== 9 && shift !== 12) throw new CfbError(`sector shift ${shift}`);
  const sectorSize = 1 << shift;
  const sectorCount = Math.ceil(fileSize / sectorSize);
  const miniCutoff = header.readUInt32LE(0x38);

  const readSector = async (sector: number): Promise<Buffer> => {
    if (sector >= sectorCount) throw new CfbError(`sector ${sector} past the end of the file`);
    const buf = Buffer.alloc(sectorSize);
    await file.read(buf, 0, sectorSize, (sector + 1) * sectorSize);
    return buf;
  };

  // The FAT's own sectors are listed by the header's 109 DIFAT slots, then by the DIFAT chain.
  const fatSectors: number[] = [];
  const fatCount = Math.min(header.readUInt32LE(0x2c), sectorCount);
  for (let i = 0; i < 109 && fatSectors.length < fatCount; i++) fatSectors.push(header.readUInt32LE(0x4c + 4 * i));
  let difat = header.readUInt32LE(0x44);
  for (let hops = 0; fatSectors.length < fatCount && difat < END_OF_CHAIN && hops < sectorCount; hops++) {
    const buf = await readSector(difat);
    for (let i = 0; i < sectorSize / 4 - 1 && fatSectors.length < fatCount; i++) fatSectors.push(buf.readUInt32LE(4 * i));
    difat = buf.readUInt32LE(sectorSize - 4);
  }
  const fat: number[] = [];
  for (const sector of fatSectors) {
    const buf = await readSector(sector);
    for (let i = 0; i < sectorSize / 4; i++) fat.push(buf.readUInt32LE(4 * i));
  }

  const chain = (start: number, table: readonly number[], limit: number): number[] => {
    const out: number[] = [];
    for (let s = start; s !== END_OF_CHAIN && s !== FREE_SECTOR && out.length < limit; s = table[s] ?? END_OF_CHAIN) {
      if (s >= table.length) throw new CfbError(`chain points at sector ${s}, outside the allocation table`);
      out.push(s);
    }
    return out;
  };

  const entries: Array<CfbStream & { type: number }> = [];
  for (const sector of chain(header.readUInt32LE(0x30), fat, Math.ceil((MAX_ENTRIES * 128) / sectorSize))) {
    const buf = await readSector(sector);
    for (let at = 0; at < sectorSize; at += 128) {
      const type = buf[at + 66] ?? 0;
      const nameBytes = Math.min(buf.readUInt16LE(at + 64), 64);
      const name = buf.toString("utf16le", at, at + Math.max(0, nameBytes - 2));
      entries.push({ type, name, start: buf.readUInt32LE(at + 116), size: buf.readUInt32LE(at + 120) });
    }
  }
  const root = entries[0];
  if (!root || root.type !== 5) throw new CfbError("no root entry");

  // Streams under the cutoff live in the mini stream (the root entry's chain), in 64-byte sectors.
  let mini: { fat: number[]; sectors: number[] } | undefined;
  const miniStream = async () => {
    if (!mini) {
      const miniFat: number[] = [];
      for (const sector of chain(header.readUInt32LE(0x3c), fat, sectorCount)) {
        const buf = await readSector(sector);
        for (let i = 0; i < sectorSize / 4; i++) miniFat.push(buf.readUInt32LE(4 * i));
      }
      mini = { fat: miniFat, sectors: chain(root.start, fat, sectorCount) };
    }
    return mini;
  };

  return {
    streams: entries.filter((e) => e.type === 2).map(({ name, start, size }) => ({ name, start, size })),
    async readHead(stream, maxBytes) {
      const want = Math.min(stream.size, maxBytes);
      const parts: Buffer[] = [];
      let got = 0;
      if (stream.size >= miniCutoff) {
        for (const sector of chain(stream.start, fat, Math.ceil(want / sectorSize))) {
          parts.push(await readSector(sector));
          got += sectorSize;
        }
      } else {
        const { fat: miniFat, sectors } = await miniStream();
        for (const m of chain(stream.start, miniFat, Math.ceil(want / 64))) {
          const host = sectors[Math.floor((m * 64) / sectorSize)];
          if (host === undefined) throw new CfbError(`mini sector ${m} outside the mini stream`);
          const buf = await readSector(host);
          const at = (m * 64) % sectorSize;
          parts.push(buf.subarray(at, at + 64));
          got += 64;
        }
      }
      if (got < want) throw new CfbError(`stream ${stream.name} is shorter than its size`);
      return Buffer.concat(parts).subarray(0, want);
    },
  };
}
