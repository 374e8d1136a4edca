/**
 * The LibreOffice engine: documents, spreadsheets and presentations through `soffice
 * --convert-to`. Each conversion is its own soffice process with its own profile directory, so
 * conversions run in parallel (one profile cannot be shared by two processes) up to
 * `concurrency`; the rest queue. Every run lives in a directory under the request's workDir
 * (profile, HOME, TMPDIR, outputs) that is removed whatever happens. Inputs are checked first
 * (office-inspect.ts): soffice would turn garbage into a PDF of garbage and hang on encryption.
 */
import { copyFile, mkdir, mkdtemp, readFile, realpath, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { AppError, findFormat, normalizeFormat, parseOptionsWith, type OptionSpec } from "@transmute/core";
import { PDFDocument } from "pdf-lib";
import type { ConvertContext, ConvertRequest, ConvertResult, Engine, EngineProbe } from "./engine.js";
import { MODULE_LIBRARY, MODULE_PACKAGE, officeConversionPairs, officeConvertTo, officeInputFilter, type OfficeModule } from "./office-formats.js";
import { inspectOfficeInput } from "./office-inspect.js";
import { createLimiter } from "./office-limiter.js";
import { runTool, TOOL_PATH } from "./run-tool.js";

/** Settings of the LibreOffice engine. */
export interface OfficeEngineOptions {
  /** The soffice executable, a name looked up on `env.PATH` or a path (default "soffice"). */
  command?: string;
  /** Wall-clock limit of one conversion, queueing excluded (default 120 s). */
  timeoutMs?: number;
  /** Conversions run at once; more wait in a queue (default 2). */
  concurrency?: number;
  /** soffice's environment (default: only a Debian PATH); HOME and TMPDIR are set per run. */
  env?: Record<string, string>;
}

const DEFAULT_ENV = { PATH: TOOL_PATH };
const OUTPUT_TAIL = 4096;
const INSTALL_HINT = "install libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui (scripts/install-engines.sh does)";

/** The options convert takes for office inputs: only a password, which LibreOffice 7.4 headless cannot use. */
const OFFICE_OPTIONS: readonly OptionSpec[] = [
  {
    name: "password", type: "text", aliases: [], valuesText: "the document's password",
    defaultText: "none", description: "Not supported for office files: LibreOffice's command line cannot open a password-protected document.",
  },
];

/**
 * Settings written into each fresh profile. Macros never run (a converted document is
 * untrusted), and linked images from a referer that is not trusted are not loaded, so a
 * document cannot pull in a local file (file:///etc/...) or a URL into its output.
 */
const PROFILE_SETTINGS = `<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="MacroSecurityLevel" oor:op="fuse"><value>3</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="DisableMacrosExecution" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="BlockUntrustedRefererLinks" oor:op="fuse"><value>true</value></prop></item>
</oor:items>
`;

/** The soffice arguments of one run (exported for the tests: the flags are the contract with soffice). */
export function officeArgs(profileDir: string, outDir: string, inputPath: string, convertTo: string, inputFilter?: string): string[] {
  return [
    `-env:UserInstallation=${pathToFileURL(profileDir).href}`,
    "--headless", "--norestore", "--nolockcheck", "--nodefault", "--nologo",
    ...(inputFilter === undefined ? [] : [`--infilter=${inputFilter}`]),
    "--convert-to", convertTo, "--outdir", outDir, inputPath,
  ];
}

/**
 * Runs `soffice --version` with a throwaway profile and lists the office conversions of the
 * modules installed next to it; a missing soffice is `available: false` with what to install.
 */
export async function probeOffice(options: OfficeEngineOptions = {}): Promise<EngineProbe> {
  const command = options.command ?? "soffice";
  const env = options.env ?? DEFAULT_ENV;
  const scratch = await mkdtemp(join(tmpdir(), "transmute-office-probe-"));
  try {
    const run = await runTool(command, [`-env:UserInstallation=${pathToFileURL(join(scratch, "lo-profile")).href}`, "--version"], {
      env: { ...env, HOME: scratch, TMPDIR: scratch }, cwd: scratch, timeoutMs: 30_000, what: "soffice --version",
    });
    const version = /LibreOffice [\d.]+/.exec(run.stdout)?.[0];
    if (run.code !== 0 || !version) throw new Error(`exit code ${run.code}: ${(run.stdout + run.stderr).trim().slice(-500)}`);
    const modules = await installedModules(command, env.PATH ?? TOOL_PATH);
    const missing = (Object.keys(MODULE_PACKAGE) as OfficeModule[]).filter((m) => !modules.has(m));
    return {
      version,
      conversions: officeConversionPairs(modules),
      available: modules.size > 0,
      ...(missing.length > 0 ? { missing: `LibreOffice lacks ${missing.join(", ")}: install ${missing.map((m) => MODULE_PACKAGE[m]).join(" ")}` } : {}),
    };
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === "ENOENT" ? `${command} was not found` : `${command} --version failed (${String(err)})`;
    return { version: "unknown", conversions: [], available: false, missing: `LibreOffice: ${why}; ${INSTALL_HINT}. Until then office documents are not converted.` };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * The modules whose library sits in soffice's program directory. When the directory cannot be
 * found (a wrapper script elsewhere), all three are assumed: the conversions will tell.
 */
async function installedModules(command: string, path: string): Promise<Set<OfficeModule>> {
  const all = new Set(Object.keys(MODULE_LIBRARY) as OfficeModule[]);
  const candidates = command.includes("/") ? [command] : path.split(delimiter).map((dir) => join(dir, command));
  for (const candidate of candidates) {
    const real = await realpath(candidate).catch(() => null);
    if (!real) continue;
    const present = new Set<OfficeModule>();
    for (const module of all) if (await stat(join(dirname(real), MODULE_LIBRARY[module])).catch(() => null)) present.add(module);
    return present.size > 0 ? present : all;
  }
  return all;
}

/** Creates the LibreOffice engine. */
export function createOfficeEngine(options: OfficeEngineOptions = {}): Engine {
  const command = options.command ?? "soffice";
  const env = options.env ?? DEFAULT_ENV;
  const limiter = createLimiter(options.concurrency ?? 2);
  const active = new Set<AbortController>();
  let closed = false;

  async function convert(request: ConvertRequest, context: ConvertContext = {}): Promise<ConvertResult> {
    const from = normalizeFormat(request.inputFormat);
    const to = normalizeFormat(request.outputFormat);
    const convertTo = officeConvertTo(from, to);
    if (!convertTo) throw new AppError("unsupported_conversion", `LibreOffice does not convert ${name(from)} to ${name(to)}`);
    const { values, ignored } = parseOptionsWith(OFFICE_OPTIONS, request.options);
    const info = await inspectOfficeInput(request.inputPath, from);
    if (info.encrypted) {
      throw new AppError("password_protected", values.password === undefined
        ? `the ${name(from)} file is password-protected; convert it after removing the password`
        : `the ${name(from)} file is password-protected and passwords are not supported for office files; remove the password and convert it again`);
    }
    if (values.password !== undefined) ignored.push("password");
    // One signal for the caller's abort and the engine's close (which aborts every active one).
    const stop = new AbortController();
    const abort = () => stop.abort();
    if (closed || context.signal?.aborted) stop.abort();
    context.signal?.addEventListener("abort", abort, { once: true });
    active.add(stop);
    const signal = stop.signal;
    let release: (() => void) | undefined;
    try {
      release = await limiter.acquire(signal);
      context.onProgress?.(0);
      const result = await runConversion(request, context, { from, to, convertTo, signal, inputFilter: officeInputFilter(from, info.encoding) });
      context.onProgress?.(100);
      return { ...result, ignoredOptions: ignored };
    } finally {
      release?.();
      active.delete(stop);
      context.signal?.removeEventListener("abort", abort);
    }
  }

  async function runConversion(
    request: ConvertRequest, context: ConvertContext,
    job: { from: string; to: string; convertTo: string; signal: AbortSignal; inputFilter: string | undefined },
  ): Promise<Omit<ConvertResult, "ignoredOptions">> {
    const runDir = await mkdtemp(join(request.workDir ?? dirname(request.outputPath), "office-"));
    try {
      const profile = join(runDir, "lo-profile");
      await mkdir(join(profile, "user"), { recursive: true });
      await writeFile(join(profile, "user", "registrymodifications.xcu"), PROFILE_SETTINGS);
      // A fixed name: soffice names its output after the input, and an odd input name (a leading
      // "-", spaces) cannot reach its command line.
      const input = join(runDir, `input.${job.from}`);
      await symlink(resolve(request.inputPath), input).catch(() => copyFile(request.inputPath, input));
      const outDir = join(runDir, "out");
      // Documents must not fetch anything: an empty network namespace where one can be made. In
      // Docker the default seccomp profile refuses unshare, so soffice runs with the container's
      // network: run the office worker on a network without egress (see the deployment docs).
      const run = await runTool(command, officeArgs(profile, outDir, input, job.convertTo, job.inputFilter), {
        env: { ...env, HOME: runDir, TMPDIR: runDir },
        cwd: runDir,
        timeoutMs: context.timeoutMs ?? options.timeoutMs ?? 120_000,
        signal: job.signal,
        isolateNetwork: "preferred",
        what: "the document conversion",
      });
      const produced = join(outDir, `input.${job.to}`);
      const size = (await stat(produced).catch(() => null))?.size;
      const detail = `soffice exit code ${run.code}: ${(run.stdout + run.stderr).trim()}`.slice(-OUTPUT_TAIL);
      if (run.code !== 0 && !size) throw new AppError("processing_failed", `LibreOffice failed to convert the ${name(job.from)} file`, { detail });
      if (!size) throw new AppError("corrupt_file", `LibreOffice could not read the file as ${name(job.from)}: it produced no ${name(job.to)}`, { detail });
      let details: Record<string, unknown> | undefined;
      if (job.to === "pdf") {
        const pages = await countPages(produced);
        const max = request.limits?.maxPages;
        if (max !== undefined && pages > max) {
          throw new AppError("limit_exceeded", `the document has ${pages} pages as a PDF; at most ${max} are allowed`);
        }
        details = { pages };
      }
      await rename(produced, request.outputPath).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== "EXDEV") throw err;
        await copyFile(produced, request.outputPath);
      });
      return { format: job.to, size, ...(details ? { details } : {}) };
    } finally {
      await rm(runDir, { recursive: true, force: true, maxRetries: 3 });
    }
  }

  return {
    name: "libreoffice",
    engineClass: "office",
    probe: () => probeOffice(options),
    convert,
    close() {
      // Running conversions are killed (canceled) and queued ones leave the queue.
      closed = true;
      for (const stop of active) stop.abort();
      return Promise.resolve();
    },
  };
}

async function countPages(pdfPath: string): Promise<number> {
  try {
    return (await PDFDocument.load(await readFile(pdfPath), { ignoreEncryption: true, updateMetadata: false })).getPageCount();
  } catch (err) {
    throw new AppError("processing_failed", "LibreOffice wrote a PDF that cannot be read back", { detail: String(err) });
  }
}

function name(format: string): string {
  return findFormat(format)?.name ?? format.toUpperCase();
}
