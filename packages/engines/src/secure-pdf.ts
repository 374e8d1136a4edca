/**
 * A PDF rebuilt from pictures of its pages: pdftoppm renders one page at a time to a JPEG, and
 * the JPEG goes straight into a new PDF (pdf-stream-writer.ts) on a page of the same size in
 * points. Nothing of the original's objects is copied, so scripts, actions, forms, annotations,
 * links, attachments and fonts cannot survive; neither can its text layer. Memory stays about
 * one page whatever the page count.
 */
import { readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { AppError } from "@transmute/core";
import { createPdfStreamWriter } from "./pdf-stream-writer.js";
import { runPoppler, type PopplerRun } from "./poppler-tools.js";

/** One PDF rebuild. */
export interface SecurePdfJob {
  inputPath: string;
  outputPath: string;
  /** Where page images are rendered (one at a time). */
  scratchDir: string;
  /** Resolution pages are rendered at, at most. */
  dpi: number;
  /** Pages kept; later ones are dropped. */
  maxPages: number;
  /** Most pixels of one rendered page: a larger page is rendered at a lower resolution. */
  maxPixels: number;
  maxWidth?: number;
  maxHeight?: number;
  onProgress?(percent: number): void;
}

/** What pdfinfo says of the document, as the rebuild needs it. */
interface SecurePdfInfo {
  pages: number;
  encrypted: boolean;
  /** Page sizes in points as displayed (rotation applied), index 0 = page 1. */
  sizes: Array<{ width: number; height: number }>;
}

/** JPEG quality of page images: text stays legible at 150 dpi, a page is ~150-400 KB. */
const PAGE_QUALITY = 85;

/** Rebuilds the PDF; resolves with the pages written and dropped. Fails closed: on any error the output is removed. */
export async function securePdf(run: PopplerRun, job: SecurePdfJob): Promise<{ pages: number; pagesDropped: number; size: number }> {
  const inputSize = (await stat(job.inputPath).catch(() => null))?.size;
  if (!inputSize) throw new AppError("corrupt_file", "the file is empty; a PDF was expected");
  const info = await readInfo(run, job.inputPath, job.maxPages);
  if (info.encrypted) {
    // Even an owner-password-only file is refused: its restrictions would not survive the rebuild.
    throw new AppError("password_protected", "the PDF is encrypted; secure takes PDFs without encryption");
  }
  const keep = Math.min(info.pages, job.maxPages);
  const writer = await createPdfStreamWriter(job.outputPath);
  try {
    for (let page = 1; page <= keep; page++) {
      const size = info.sizes[page - 1];
      if (!size || !(size.width > 0 && size.height > 0)) throw new AppError("corrupt_file", `page ${page} of the PDF has no readable size`);
      const jpeg = await renderPage(run, job, page, size);
      try {
        await writer.addJpegPage(jpeg, size.width, size.height);
      } catch (err) {
        throw new AppError("corrupt_file", `page ${page} of the PDF could not be rendered`, { detail: String(err) });
      }
      job.onProgress?.((page / keep) * 100);
    }
    const written = await writer.finish();
    return { pages: keep, pagesDropped: info.pages - keep, size: written };
  } catch (err) {
    await writer.abort();
    await rm(job.outputPath, { force: true });
    throw err;
  }
}

/** The resolution of one page: the asked dpi, lowered so the page fits the pixel and size caps. */
export function pageDpi(job: Pick<SecurePdfJob, "dpi" | "maxPixels" | "maxWidth" | "maxHeight">, size: { width: number; height: number }): number {
  let dpi = job.dpi;
  const areaIn = (size.width / 72) * (size.height / 72);
  dpi = Math.min(dpi, Math.sqrt(job.maxPixels / areaIn));
  if (job.maxWidth !== undefined) dpi = Math.min(dpi, (job.maxWidth * 72) / size.width);
  if (job.maxHeight !== undefined) dpi = Math.min(dpi, (job.maxHeight * 72) / size.height);
  // Floored to 3 decimals so the rounding never goes past a cap.
  return Math.max(0.001, Math.floor(dpi * 1000) / 1000);
}

async function renderPage(run: PopplerRun, job: SecurePdfJob, page: number, size: { width: number; height: number }): Promise<Buffer> {
  const stem = join(job.scratchDir, "page");
  const dpi = pageDpi(job, size);
  const result = await runPoppler(run, "pdftoppm", [
    "-f", String(page), "-l", String(page), "-r", String(dpi), "-jpeg", "-jpegopt", `quality=${PAGE_QUALITY}`, "-singlefile", "--", job.inputPath, stem,
  ]);
  const path = `${stem}.jpg`;
  try {
    if (result.code !== 0) throw new AppError("corrupt_file", `page ${page} of the PDF could not be rendered`, { detail: result.stderr.slice(-2000) });
    return await readFile(path).catch((err: unknown) => {
      throw new AppError("corrupt_file", `page ${page} of the PDF could not be rendered`, { detail: `${String(err)}\n${result.stderr.slice(-2000)}` });
    });
  } finally {
    await rm(path, { force: true });
  }
}

/** Page count, encryption and the sizes of pages 1..lastPage; password_protected or corrupt_file when pdfinfo cannot open it. */
async function readInfo(run: PopplerRun, inputPath: string, lastPage: number): Promise<SecurePdfInfo> {
  const sizes: SecurePdfInfo["sizes"] = [];
  const rotations: number[] = [];
  let pages = -1;
  let encrypted = false;
  // Per-page lines go through the callback: the kept tail of stdout is only 4 KiB.
  const onStdoutLine = (line: string) => {
    const size = /^Page\s+(\d+) size:\s+([\d.]+) x ([\d.]+) pts/.exec(line);
    if (size) sizes[Number(size[1]) - 1] = { width: Number(size[2]), height: Number(size[3]) };
    const rot = /^Page\s+(\d+) rot:\s+(-?\d+)/.exec(line);
    if (rot) rotations[Number(rot[1]) - 1] = Number(rot[2]);
    const count = /^Pages:\s+(\d+)/.exec(line);
    if (count) pages = Number(count[1]);
    if (/^Encrypted:\s+yes/.test(line)) encrypted = true;
  };
  const last = Math.max(1, Math.min(lastPage, 1_000_000));
  const result = await runPoppler(run, "pdfinfo", ["-f", "1", "-l", String(last), "--", inputPath], { onStdoutLine });
  const detail = result.stderr.slice(-2000);
  if (result.code !== 0) {
    if (/incorrect password/i.test(result.stderr)) throw new AppError("password_protected", "the PDF is password-protected; secure takes PDFs without a password", { detail });
    throw new AppError("corrupt_file", "the file is damaged or is not a PDF", { detail });
  }
  if (pages < 1) throw new AppError("corrupt_file", "the PDF has no pages", { detail });
  // pdftoppm renders a rotated page turned; the rebuilt page is as it is displayed.
  const shown = sizes.map((s, i) => (Math.abs(rotations[i] ?? 0) % 180 === 90 ? { width: s.height, height: s.width } : s));
  return { pages, encrypted, sizes: shown };
}
