/**
 * The external engines against their tools run straight from the shell: docx -> pdf per minute
 * with 1 and 2 conversions at a time (LibreOffice), PDF -> PNG pages per second (poppler; pdf.js
 * beside it, the renderer we measured and did not choose), and the realtime factor of mp4 -> mp3
 * (ffmpeg), and secure (pages and 12-MP JPEGs rebuilt per second, peak memory at 20 and 200
 * pages). Each runs the engine from packages/engines/dist as the worker does, in this process.
 */
import { execFileSync } from "node:child_process";
import { benchMedia } from "./media.mjs";
import { benchOffice } from "./office.mjs";
import { benchPdfPages } from "./pdf.mjs";
import { benchSecure } from "./secure.mjs";
import { fmt, table } from "./stats.mjs";

/** Whether an executable is on PATH. */
function has(tool) {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Runs each engine bench whose tool is installed; returns figures by engine, and what was skipped. */
export async function runEngineBenches({ officeConversions = 8, pdfPages = 20, mediaSeconds = 60, log = console.log } = {}) {
  const out = { skipped: [] };
  if (has("soffice")) {
    log(`  office: docx -> pdf, ${officeConversions} conversions at 1 and at 2 in parallel...`);
    out.office = await benchOffice({ conversions: officeConversions });
  } else out.skipped.push("office (no soffice)");
  if (has("pdftoppm")) {
    log(`  pdf: ${pdfPages} A4 pages -> png at 150 dpi...`);
    out.pdf = await benchPdfPages({ pages: pdfPages, dpi: 150 });
  } else out.skipped.push("pdf (no pdftoppm)");
  if (has("pdftoppm")) {
    log(`  secure: a ${pdfPages}-page PDF at 150 dpi, 12-megapixel JPEGs, peak memory at 20 and 200 pages...`);
    out.secure = await benchSecure({ pages: pdfPages, dpi: 150, jpegs: 5 });
  } else out.skipped.push("secure (no pdftoppm)");
  if (has("ffmpeg")) {
    log(`  media: mp4 of ${mediaSeconds} s -> mp3...`);
    out.media = await benchMedia({ seconds: mediaSeconds, runs: 3 });
  } else out.skipped.push("media (no ffmpeg)");
  return out;
}

/** Prints the engines' table. */
export function reportEngineBenches(r, log = console.log) {
  log("\nEngines against their tools from the shell (in the bench process, one machine; higher is better):");
  const rows = [];
  if (r.office) {
    const o = r.office;
    rows.push(["docx -> pdf, 1 at a time", `${fmt(o.perMinute.engine1, 1)} /min`, `${fmt(o.perMinute.direct1, 1)} /min`, fmt(o.engineVsDirect.one, 2)]);
    rows.push(["docx -> pdf, 2 at a time", `${fmt(o.perMinute.engine2, 1)} /min`, `${fmt(o.perMinute.direct2, 1)} /min`, fmt(o.engineVsDirect.two, 2)]);
    rows.push(["  gain of 2 parallel over 1", `${fmt(o.parallelGain.engine, 2)}x`, `${fmt(o.parallelGain.direct, 2)}x`, "-"]);
  }
  if (r.pdf) {
    rows.push(["pdf -> png pages (150 dpi)", `${fmt(r.pdf.enginePagesPerSec, 1)} /s`, `${fmt(r.pdf.shellPagesPerSec, 1)} /s`, fmt(r.pdf.ratio, 2)]);
    if (r.pdf.pdfjsPagesPerSec !== undefined) rows.push(["  pdf.js + @napi-rs/canvas (not used)", `${fmt(r.pdf.pdfjsPagesPerSec, 1)} /s`, "-", "-"]);
  }
  if (r.media) {
    rows.push([`mp4 (${r.media.seconds} s) -> mp3, realtime factor`, `${fmt(r.media.engine.realtime, 1)}x`, `${fmt(r.media.shell.realtime, 1)}x`, fmt(r.media.ratio, 2)]);
  }
  log(table(["workload", "engine", "tool from the shell", "engine / shell"], rows));
  log(
    "shell = the same tool on the same input started by the bench as a user would (soffice --convert-to pdf with its own profile;\n" +
      "pdftoppm -png; ffmpeg -i in.mp4 -vn out.mp3). The engine renders PDF pages to TIFF and lets sharp write the PNG, which is why it beats\n" +
      "pdftoppm's own PNG writer; the media engine's fixed cost is two ffprobe runs.",
  );  if (r.secure) {
    const x = r.secure;
    log("\nsecure (disarm and rebuild), as the worker runs it:");
    log(
      table(
        ["workload", "figure"],
        [
          ["PDF pages rebuilt at 150 dpi", `${fmt(x.pdfPagesPerSec, 1)} pages/s`],
          ["12-megapixel JPEGs rebuilt", `${fmt(x.jpegPerSec, 2)} /s`],
          ["worker peak memory, 20-page PDF", `${fmt(x.peakRss20, 0)} MB`],
          ["worker peak memory, 200-page PDF", `${fmt(x.peakRss200, 0)} MB`],
        ],
      ),
    );
    log("peak memory = VmHWM of a node process that loads the engines and secures the one PDF (pdftoppm runs as a process of its own).");
  }

  if (r.skipped.length > 0) log(`engines SKIPPED: ${r.skipped.join(", ")}`);
}
