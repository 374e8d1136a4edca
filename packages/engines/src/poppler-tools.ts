/**
 * The poppler tools as the poppler engine runs them: one deadline for a whole conversion (every
 * run gets what is left of it), a private HOME/TMPDIR under the task's scratch, no network, and
 * pdfinfo's answer (page count, page sizes, encryption) read before anything is rendered.
 */
import { join } from "node:path";
import { AppError } from "@transmute/core";
import { runTool, TOOL_PATH, type ToolRun } from "./run-tool.js";

/** How one conversion runs its tools. */
export interface PopplerRun {
  /** Directory holding pdftoppm, pdftotext and pdfinfo, or "" to look them up on PATH. */
  binDir: string;
  env: Record<string, string>;
  /** Private HOME and TMPDIR of the tools (fontconfig's cache lands here). */
  home: string;
  /** Epoch ms past which the conversion is engine_timeout. */
  deadline: number;
  /** The conversion's whole time budget, for the timeout message. */
  timeoutMs: number;
  signal?: AbortSignal;
  password?: string;
}

/** What pdfinfo says about a document. */
export interface PdfInfo {
  pages: number;
  /** Page sizes in points, index 0 = page 1 (only the pages asked for). */
  sizes: Array<{ width: number; height: number }>;
}

/** The path of a poppler tool. */
export function toolPath(run: Pick<PopplerRun, "binDir">, tool: string): string {
  return run.binDir === "" ? tool : join(run.binDir, tool);
}

/** The password arguments: poppler tries each as both kinds, so the caller need not say which one it has. */
export function passwordArgs(password: string | undefined): string[] {
  return password === undefined ? [] : ["-opw", password, "-upw", password];
}

/** Runs one tool under the conversion's deadline; rejects with engine_timeout, canceled or processing_failed (tool missing). */
export async function runPoppler(run: PopplerRun, tool: string, args: string[], hooks: { onStderrLine?(line: string): void; onStdoutLine?(line: string): void } = {}): Promise<ToolRun> {
  const left = run.deadline - Date.now();
  if (left <= 0) throw timeout(run);
  try {
    const result = await runTool(toolPath(run, tool), args, {
      env: { ...run.env, HOME: run.home, TMPDIR: run.home },
      cwd: run.home,
      timeoutMs: left,
      isolateNetwork: "preferred",
      what: "the conversion",
      ...(run.signal ? { signal: run.signal } : {}),
      ...hooks,
    });
    return result;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new AppError("processing_failed", "the PDF conversion failed", { detail: `${toolPath(run, tool)} was not found: install poppler-utils`, retryable: true });
    }
    if (err instanceof AppError && err.code === "engine_timeout") throw timeout(run);
    throw err;
  }
}

function timeout(run: PopplerRun): AppError {
  return new AppError("engine_timeout", `the conversion took longer than ${Math.max(1, Math.round(run.timeoutMs / 1000))} s and was stopped`);
}

/**
 * Reads the page count and the sizes of pages 1..lastPage. Fails with password_protected when
 * the document needs a password it was not given, corrupt_file when poppler cannot open it.
 */
export async function readPdfInfo(run: PopplerRun, inputPath: string, lastPage: number): Promise<PdfInfo> {
  const sizes: PdfInfo["sizes"] = [];
  let pages = -1;
  // Per-page lines go through the callback: the kept tail of stdout is only 4 KiB.
  const onStdoutLine = (line: string) => {
    const size = /^Page\s+(\d+) size:\s+([\d.]+) x ([\d.]+) pts/.exec(line);
    if (size) sizes[Number(size[1]) - 1] = { width: Number(size[2]), height: Number(size[3]) };
    const count = /^Pages:\s+(\d+)/.exec(line);
    if (count) pages = Number(count[1]);
  };
  const result = await runPoppler(run, "pdfinfo", [...passwordArgs(run.password), "-f", "1", "-l", String(Math.max(1, lastPage)), "--", inputPath], { onStdoutLine });
  const detail = result.stderr.slice(-2000);
  if (result.code !== 0) {
    if (/incorrect password/i.test(result.stderr)) {
      const message = run.password === undefined
        ? "the PDF is password-protected; give its password in the `password` option"
        : "the PDF is password-protected and option password is not its password";
      throw new AppError("password_protected", message, { detail });
    }
    throw new AppError("corrupt_file", "the file is damaged or is not a PDF", { detail });
  }
  if (pages < 1) throw new AppError("corrupt_file", "the PDF has no pages", { detail });
  return { pages, sizes };
}

/** Groups ascending page numbers into runs of consecutive pages (one tool run each). */
export function consecutiveRuns(pages: readonly number[]): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (const page of pages) {
    const last = runs[runs.length - 1];
    if (last && page === last[1] + 1) last[1] = page;
    else runs.push([page, page]);
  }
  return runs;
}
