/**
 * The archive engine: extract zip, tar, tgz and 7z into their files, and repack between those
 * formats, under the archive guards (entries, bytes, ratio, nesting, unsafe names and links).
 * zip/tar/tgz are read and written in this process; 7z (and encrypted zips) go through 7zz.
 * Everything is written under the request's workDir; a failure leaves nothing there.
 */
import { mkdtemp, rm, stat } from "node:fs/promises";
import { basename, dirname, extname, join } from "node:path";
import { AppError, ARCHIVE_FORMATS, normalizeFormat, parseArchiveOptions } from "@transmute/core";
import type { SevenZipTool } from "./archive-7z.js";
import { ArchiveGuard, DEFAULT_ARCHIVE_LIMITS, tightenLimits } from "./archive-guard.js";
import { checkDeclaredFormat, readArchive, type ArchiveKind, type EntryHandler, type ReadContext } from "./archive-read.js";
import { writeSevenZip, writeWithArchiver, type PackEntry } from "./archive-write.js";
import type { ArchiveLimits, ConversionPair, ConvertContext, ConvertRequest, ConvertResult, Engine, EngineProbe, ExtractRequest, ExtractResult } from "./engine.js";
import { runTool, TOOL_PATH } from "./run-tool.js";

/** Settings of the archive engine. */
export interface ArchiveEngineOptions {
  /** The 7-Zip executable, a name looked up on `env.PATH` or a path (default "7zz", Debian's 7zip package). */
  sevenZip?: string;
  /** Wall-clock limit of one extraction or repack (default 300 s). */
  timeoutMs?: number;
  /** 7zz's environment (default: only a Debian PATH): it parses untrusted files and gets no secrets. */
  env?: Record<string, string>;
  /** The guards (default 10000 entries, 2 GiB, ratio 200, depth 3); a call can only tighten them. */
  limits?: ArchiveLimits;
}

/** The archive engine. */
export interface ArchiveEngine extends Engine {
  extract(request: ExtractRequest, context?: ConvertContext): Promise<ExtractResult>;
}

const NODE_FORMATS: readonly ArchiveKind[] = ["zip", "tar", "tgz"];

/** Runs `7zz` once: zip/tar/tgz pairs always, 7z pairs only when it runs. Never unavailable (Node reads the rest). */
export async function probeArchive(options: ArchiveEngineOptions = {}): Promise<EngineProbe> {
  const command = options.sevenZip ?? "7zz";
  let sevenZip: string | null = null;
  let why = "";
  try {
    const run = await runTool(command, ["i"], { env: options.env ?? { PATH: TOOL_PATH }, timeoutMs: 10_000, what: `${command} i`, tailBytes: 64_000 });
    const banner = /7-Zip[^\n:]*?\d+\.\d+/.exec(run.stdout)?.[0];
    if (run.code === 0 && banner) sevenZip = banner.trim();
    else why = `${command} i failed (exit code ${run.code})`;
  } catch (err) {
    why = (err as NodeJS.ErrnoException).code === "ENOENT" ? `${command} was not found` : `${command} failed (${String(err)})`;
  }
  const readable: string[] = sevenZip ? [...ARCHIVE_FORMATS] : [...NODE_FORMATS];
  const conversions: ConversionPair[] = [];
  for (const from of readable) for (const to of readable) if (from !== to) conversions.push({ from, to });
  for (const f of readable) conversions.push({ from: f, to: f, operation: "extract" });
  return {
    version: ["yauzl, tar-stream, archiver", sevenZip].filter(Boolean).join("; "),
    conversions,
    available: true,
    ...(sevenZip ? {} : { missing: `7-Zip: ${why}; install the Debian package 7zip (scripts/install-engines.sh does). Until then 7z archives and encrypted zips are not offered.` }),
  };
}

/** Creates the archive engine. */
export function createArchiveEngine(options: ArchiveEngineOptions = {}): ArchiveEngine {
  const command = options.sevenZip ?? "7zz";
  const env = options.env ?? { PATH: TOOL_PATH };
  const baseLimits = options.limits ?? DEFAULT_ARCHIVE_LIMITS;
  let hasSevenZip: Promise<boolean> | undefined;
  const sevenZipRuns = () => (hasSevenZip ??= probeArchive(options).then((p) => p.conversions.some((c) => c.from === "7z")));

  /** Runs `work` with a guard, a stop signal (cancel, timeout) and a scratch folder removed afterwards. */
  async function withWork<T>(workDir: string, limits: ArchiveLimits | undefined, context: ConvertContext, password: string | undefined, work: (ctx: ReadContext, scratch: string) => Promise<T>): Promise<T> {
    const timeoutMs = context.timeoutMs ?? options.timeoutMs ?? 300_000;
    const deadline = Date.now() + timeoutMs;
    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort(new AppError("engine_timeout", `the archive work took longer than ${Math.round(timeoutMs / 1000)} s and was stopped`)), timeoutMs);
    const onAbort = () => stop.abort(new AppError("canceled", "the archive work was canceled"));
    if (context.signal?.aborted) onAbort();
    context.signal?.addEventListener("abort", onAbort, { once: true });
    const scratch = await mkdtemp(join(workDir, ".archive-"));
    let n = 0;
    const tool: SevenZipTool | null = (await sevenZipRuns()) ? { command, env, stop: stop.signal, remainingMs: () => deadline - Date.now() } : null;
    const ctx: ReadContext = {
      guard: new ArchiveGuard(tightenLimits(baseLimits, limits), stop.signal),
      scratch,
      ...(password === undefined ? {} : { password }),
      sevenZip: tool,
      scratchPath: () => join(scratch, `n${String(++n).padStart(6, "0")}`),
    };
    try {
      ctx.guard.checkStopped();
      return await work(ctx, scratch);
    } catch (err) {
      // A stream torn down by the stop may surface as its own error: the stop's reason is the truth.
      throw stop.signal.aborted && stop.signal.reason instanceof Error ? stop.signal.reason : err;
    } finally {
      clearTimeout(timer);
      context.signal?.removeEventListener("abort", onAbort);
      await rm(scratch, { recursive: true, force: true });
    }
  }

  /** Reads the archive into numbered files under `dir`, returning the entries in order. */
  async function readInto(ctx: ReadContext, path: string, kind: ArchiveKind, dir: string): Promise<PackEntry[]> {
    await checkDeclaredFormat(path, kind);
    if (kind === "7z" && !ctx.sevenZip) throw new AppError("unsupported_format", "7z archives cannot be read here (7-Zip is not installed)");
    const entries: PackEntry[] = [];
    let n = 0;
    const handler: EntryHandler = {
      directory: (name, date) => void entries.push({ name, kind: "directory", ...(date ? { date } : {}) }),
      target: () => join(dir, String(++n).padStart(6, "0")),
      wrote: (name, file, date) => void entries.push({ name, kind: "file", path: file, ...(date ? { date } : {}) }),
    };
    const level = ctx.guard.openLevel(0, (await stat(path)).size);
    await readArchive(path, kind, level, ctx, handler);
    return entries;
  }

  return {
    name: "archive",
    engineClass: "archive",
    probe: () => probeArchive(options),
    async extract(request, context = {}) {
      const kind = archiveKind(request.format);
      const { values, ignored } = parseArchiveOptions(request.options);
      const dir = await mkdtemp(join(request.workDir, "extract-"));
      try {
        const entries = await withWork(request.workDir, request.limits?.archive, context, values.password, (ctx) => readInto(ctx, request.inputPath, kind, dir));
        const files = entries.filter((e) => e.kind === "file");
        const names = uniqueNames(files.map((e) => baseName(e.name)));
        return { files: files.map((e, i) => ({ path: e.path ?? "", name: names[i] ?? "" })), ignoredOptions: ignored, details: { entries: files.map((e) => e.name) } };
      } catch (err) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    },
    async convert(request: ConvertRequest, context: ConvertContext = {}): Promise<ConvertResult> {
      const from = archiveKind(request.inputFormat);
      const to = archiveKind(request.outputFormat);
      if (from === to) throw new AppError("unsupported_conversion", `the archive engine does not convert ${from} to itself`);
      const { values, ignored } = parseArchiveOptions(request.options);
      const workDir = request.workDir ?? dirname(request.outputPath);
      try {
        const count = await withWork(workDir, request.limits?.archive, context, values.password, async (ctx, scratch) => {
          if (to === "7z" && !ctx.sevenZip) throw new AppError("unsupported_conversion", "7z archives cannot be written here (7-Zip is not installed)");
          const entries = await readInto(ctx, request.inputPath, from, scratch);
          ctx.guard.checkStopped();
          if (to === "7z" && ctx.sevenZip) await writeSevenZip(ctx.sevenZip, entries, request.outputPath, scratch);
          else await writeWithArchiver(to as "zip" | "tar" | "tgz", entries, request.outputPath, ctx.guard.stopSignal);
          return entries.length;
        });
        const { size } = await stat(request.outputPath);
        return { format: to, size, ignoredOptions: ignored, details: { entries: count } };
      } catch (err) {
        await rm(request.outputPath, { force: true });
        throw err;
      }
    },
    close: () => Promise.resolve(),
  };
}

function archiveKind(format: string): ArchiveKind {
  const kind = normalizeFormat(format);
  if (!(ARCHIVE_FORMATS as readonly string[]).includes(kind)) {
    throw new AppError("unsupported_format", `the archive engine reads ${ARCHIVE_FORMATS.join(", ")}, not ${kind}`);
  }
  return kind as ArchiveKind;
}

/** The last path component of an entry name (either separator), or "file" when it has none. */
function baseName(name: string): string {
  return name.split(/[/\\]/).filter(Boolean).pop() ?? "file";
}

/** Makes names unique in order: the second "a.txt" becomes "a (2).txt". */
export function uniqueNames(names: readonly string[]): string[] {
  const taken = new Set<string>();
  return names.map((name) => {
    let candidate = name;
    const ext = extname(name);
    const stem = basename(name, ext);
    for (let i = 2; taken.has(candidate.toLowerCase()); i++) candidate = `${stem} (${i})${ext}`;
    taken.add(candidate.toLowerCase());
    return candidate;
  });
}
