/**
 * What a member of an archive is, from its bytes only (its name may lie): identifyFormat on the
 * first FORMAT_HEAD_BYTES, and for a zip the names of its entries and its `mimetype`, since a
 * docx or an epub whose first local headers do not say so looks like any zip from its head.
 */
import yauzl, { type Entry } from "yauzl";
import { FORMAT_HEAD_BYTES, identifyFormat, identifyZipContainer } from "@transmute/core";
import { readHead } from "./archive-read.js";

/** Names looked at when refining a zip (an Office file has tens to a few thousand). */
const MAX_NAMES = 10_000;
/** Largest `mimetype` entry read (ODF and EPUB store a short MIME type there). */
const MAX_MIMETYPE_BYTES = 200;

/** The canonical format of the file at `path`, or null when its bytes match none. */
export async function identifyMember(path: string): Promise<string | null> {
  const format = identifyFormat(await readHead(path, FORMAT_HEAD_BYTES));
  if (format !== "zip") return format;
  try {
    return await refineZip(path);
  } catch {
    // A zip yauzl cannot list is still a zip to the member's securer, which will say what is wrong.
    return "zip";
  }
}

async function refineZip(path: string): Promise<string> {
  const zip = await yauzl.openPromise(path, { lazyEntries: true, autoClose: false });
  try {
    const names: string[] = [];
    let mimetype: Entry | undefined;
    await new Promise<void>((resolve, reject) => {
      zip.on("entry", (entry: Entry) => {
        names.push(entry.fileName);
        if (entry.fileName === "mimetype") mimetype = entry;
        if (names.length >= MAX_NAMES) resolve();
        else zip.readEntry();
      });
      zip.once("end", resolve).once("error", reject);
      zip.readEntry();
    });
    let text: string | undefined;
    if (mimetype && mimetype.uncompressedSize <= MAX_MIMETYPE_BYTES && !mimetype.isEncrypted() && [0, 8].includes(mimetype.compressionMethod)) {
      const stream = await zip.openReadStreamPromise(mimetype);
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      text = Buffer.concat(chunks).toString("latin1");
    }
    return identifyZipContainer(names, text);
  } finally {
    zip.close();
  }
}
