/**
 * 7z (and zips yauzl cannot decode) through 7zz. 7-Zip writes to disk itself, so it runs only
 * after its listing passed every check (names, kinds, count, declared sizes: 7-Zip's decoders
 * stop at the declared unpack size and verify the CRC, so the listing bounds what it writes), into
 * a private folder under scratch; the files are then streamed through the meter like any entry.
 */
import { createReadStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import { AppError } from "@transmute/core";
import type { ArchiveLevel, EntryKind } from "./archive-guard.js";
import { showName } from "./archive-guard.js";
import { takeFile, type EntryHandler, type ReadContext } from "./archive-read.js";
import { runTool, type ToolRun } from "./run-tool.js";

/** How 7zz is run. */
export interface SevenZipTool {
  command: string;
  env: Record<string, string>;
  /** Cancel and timeout of the current work (its reason is the AppError). */
  stop: AbortSignal;
  /** Wall-clock left for the work, ms. */
  remainingMs(): number;
}

/** One entry of `7zz l -slt`. */
interface ListedEntry {
  name: string;
  kind: EntryKind;
  size: number;
  encrypted: boolean;
}

/** Runs 7zz with HOME and TMPDIR in `home`, without network; maps the stop reason. `lines`: every stdout line. */
export async function runSevenZip(tool: SevenZipTool, args: string[], home: string, what: string): Promise<ToolRun & { lines: string[] }> {
  await mkdir(home, { recursive: true });
  const lines: string[] = [];
  try {
    const run = await runTool(tool.command, ["-bd", "-y", ...args], {
      onStdoutLine: (line) => lines.push(line),
      env: { ...tool.env, HOME: home, TMPDIR: home },
      cwd: home,
      timeoutMs: Math.max(1, tool.remainingMs()),
      signal: tool.stop,
      isolateNetwork: "preferred",
      what,
    });
    return { ...run, lines };
  } catch (err) {
    if (tool.stop.aborted && tool.stop.reason instanceof Error) throw tool.stop.reason;
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new AppError("unsupported_format", "7z archives cannot be read here (7-Zip is not installed)", { detail: String(err) });
    throw err;
  }
}

/** The error of a failed 7zz run: password_protected when it asked for one, else corrupt_file. */
export function describeSevenZipFailure(run: ToolRun, format: string, password: string | undefined): AppError {
  const output = `${run.stdout}\n${run.stderr}`;
  const detail = `exit code ${run.code}: ${output.slice(-2000)}`;
  if (/Wrong password|Cannot open encrypted archive|Enter password/i.test(output)) {
    return password === undefined
      ? new AppError("password_protected", `the ${format} archive is password-protected; give its password in options.password`, { detail })
      : new AppError("password_protected", `the password given does not open the ${format} archive`, { detail });
  }
  return new AppError("corrupt_file", `the ${format} archive is damaged or truncated`, { detail });
}

function passwordArgs(password: string | undefined): string[] {
  // Without -p, 7zz would prompt on stdin for an encrypted header; stdin is /dev/null, so it fails
  // and says so ("Enter password"), which describeSevenZipFailure maps.
  return password === undefined ? [] : [`-p${password}`];
}

/** Lists, checks and unpacks a 7z (or zip, with 7-Zip's decoders) into `handler`. */
export async function readSevenZip(path: string, format: "7z" | "zip", level: ArchiveLevel, ctx: ReadContext, handler: EntryHandler): Promise<void> {
  const tool = ctx.sevenZip;
  if (!tool) throw new AppError("unsupported_format", `${format} archives that need 7-Zip cannot be read here (it is not installed)`);
  const work = ctx.scratchPath();
  const home = join(work, "home");
  const out = join(work, "out");
  try {
    const listing = await runSevenZip(tool, ["l", "-slt", "-ba", `-t${format}`, ...passwordArgs(ctx.password), "--", path], home, "reading the archive");
    if (listing.code !== 0) throw describeSevenZipFailure(listing, format, ctx.password);
    // Every line, not runTool's tail: -slt prints seven or more lines per entry.
    const entries = parseListing(listing.lines.join("\n"));
    if (entries.some((e) => e.encrypted) && ctx.password === undefined) {
      throw new AppError("password_protected", `the ${format} archive is password-protected; give its password in options.password`);
    }
    ctx.guard.precheck(level, entries);
    const seen = new Set<string>();
    for (const entry of entries) {
      const key = entry.name.replace(/\/+$/, "");
      if (entry.kind === "file" && seen.has(key)) throw new AppError("unsafe_archive", `the archive has two entries named ${showName(entry.name)}`);
      seen.add(key);
    }
    const run = await runSevenZip(tool, ["x", `-t${format}`, ...passwordArgs(ctx.password), `-o${out}`, "--", path], home, "unpacking the archive");
    if (run.code !== 0) throw describeSevenZipFailure(run, format, ctx.password);
    const root = resolve(out) + sep;
    for (const entry of entries) {
      ctx.guard.entry(entry.name, entry.kind);
      if (entry.kind === "directory") {
        handler.directory(entry.name);
        continue;
      }
      const file = resolve(out, entry.name);
      // The listing was checked for `..` and absolute names; this is the belt to those braces.
      if (!file.startsWith(root)) throw new AppError("unsafe_archive", `the archive entry ${showName(entry.name)} points outside the archive`);
      await takeFile(createReadStream(file), entry.name, level, ctx, handler);
      await rm(file, { force: true });
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Parses `7zz l -slt -ba`: blocks of `Key = value` lines, one per entry. */
function parseListing(text: string): ListedEntry[] {
  const entries: ListedEntry[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const fields = new Map<string, string>();
    for (const line of block.split(/\r?\n/)) {
      const at = line.indexOf(" = ");
      if (at > 0) fields.set(line.slice(0, at), line.slice(at + 3));
    }
    const name = fields.get("Path");
    if (name === undefined) continue;
    const attributes = fields.get("Attributes") ?? "";
    entries.push({ name, kind: kindOf(attributes, fields.get("Folder")), size: Number(fields.get("Size") || 0), encrypted: fields.get("Encrypted") === "+" });
  }
  return entries;
}

/** The kind from 7-Zip's attributes ("A -rw-r--r--", "D drwxr-xr-x"): the Unix mode string when present. */
function kindOf(attributes: string, folder: string | undefined): EntryKind {
  const mode = /\s([-dlcbps])[-rwxsStT]{9}/.exec(attributes)?.[1];
  const byMode: Record<string, EntryKind> = { "-": "file", d: "directory", l: "symlink", c: "device", b: "device", p: "fifo", s: "other" };
  if (mode) return byMode[mode] ?? "other";
  return folder === "+" || /^D/.test(attributes) ? "directory" : "file";
}
