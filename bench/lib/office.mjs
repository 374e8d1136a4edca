/**
 * LibreOffice throughput: docx -> pdf conversions per minute through the office engine (one
 * and two at a time) against soffice run straight from the shell the same ways (one at a time,
 * and two in parallel, each with its own profile: a profile cannot be shared). The ratio of
 * two to one says whether parallel profiles pay; the engine-to-direct ratio is our overhead
 * (input checks, the PDF page count, the run directory).
 */
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createOfficeEngine } from "../../packages/engines/dist/index.js";

/** A two-page document with a table and CJK text, as HTML (LibreOffice makes the docx). */
function documentHtml() {
  const rows = Array.from({ length: 40 }, (_, i) => `<tr><td>Item ${i + 1}</td><td>${(i * 37) % 101}</td><td>中文 日本語 한국어</td></tr>`).join("");
  const para = "Transmute converts documents with LibreOffice, one profile per run. ".repeat(12);
  return `<html><head><meta charset="utf-8"></head><body><h1>Quarterly report</h1><p>${para}</p><table border="1">${rows}</table><p>${para}</p></body></html>`;
}

/** Runs soffice as a shell would, with its own profile under `dir`; resolves when it exits 0. */
function sofficeDirect(dir, input) {
  return new Promise((resolve, reject) => {
    const child = spawn("soffice", [
      `-env:UserInstallation=${pathToFileURL(join(dir, "profile")).href}`, "--headless", "--norestore", "--nolockcheck", "--nodefault", "--nologo",
      "--convert-to", "pdf", "--outdir", join(dir, "out"), input,
    ], { env: { PATH: process.env.PATH, HOME: dir, TMPDIR: dir }, stdio: "ignore" });
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`soffice exited with ${code}`))));
  });
}

/** Runs `count` jobs with at most `parallel` at once; resolves with the wall time in ms. */
async function timed(count, parallel, job) {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < count) await job(next++);
  }));
  return performance.now() - started;
}

const perMinute = (count, ms) => Math.round((count / ms) * 60_000 * 10) / 10;

/**
 * Measures docx -> pdf conversions per minute, `conversions` of each kind (default 8): through
 * the engine with concurrency 1 and 2, and soffice run directly one at a time and two in parallel.
 */
export async function benchOffice({ conversions = 8 } = {}) {
  const root = await mkdtemp(join(os.tmpdir(), "transmute-bench-office-"));
  const engines = [];
  try {
    const html = join(root, "report.html");
    await writeFile(html, documentHtml());
    const maker = createOfficeEngine();
    engines.push(maker);
    const docx = join(root, "report.docx");
    await maker.convert({ inputPath: html, outputPath: docx, inputFormat: "html", outputFormat: "docx", workDir: root });

    const throughEngine = async (concurrency) => {
      const engine = createOfficeEngine({ concurrency });
      engines.push(engine);
      // Every conversion is submitted at once: the engine's own queue does the limiting.
      const ms = await timed(conversions, conversions, async (i) => {
        const workDir = join(root, `engine-${concurrency}-${i}`);
        await mkdir(workDir);
        await engine.convert({ inputPath: docx, outputPath: join(workDir, "out.pdf"), inputFormat: "docx", outputFormat: "pdf", workDir });
      });
      return perMinute(conversions, ms);
    };
    const direct = async (parallel) => {
      const ms = await timed(conversions, parallel, async (i) => {
        const dir = join(root, `direct-${parallel}-${i}`);
        await mkdir(dir);
        await sofficeDirect(dir, docx);
        // Each run starts from a fresh profile, as the engine's do.
        await rm(join(dir, "profile"), { recursive: true, force: true });
      });
      return perMinute(conversions, ms);
    };

    const engine1 = await throughEngine(1);
    const engine2 = await throughEngine(2);
    const direct1 = await direct(1);
    const direct2 = await direct(2);
    const ratio = (a, b) => Math.round((a / b) * 100) / 100;
    return {
      conversions,
      cpus: os.cpus().length,
      perMinute: { engine1, engine2, direct1, direct2 },
      parallelGain: { engine: ratio(engine2, engine1), direct: ratio(direct2, direct1) },
      engineVsDirect: { one: ratio(engine1, direct1), two: ratio(engine2, direct2) },
    };
  } finally {
    await Promise.all(engines.map((e) => e.close()));
    await rm(root, { recursive: true, force: true });
  }
}
