/**
 * A throwaway OpenSSH server for the SFTP tests: Debian's sshd on a free loopback port with its
 * own host key and config, and a throwaway system user (password and key login) whose home is a
 * temp directory. Everything lives under one temp dir; `stop` kills sshd, deletes the user and
 * removes the dir. Needs root (useradd, chpasswd, sshd's privilege separation).
 */
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./harness.js";

const run = promisify(execFile);

/** Where Debian installs sshd. */
export const SSHD = "/usr/sbin/sshd";

/** A running throwaway sshd. */
export interface SftpServer {
  host: string;
  port: number;
  username: string;
  password: string;
  /** The client's private key (OpenSSH format, no passphrase), authorized for `username`. */
  privateKey: string;
  /** The same key encrypted with `passphrase`. */
  encryptedKey: string;
  passphrase: string;
  /** The user's home (the SFTP login directory), readable by the test. */
  home: string;
  /** A known_hosts line for this server's host key. */
  knownHostsLine: string;
  /** `SHA256:...` fingerprint of the host key, as ssh-keygen -l prints it. */
  hostKeyFingerprint: string;
  stop(): Promise<void>;
}

/** Whether sshd and the user tools are here (the tests run as root). */
export function sshdAvailable(): { available: boolean; missing?: string } {
  for (const tool of [SSHD, "/usr/bin/ssh-keygen", "/usr/sbin/useradd", "/usr/sbin/chpasswd", "/usr/sbin/userdel"]) {
    if (!existsSync(tool)) return { available: false, missing: `${tool} not found` };
  }
  if (process.getuid?.() !== 0) return { available: false, missing: "the tests are not running as root (useradd)" };
  return { available: true };
}

/** Starts sshd; resolves once it listens. */
export async function startSftpServer(): Promise<SftpServer> {
  const dir = await mkdtemp(join(tmpdir(), "transmute-sshd-"));
  const username = `tmsftp${randomBytes(4).toString("hex")}`;
  const password = `pw-${randomBytes(9).toString("base64url")}`;
  const passphrase = `pp-${randomBytes(9).toString("base64url")}`;
  const home = join(dir, "home");
  let child: ChildProcess | undefined;
  let userMade = false;
  const cleanup = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child!.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
    // -f: a session process still closing must not keep the throwaway user alive.
    if (userMade) await run("/usr/sbin/userdel", ["-f", username]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    // The user must reach its home and sshd (as the user) its authorized_keys; keys stay 0600.
    await chmod(dir, 0o755);
    await mkdir(home);
    await run("/usr/sbin/useradd", ["-M", "-d", home, "-s", "/bin/sh", username]);
    userMade = true;
    await chown(home, ...(await ids(username)));
    await new Promise<void>((resolve, reject) => {
      const p = spawn("/usr/sbin/chpasswd", { stdio: ["pipe", "ignore", "pipe"] });
      p.once("error", reject);
      p.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`chpasswd exited ${code}`))));
      p.stdin.end(`${username}:${password}\n`);
    });
    await run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host_key")]);
    await run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "client_key")]);
    await run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", passphrase, "-f", join(dir, "client_key_enc")]);
    const authorized = [await readFile(join(dir, "client_key.pub"), "utf8"), await readFile(join(dir, "client_key_enc.pub"), "utf8")].join("");
    await writeFile(join(dir, "authorized_keys"), authorized);
    const port = await freePort();
    const config = [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(dir, "host_key")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "PasswordAuthentication yes",
      "KbdInteractiveAuthentication no",
      "PubkeyAuthentication yes",
      "PermitRootLogin no",
      `AllowUsers ${username}`,
      "UsePAM no",
      "StrictModes no",
      "Subsystem sftp internal-sftp",
      "LogLevel INFO",
    ].join("\n");
    await writeFile(join(dir, "sshd_config"), `${config}\n`);
    // sshd refuses to start without its privilege separation directory.
    await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
    child = spawn(SSHD, ["-D", "-e", "-f", join(dir, "sshd_config")], { stdio: ["ignore", "ignore", "pipe"] });
    await listening(child);
    const hostPub = (await readFile(join(dir, "host_key.pub"), "utf8")).trim().split(/\s+/);
    const printed = (await run("/usr/bin/ssh-keygen", ["-l", "-E", "sha256", "-f", join(dir, "host_key.pub")])).stdout.split(/\s+/)[1]!;
    return {
      host: "127.0.0.1",
      port,
      username,
      password,
      privateKey: await readFile(join(dir, "client_key"), "utf8"),
      encryptedKey: await readFile(join(dir, "client_key_enc"), "utf8"),
      passphrase,
      home,
      knownHostsLine: `[127.0.0.1]:${port} ${hostPub[0]} ${hostPub[1]}`,
      hostKeyFingerprint: printed,
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

async function ids(username: string): Promise<[number, number]> {
  const out = (await run("/usr/bin/id", ["-u", username])).stdout.trim();
  const group = (await run("/usr/bin/id", ["-g", username])).stdout.trim();
  return [Number(out), Number(group)];
}

/** Resolves when sshd logs that it listens; rejects if it exits first (its stderr says why). */
function listening(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = "";
    const timer = setTimeout(() => reject(new Error(`sshd did not start within 10 s: ${log}`)), 10_000);
    child.stderr!.on("data", (chunk: Buffer) => {
      log += chunk.toString();
      if (/Server listening on/.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`sshd exited (${code}) before listening: ${log}`));
    });
  });
}
