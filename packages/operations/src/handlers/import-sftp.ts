/**
 * import/sftp: downloads one file (`file_string`, relative to the login directory unless it
 * starts with "/") from an SFTP server, streamed into storage under the import byte cap and
 * time limit. The result carries the server's host-key fingerprint.
 */
import { posix } from "node:path";
import type { SFTPWrapper, Stats } from "ssh2";
import { AppError, isAppError, sanitizeFilename } from "@transmute/core";
import type { OperationHandler } from "../context.js";
import { SFTP_NO_SUCH_FILE, SFTP_PERMISSION_DENIED, sftpStatus, sftpTargetOf, withSftp } from "../sftp-client.js";

export const importSftp: OperationHandler = {
  name: "import/sftp",
  async run(ctx) {
    const target = sftpTargetOf(ctx.task.payload);
    const path = String(ctx.task.payload.file_string);
    const given = typeof ctx.task.payload.filename === "string" ? ctx.task.payload.filename : null;
    const name = sanitizeFilename(given ?? posix.basename(path));
    const maxBytes = ctx.limits.importUrlMaxBytes;
    const timeoutMs = Math.min(ctx.limits.importUrlTimeoutMs, ctx.limits.timeoutMs);
    const { fingerprint } = await withSftp(
      target,
      { policy: ctx.outbound, failCode: "download_failed", connectTimeoutMs: timeoutMs, totalTimeoutMs: timeoutMs, signal: ctx.signal },
      async (sftp, signal) => {
        const stats = await statFile(sftp, path);
        if (!stats.isFile()) throw new AppError("download_failed", `${path} on the SFTP server is ${stats.isDirectory() ? "a directory" : "not a regular file"}.`);
        if (stats.size > maxBytes) throw tooLarge(path, maxBytes, stats.size);
        try {
          await ctx.output.addStream(sftp.createReadStream(path), name, { maxBytes, signal });
        } catch (err) {
          // The file grew past the cap while being read (the size checked above was smaller).
          if (isAppError(err) && err.code === "payload_too_large") throw tooLarge(path, maxBytes);
          throw isAppError(err) || signal.aborted ? err : readError(err, path);
        }
      },
    );
    return { result: { host_key_fingerprint: fingerprint } };
  },
};

function statFile(sftp: SFTPWrapper, path: string): Promise<Stats> {
  return new Promise((resolve, reject) => {
    sftp.stat(path, (err, stats) => (err ? reject(readError(err, path)) : resolve(stats)));
  });
}

function readError(err: unknown, path: string): AppError {
  const detail = err instanceof Error ? err.message : String(err);
  switch (sftpStatus(err)) {
    case SFTP_NO_SUCH_FILE:
      return new AppError("download_failed", `There is no file ${path} on the SFTP server.`, { detail });
    case SFTP_PERMISSION_DENIED:
      return new AppError("download_failed", `Could not read ${path} on the SFTP server: permission denied.`, { detail });
    default:
      return new AppError("download_failed", `Could not read ${path} on the SFTP server.`, { detail, retryable: true });
  }
}

function tooLarge(path: string, maxBytes: number, size?: number): AppError {
  const actual = size === undefined ? "" : ` (it has ${size} bytes)`;
  return new AppError("file_too_large", `${path} on the SFTP server is larger than the limit of ${maxBytes} bytes${actual}.`);
}
