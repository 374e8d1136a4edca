/**
 * Writes a repacked archive from the checked entries: zip, tar and tgz with archiver (entry
 * names are passed as data), 7z with 7zz from a staging folder laid out from the checked names.
 */
import { createWriteStream } from "node:fs";
import { link, mkdir } from "node:fs/promises";
import { join } from "node:path";
import archiver from "archiver";
import { AppError } from "@transmute/core";
import { showName } from "./archive-guard.js";
import { runSevenZip, type SevenZipTool } from "./archive-7z.js";

/** One entry to write: a folder, or a file whose bytes are at `path`. */
export interface PackEntry {
  name: string;
  kind: "file" | "directory";
  path?: string;
  date?: Date;
}

/** Writes `entries`, in order, as a zip, tar or tgz at `outputPath`. */
export async function writeWithArchiver(format: "zip" | "tar" | "tgz", entries: readonly PackEntry[], outputPath: string, stop: AbortSignal): Promise<void> {
  // One stat at a time: archiver stats files in parallel (4 by default) and then writes entries
  // in the order the stats finish, which would shuffle the archive's order.
  const archive =
    format === "zip"
      ? archiver("zip", { zlib: { level: 6 }, statConcurrency: 1 })
      : archiver("tar", { gzip: format === "tgz", gzipOptions: { level: 6 }, statConcurrency: 1 });
  const output = createWriteStream(outputPath);
  const onStop = () => archive.abort();
  stop.addEventListener("abort", onStop, { once: true });
  try {
    await new Promise<void>((resolve, reject) => {
      output.once("close", resolve).once("error", reject);
      archive.once("error", reject).once("warning", reject);
      archive.pipe(output);
      for (const entry of entries) {
        const data = entry.date ? { name: entry.name, date: entry.date } : { name: entry.name };
        // file() stats the file, so tar streams it instead of buffering it to learn its size.
        if (entry.kind === "file" && entry.path) archive.file(entry.path, data);
        // A trailing slash is what makes archiver write a folder entry (its typings lack `type`).
        else archive.append(Buffer.alloc(0), { ...data, name: entry.name.endsWith("/") ? entry.name : `${entry.name}/` });
      }
      void archive.finalize().catch(reject);
      stop.addEventListener("abort", () => reject(stop.reason), { once: true });
    });
  } finally {
    stop.removeEventListener("abort", onStop);
    output.destroy();
  }
}

/**
 * Writes a 7z with 7zz. 7zz only packs files by path, so the entries are laid out under
 * `staging` (hard links of the numbered files: no copy) from their names, which the guards have
 * checked (relative, no `..`); a name that cannot be laid out (two entries with one path, a file
 * where a folder must go) is refused rather than silently merged.
 */
export async function writeSevenZip(tool: SevenZipTool, entries: readonly PackEntry[], outputPath: string, scratch: string): Promise<void> {
  const staging = join(scratch, "stage");
  await mkdir(staging);
  for (const entry of entries) {
    const parts = entry.name.split("/").filter((part) => part !== "" && part !== ".");
    if (parts.length === 0) continue;
    if (parts.some((part) => Buffer.byteLength(part) > 255)) throw layoutError(entry.name, "has a path component longer than 255 bytes");
    const target = join(staging, ...parts);
    try {
      if (entry.kind === "directory") await mkdir(target, { recursive: true });
      else {
        await mkdir(join(staging, ...parts.slice(0, -1)), { recursive: true });
        await link(entry.path ?? "", target);
      }
    } catch (err) {
      throw layoutError(entry.name, "shares its path with another entry", String(err));
    }
  }
  const run = await runSevenZip(tool, ["a", "-t7z", "-mx=5", "--", outputPath, `${staging}/*`], join(scratch, "home"), "writing the 7z archive");
  if (run.code !== 0) {
    throw new AppError("processing_failed", "7-Zip could not write the 7z archive", { detail: `exit code ${run.code}: ${(run.stdout + run.stderr).slice(-2000)}` });
  }
}

function layoutError(name: string, why: string, detail?: string): AppError {
  return new AppError("unsupported_conversion", `the archive entry ${showName(name)} ${why}; it cannot be written as 7z`, detail === undefined ? {} : { detail });
}
