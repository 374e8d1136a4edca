/**
 * export/sftp: uploads every input file to an SFTP server, streamed (never whole in memory).
 * Where each file goes (`remotePaths`):
 *  - `file_string` ending in "/" is a directory: each file keeps its own name in it;
 *  - otherwise the first file is written to `file_string` and the n-th other one to the same
 *    name with "-n" before the extension ("out/a.jpg", "out/a-2.jpg", "out/a-3.jpg").
 * Names that would collide get the same "-n" treatment. Missing parent directories are created
 * (as `mkdir -p` would); an existing file is overwritten, so a retried task writes the same files.
 */
import { posix } from "node:path";
import type { Readable } from "node:stream";
import type { SFTPWrapper } from "ssh2";
import { AppError, isAppError, sanitizeFilename } from "@transmute/core";
import type { OperationContext, OperationHandler } from "../context.js";
import { SFTP_NO_SUCH_FILE, SFTP_PERMISSION_DENIED, sftpStatus, sftpTargetOf, withSftp } from "../sftp-client.js";

export const exportSftp: OperationHandler = {
  name: "export/sftp",
  async run(ctx) {
    if (ctx.inputs.length === 0) throw new AppError("no_input", "The input tasks produced no file to export.");
    const target = sftpTargetOf(ctx.task.payload);
    const paths = remotePaths(String(ctx.task.payload.file_string), ctx.inputs.map((i) => i.name));
    const { value: uploaded, fingerprint } = await withSftp(
      target,
      {
        policy: ctx.outbound,
        failCode: "processing_failed",
        connectTimeoutMs: Math.min(ctx.limits.importUrlTimeoutMs, ctx.limits.timeoutMs),
        totalTimeoutMs: ctx.limits.timeoutMs,
        signal: ctx.signal,
      },
      (sftp, signal) => uploadAll(ctx, sftp, paths, signal),
    );
    return { result: { host_key_fingerprint: fingerprint, uploaded } };
  },
};

/** The remote path of each input (see the file's comment for the rule). */
export function remotePaths(fileString: string, names: string[]): string[] {
  const used = new Set<string>();
  const unique = (path: string) => {
    const ext = posix.extname(posix.basename(path));
    const stem = ext ? path.slice(0, -ext.length) : path;
    let candidate = path;
    for (let n = 2; used.has(candidate); n++) candidate = `${stem}-${n}${ext}`;
    used.add(candidate);
    return candidate;
  };
  if (fileString.endsWith("/")) return names.map((name) => unique(`${fileString}${sanitizeFilename(name)}`));
  return names.map(() => unique(fileString));
}

async function uploadAll(ctx: OperationContext, sftp: SFTPWrapper, paths: string[], signal: AbortSignal): Promise<Array<{ path: string; size: number }>> {
  const total = ctx.inputs.reduce((sum, i) => sum + i.size, 0) || 1;
  const made = new Set<string>();
  const uploaded: Array<{ path: string; size: number }> = [];
  let done = 0;
  for (const [i, input] of ctx.inputs.entries()) {
    const path = paths[i]!;
    await makeParents(sftp, posix.dirname(path), made);
    const source = await ctx.storage.get(input.storageKey);
    const size = await upload(sftp, source, path, signal, (bytes) => ctx.progress(((done + bytes) / total) * 100));
    done += size;
    uploaded.push({ path, size });
  }
  return uploaded;
}

/** Creates `dir` and its missing parents, as `mkdir -p` (`made` remembers the ones known to exist). */
async function makeParents(sftp: SFTPWrapper, dir: string, made: Set<string>): Promise<void> {
  if (dir === "." || dir === "/" || dir === "" || made.has(dir)) return;
  const exists = await call<{ isDirectory(): boolean }>((cb) => sftp.stat(dir, cb)).then(
    (stats) => {
      if (!stats.isDirectory()) throw new AppError("processing_failed", `Could not create the directory ${dir} on the SFTP server: a file has that name.`);
      return true;
    },
    (err: unknown) => {
      if (isAppError(err)) throw err;
      if (sftpStatus(err) === SFTP_NO_SUCH_FILE) return false;
      throw writeError(err, dir, "create the directory");
    },
  );
  if (!exists) {
    await makeParents(sftp, posix.dirname(dir), made);
    await call<void>((cb) => sftp.mkdir(dir, cb)).catch(async (err: unknown) => {
      // Another writer may have made it meanwhile; only a directory that is still missing is an error.
      const now = await call<{ isDirectory(): boolean }>((cb) => sftp.stat(dir, cb)).catch(() => null);
      if (!now?.isDirectory()) throw writeError(err, dir, "create the directory");
    });
  }
  made.add(dir);
}

/** Streams `source` into `path` (truncated first); resolves with the bytes written once the handle is closed. */
async function upload(sftp: SFTPWrapper, source: Readable, path: string, signal: AbortSignal, onBytes: (bytes: number) => void): Promise<number> {
  let handle: Buffer;
  try {
    handle = await call<Buffer>((cb) => sftp.open(path, "w", { mode: 0o644 }, cb));
  } catch (err) {
    source.destroy();
    throw writeError(err, path, "write");
  }
  let position = 0;
  let closed = false;
  try {
    for await (const chunk of source) {
      if (signal.aborted) throw signal.reason;
      const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      await call<void>((cb) => sftp.write(handle, bytes, 0, bytes.length, position, (err) => cb(err))).catch((err: unknown) => {
        throw writeError(err, path, "write");
      });
      position += bytes.length;
      onBytes(position);
    }
    closed = true;
    // Some servers report a failed write (disk full, quota) only when the handle is closed.
    await call<void>((cb) => sftp.close(handle, cb)).catch((err: unknown) => {
      throw writeError(err, path, "write");
    });
    return position;
  } catch (err) {
    source.destroy();
    if (!closed) await call<void>((cb) => sftp.close(handle, cb)).catch(() => undefined);
    // A half-written file is worse than none: whoever watches the directory would take it.
    await call<void>((cb) => sftp.unlink(path, cb)).catch(() => undefined);
    throw err;
  }
}

function writeError(err: unknown, path: string, action: "write" | "create the directory"): AppError {
  if (isAppError(err)) return err;
  const detail = err instanceof Error ? err.message : String(err);
  switch (sftpStatus(err)) {
    case SFTP_PERMISSION_DENIED:
      return new AppError("processing_failed", `Could not ${action} ${path} on the SFTP server: permission denied.`, { detail });
    case SFTP_NO_SUCH_FILE:
      return new AppError("processing_failed", `Could not ${action} ${path} on the SFTP server: no such directory.`, { detail });
    default:
      return new AppError("processing_failed", `Could not ${action} ${path} on the SFTP server.`, { detail, retryable: true });
  }
}

/** Runs one callback-style SFTP request as a promise. */
function call<T>(start: (cb: (err: Error | null | undefined, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => start((err, value) => (err ? reject(err) : resolve(value))));
}
