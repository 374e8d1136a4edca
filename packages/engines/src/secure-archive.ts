/**
 * `secure` for archives: every member is taken out under the archive guards, handed to the
 * caller's securer (which rebuilds it or refuses it), and what came back is packed into the same
 * container. Nothing of the input passes through unrebuilt: unsafe entries, members past the
 * max_files_per_archive cap and members the securer refuses are dropped and listed.
 */
import { lstat, mkdir, mkdtemp, rename, rm, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { AppError, isAppError } from "@transmute/core";
import { ArchiveGuard } from "./archive-guard.js";
import { checkDeclaredFormat, type ReadContext } from "./archive-read.js";
import { writeWithArchiver, type PackEntry } from "./archive-write.js";
import type { ArchiveLimits } from "./engine.js";
import { identifyMember } from "./secure-archive-identify.js";
import { readMembers, type KeptMember } from "./secure-archive-read.js";

/** One archive to secure. */
export interface SecureArchiveRequest {
  inputPath: string;
  format: "zip" | "tar" | "tgz";
  /** Everything written goes under it; a failure leaves it as it was. */
  workDir: string;
  /** The repacked archive, same container format as the input. */
  outputPath: string;
  /** Regular-file members taken at most, in archive order (max_files_per_archive combined with the operator's cap). */
  maxFiles: number;
  /** The guards: entries, total bytes, ratio, depth. */
  limits: ArchiveLimits;
  /** Aborting stops the work (rejects with canceled). */
  signal?: AbortSignal;
  /** Wall-clock limit of the whole call, members' securing included (engine_timeout). */
  timeoutMs: number;
  /**
   * Secures one member (a regular file written under memberWorkDir with a generated name; `name`
   * is the entry's base name, `format` what its bytes are); throws an AppError when it cannot be
   * secured. `signal` is aborted on cancel or timeout: stop and reject when it is.
   */
  secureMember(member: { path: string; name: string; format: string | null }, memberWorkDir: string, signal: AbortSignal): Promise<{ path: string; name: string }>;
}

/** What secureArchive packed and dropped. */
export interface SecureArchiveResult {
  /** Entry names in the output archive, in order. */
  members: string[];
  /** Entries left out (their names in the input) and why, in archive order. */
  dropped: Array<{ name: string; reason: string }>;
  /** Output size in bytes. */
  size: number;
}

/** How long a member's securer gets to stop after a cancel or timeout before the call gives up on it. */
const STOP_GRACE_MS = 10_000;

/** Secures every member of a zip, tar or tgz and repacks them; see the module comment. */
export async function secureArchive(req: SecureArchiveRequest): Promise<SecureArchiveResult> {
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(new AppError("engine_timeout", `securing the archive took longer than ${req.timeoutMs < 1000 ? `${req.timeoutMs} ms` : `${Math.round(req.timeoutMs / 1000)} s`} and was stopped`)), req.timeoutMs);
  const onAbort = () => stop.abort(new AppError("canceled", "securing the archive was canceled"));
  if (req.signal?.aborted) onAbort();
  req.signal?.addEventListener("abort", onAbort, { once: true });
  let scratch: string | undefined;
  let wroteOutput = false;
  try {
    const guard = new ArchiveGuard(req.limits, stop.signal);
    guard.checkStopped();
    scratch = await mkdtemp(join(req.workDir, ".secure-archive-"));
    const dir = scratch;
    let n = 0;
    const next = () => String(++n).padStart(6, "0");
    const ctx: ReadContext = { guard, scratch: dir, sevenZip: null, scratchPath: () => join(dir, `s${next()}`) };
    await checkDeclaredFormat(req.inputPath, req.format);
    const level = guard.openLevel(0, (await stat(req.inputPath)).size);
    const { kept, dropped } = await readMembers(req.inputPath, req.format, level, ctx, Math.max(0, req.maxFiles), () => join(dir, `in${next()}`));

    // Every member is read (and every guard passed) before any is secured: a bomb fails at once.
    const entries: PackEntry[] = [];
    for (const member of kept) {
      guard.checkStopped();
      const secured = await secureOne(req, member, join(dir, `m${next()}`), stop.signal);
      if ("reason" in secured) dropped.push({ at: member.at, name: member.name, reason: secured.reason });
      else entries.push({ ...secured, ...(member.date ? { date: member.date } : {}) });
    }
    const allDropped = dropped.sort((a, b) => a.at - b.at).map(({ name, reason }) => ({ name, reason }));
    if (entries.length === 0) {
      throw new AppError("processing_failed", "nothing in the archive could be secured", { detail: JSON.stringify(allDropped.slice(0, 50)) });
    }
    uniquePaths(entries);
    guard.checkStopped();
    wroteOutput = true;
    await writeWithArchiver(req.format, entries, req.outputPath, stop.signal);
    const { size } = await stat(req.outputPath);
    return { members: entries.map((e) => e.name), dropped: allDropped, size };
  } catch (err) {
    if (wroteOutput) await rm(req.outputPath, { force: true });
    // A stream torn down by the stop may surface as its own error: the stop's reason is the truth.
    throw stop.signal.aborted && stop.signal.reason instanceof Error ? stop.signal.reason : err;
  } finally {
    clearTimeout(timer);
    req.signal?.removeEventListener("abort", onAbort);
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }
}

/** Moves one kept member into its own folder and secures it: the packed entry, or why it was dropped. */
async function secureOne(req: SecureArchiveRequest, member: KeptMember, memberDir: string, stop: AbortSignal): Promise<PackEntry | { reason: string }> {
  await mkdir(memberDir);
  const path = join(memberDir, "member");
  await rename(member.path, path);
  const format = await identifyMember(path);
  const parts = member.name.split(/[/\\]/).filter((p) => p !== "" && p !== ".");
  const name = parts.pop() ?? "file";
  let result: { path: string; name: string };
  try {
    result = await untilStopped(req.secureMember({ path, name, format }, memberDir, stop), stop);
  } catch (err) {
    if (isAppError(err) && err.code !== "canceled" && err.code !== "engine_timeout") return { reason: err.message };
    throw err;
  }
  await checkSecured(result, memberDir);
  if (result.path !== path) await rm(path, { force: true });
  return { name: [...parts, result.name].join("/"), kind: "file", path: result.path };
}

/** The securer's promise, or the stop's reason once it settles or the grace period ends (so a stuck one cannot hold the call). */
async function untilStopped<T>(work: Promise<T>, stop: AbortSignal): Promise<T> {
  let onStop: (() => void) | undefined;
  let grace: NodeJS.Timeout | undefined;
  const stopped = new Promise<never>((_resolve, reject) => {
    onStop = () => {
      const give = () => reject(stop.reason instanceof Error ? stop.reason : new AppError("canceled", "securing the archive was canceled"));
      grace = setTimeout(give, STOP_GRACE_MS);
      work.then(give, give);
    };
    if (stop.aborted) onStop();
    else stop.addEventListener("abort", onStop, { once: true });
  });
  try {
    return await Promise.race([work, stopped]);
  } finally {
    if (onStop) stop.removeEventListener("abort", onStop);
    clearTimeout(grace);
  }
}

/** The securer's output must be a regular file in the member's folder and a plain file name: anything else is a bug there. */
async function checkSecured(result: { path: string; name: string }, memberDir: string): Promise<void> {
  const inside = relative(memberDir, result.path);
  const plainName = result.name !== "" && result.name !== "." && result.name !== ".." && !/[/\\\0]/.test(result.name);
  if (!plainName || inside === "" || inside.startsWith(`..${sep}`) || inside === ".." || !(await lstat(result.path)).isFile()) {
    throw new Error(`secureMember returned ${JSON.stringify(result)}, not a regular file under ${memberDir} with a plain name`);
  }
}

/** Renames entries that now share a path ("a.docx" and "a.doc" both became "a.pdf"): "a (2).pdf". */
function uniquePaths(entries: PackEntry[]): void {
  const taken = new Set<string>();
  for (const entry of entries) {
    const slash = entry.name.lastIndexOf("/");
    const dir = entry.name.slice(0, slash + 1);
    const base = entry.name.slice(slash + 1);
    const dot = base.lastIndexOf(".");
    const [stem, ext] = dot > 0 ? [base.slice(0, dot), base.slice(dot)] : [base, ""];
    let candidate = entry.name;
    for (let i = 2; taken.has(candidate.toLowerCase()); i++) candidate = `${dir}${stem} (${i})${ext}`;
    taken.add(candidate.toLowerCase());
    entry.name = candidate;
  }
}
