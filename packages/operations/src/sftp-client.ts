/**
 * The connection code shared by import/sftp and export/sftp: one SSH connection per task,
 * opened through the outbound policy's guarded lookup (so the address connected to is the
 * address checked), authenticated with the payload's password and/or private key, the host key
 * checked against the operator's known hosts (see sftp-known-hosts.ts), and always closed.
 */
import { connect as netConnect, isIP, type Socket } from "node:net";
import { AppError, isAppError, type ErrorCode } from "@transmute/core";
import { createGuardedLookup, createRefusalError, type OutboundPolicy } from "@transmute/outbound";
import ssh2, { type Client as SshClient, type ConnectConfig, type SFTPWrapper } from "ssh2";
import { fingerprintOf, hostKeyAlgorithmsFor, keyIsKnown, knownKeysFor } from "./sftp-known-hosts.js";

export { setKnownHosts } from "./sftp-known-hosts.js";

// ssh2 is CommonJS: Node's ESM loader sees only its default export, not named ones.
const { Client, utils } = ssh2;

/** Host-key algorithms ssh2 can verify; a known_hosts entry of another type cannot match. */
const SUPPORTED_HOST_KEYS = new Set(["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa", "ssh-dss"]);

/** SFTP status codes (draft-ietf-secsh-filexfer-02) that get their own wording. */
export const SFTP_NO_SUCH_FILE = 2;
/** SSH_FX_PERMISSION_DENIED. */
export const SFTP_PERMISSION_DENIED = 3;

/** Where to connect and as whom, from an SFTP operation's payload (validated at job creation). */
export interface SftpTarget {
  host: string;
  port: number;
  username: string;
  password?: string;
  privateKey?: string;
  passphrase?: string;
}

/** How one session runs. */
export interface SftpSessionOptions {
  policy: OutboundPolicy;
  /** The code of every failure on the remote side: download_failed (import) or processing_failed (export). */
  failCode: Extract<ErrorCode, "download_failed" | "processing_failed">;
  /** Budget of the TCP connection, handshake and login, ms. */
  connectTimeoutMs: number;
  /** Budget of the whole session, transfer included, ms. */
  totalTimeoutMs: number;
  signal: AbortSignal;
}

/** The payload's connection fields; the port may be a number or numeric text (default 22). */
export function sftpTargetOf(payload: Record<string, unknown>): SftpTarget {
  const text = (field: string) => (typeof payload[field] === "string" ? (payload[field] as string) : undefined);
  const target: SftpTarget = { host: String(payload.host), port: Number(payload.port ?? 22), username: String(payload.username) };
  const password = text("password");
  const privateKey = text("private_key");
  const passphrase = text("passphrase");
  if (password !== undefined) target.password = password;
  if (privateKey !== undefined) target.privateKey = privateKey;
  if (passphrase !== undefined) target.passphrase = passphrase;
  return target;
}

/** `host:port`, brackets around an IPv6 literal: how messages name the server (never credentials). */
export function serverLabel(target: SftpTarget): string {
  return `${isIP(target.host) === 6 ? `[${target.host}]` : target.host}:${target.port}`;
}

/**
 * Connects, runs `work` on the SFTP channel, and closes the connection whatever happens.
 * `work` gets a signal that aborts on cancellation or when the session's budget runs out; the
 * session then fails with `canceled` or `engine_timeout` even if `work` ignores it.
 */
export async function withSftp<T>(target: SftpTarget, opts: SftpSessionOptions, work: (sftp: SFTPWrapper, signal: AbortSignal) => Promise<T>): Promise<{ value: T; fingerprint: string }> {
  const stop = new AbortController();
  const onAbort = () => stop.abort(opts.signal.reason ?? new AppError("canceled", "The task was canceled."));
  opts.signal.addEventListener("abort", onAbort, { once: true });
  if (opts.signal.aborted) onAbort();
  const seconds = Math.ceil(opts.totalTimeoutMs / 1000);
  const deadline = setTimeout(
    () => stop.abort(new AppError("engine_timeout", `The SFTP transfer with ${serverLabel(target)} did not finish within ${seconds} s.`)),
    opts.totalTimeoutMs,
  );
  const stopped = new Promise<never>((_, reject) => {
    if (stop.signal.aborted) reject(stop.signal.reason);
    stop.signal.addEventListener("abort", () => reject(stop.signal.reason), { once: true });
  });
  stopped.catch(() => undefined);
  const client = new Client();
  // Errors are taken by the listeners of each phase; this one keeps a late one from crashing the worker.
  client.on("error", () => undefined);
  let sock: Socket | undefined;
  try {
    const config = connectConfig(target, opts);
    sock = openSocket(target, opts.policy);
    const session = login(client, { ...config.config, sock }, target, opts, config.checkKey);
    const fingerprint = await Promise.race([session, stopped]);
    // An error of the connection (reset, server gone) fails the work instead of hanging it.
    const lost = new Promise<never>((_, reject) => {
      client.on("error", (err) => reject(connectionError(err, target, opts.failCode)));
      client.on("close", () => reject(new AppError(opts.failCode, `The SFTP server at ${serverLabel(target)} closed the connection.`, { retryable: true })));
    });
    lost.catch(() => undefined);
    const sftp = await Promise.race([openSftp(client, target, opts.failCode), stopped, lost]);
    const value = await Promise.race([work(sftp, stop.signal), stopped, lost]);
    return { value, fingerprint };
  } finally {
    clearTimeout(deadline);
    opts.signal.removeEventListener("abort", onAbort);
    if (!stop.signal.aborted) stop.abort(new AppError("canceled", "The SFTP session ended."));
    client.removeAllListeners("close");
    client.end();
    sock?.destroy();
  }
}

/**
 * The TCP connection, under the policy: host names through the guarded lookup, IP literals
 * checked here because node:net never calls `lookup` for them.
 */
function openSocket(target: SftpTarget, policy: OutboundPolicy): Socket {
  const bare = target.host.startsWith("[") && target.host.endsWith("]") ? target.host.slice(1, -1) : target.host;
  if (isIP(bare) !== 0) {
    const verdict = policy.checkAddress(bare, { hostname: bare });
    if (!verdict.allowed) throw createRefusalError(bare, verdict.rule);
  }
  return netConnect({ host: bare, port: target.port, lookup: createGuardedLookup(policy) });
}

/** ssh2's settings and the host-key check (which records the key it saw). */
function connectConfig(target: SftpTarget, opts: SftpSessionOptions): { config: ConnectConfig; checkKey: { seen: Buffer | null; refused: boolean } } {
  const checkKey = { seen: null as Buffer | null, refused: false };
  const known = knownKeysFor(target.host, target.port);
  const config: ConnectConfig = {
    username: target.username,
    readyTimeout: opts.connectTimeoutMs,
    keepaliveInterval: 15_000,
    hostVerifier: (key: Buffer) => {
      checkKey.seen = key;
      checkKey.refused = known !== null && !keyIsKnown(known, key);
      return !checkKey.refused;
    },
  };
  if (known !== null) {
    const algorithms = hostKeyAlgorithmsFor(known).filter((a) => SUPPORTED_HOST_KEYS.has(a));
    if (algorithms.length === 0) throw hostKeyRefusal(target);
    config.algorithms = { serverHostKey: algorithms as NonNullable<ConnectConfig["algorithms"]>["serverHostKey"] };
  }
  if (target.password !== undefined) {
    config.password = target.password;
    // Servers that take passwords only through keyboard-interactive (PAM) get it there too.
    config.tryKeyboard = true;
  }
  if (target.privateKey !== undefined) {
    // Parsed here so a bad key or passphrase is named as such, not as a refused login.
    const parsed = utils.parseKey(target.privateKey, target.passphrase);
    if (parsed instanceof Error) {
      const encrypted = /encrypted|passphrase|decrypt/i.test(parsed.message);
      throw new AppError(
        "invalid_payload",
        encrypted
          ? `"private_key" is encrypted and ${target.passphrase === undefined ? "no" : "a wrong"} "passphrase" was given.`
          : `"private_key" is not a private key ssh can read (OpenSSH, PEM or PuTTY format).`,
        { detail: parsed.message },
      );
    }
    config.privateKey = target.privateKey;
    if (target.passphrase !== undefined) config.passphrase = target.passphrase;
  }
  return { config, checkKey };
}

function hostKeyRefusal(target: SftpTarget): AppError {
  return new AppError("outbound_refused", `Refused to connect to ${serverLabel(target)}: the SFTP server's host key is not among the known hosts.`, {
    detail: "Add the server's key to the file named by TRANSMUTE_SFTP_KNOWN_HOSTS (ssh-keyscan -p PORT HOST), or unset it to trust keys on use.",
  });
}

/** Connects and logs in; resolves with the host key's fingerprint. */
function login(client: SshClient, config: ConnectConfig, target: SftpTarget, opts: SftpSessionOptions, checkKey: { seen: Buffer | null; refused: boolean }): Promise<string> {
  return new Promise((resolve, reject) => {
    const fail = (err: unknown) => {
      client.removeListener("ready", onReady);
      reject(err);
    };
    const onReady = () => {
      client.removeListener("error", onError);
      client.removeListener("close", onClose);
      resolve(fingerprintOf(checkKey.seen ?? Buffer.alloc(0)));
    };
    const onError = (err: Error & { level?: string }) => {
      if (checkKey.refused) return fail(hostKeyRefusal(target));
      if (err.level === "client-authentication") return fail(new AppError(opts.failCode, "The SFTP server refused the username or credentials.", { detail: `${serverLabel(target)}: ${err.message}` }));
      if (err.level === "client-timeout") {
        return fail(new AppError("engine_timeout", `The SFTP server at ${serverLabel(target)} did not complete the connection and login within ${Math.ceil(opts.connectTimeoutMs / 1000)} s.`, { retryable: true }));
      }
      fail(connectionError(err, target, opts.failCode));
    };
    const onClose = () => fail(new AppError(opts.failCode, `The SFTP server at ${serverLabel(target)} closed the connection during the login.`, { retryable: true }));
    client.once("ready", onReady);
    client.once("error", onError);
    client.once("close", onClose);
    client.on("keyboard-interactive", (_name, _instructions, _lang, prompts, finish) => finish(prompts.map(() => target.password ?? "")));
    client.connect(config);
  });
}

function openSftp(client: SshClient, target: SftpTarget, failCode: SftpSessionOptions["failCode"]): Promise<SFTPWrapper> {
  return new Promise((resolve, reject) => {
    client.sftp((err, sftp) => {
      if (err) reject(new AppError(failCode, `The server at ${serverLabel(target)} offers no SFTP service to this user.`, { detail: err.message }));
      else resolve(sftp);
    });
  });
}

/** A network or SSH protocol error as a message that names the server, never credentials. */
function connectionError(err: unknown, target: SftpTarget, failCode: SftpSessionOptions["failCode"]): AppError {
  if (isAppError(err)) return err;
  const e = err as NodeJS.ErrnoException & { level?: string };
  const code = typeof e?.code === "string" ? e.code : "";
  const label = serverLabel(target);
  const make = (text: string, retryable: boolean) => new AppError(failCode, text, { retryable, cause: err, detail: `${code || e?.level || "error"}: ${e?.message ?? String(err)}` });
  switch (code) {
    case "ENOTFOUND":
    case "ENODATA":
      return make(`Could not resolve the SFTP host ${target.host}: no such name.`, false);
    case "EAI_AGAIN":
      return make(`Could not resolve the SFTP host ${target.host}: temporary DNS failure.`, true);
    case "ECONNREFUSED":
      return make(`The connection to the SFTP server at ${label} was refused.`, true);
    case "ECONNRESET":
    case "EPIPE":
      return make(`The connection to the SFTP server at ${label} was reset.`, true);
    case "ETIMEDOUT":
    case "ENETUNREACH":
    case "EHOSTUNREACH":
    case "EHOSTDOWN":
    case "ENETDOWN":
    case "EADDRNOTAVAIL":
      return make(`Could not reach the SFTP server at ${label} (${code}).`, true);
  }
  return make(`The SSH connection to ${label} failed (is it an SSH server?).`, false);
}

/** The SFTP status code of an error from the channel, or undefined. */
export function sftpStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
}
