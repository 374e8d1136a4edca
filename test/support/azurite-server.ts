/**
 * A real Azure Blob Storage emulator for tests: Azurite's blob service (the `azurite` package,
 * run as a child process with node) on a free loopback port, its data in a temp directory, with
 * one account of a random key. Every request it logs is recorded ("PUT /account/container/blob
 * ?comp=block... 201"), so a test can see what the client sent (staged blocks, for one). `close`
 * stops the process (SIGTERM, then SIGKILL) and removes the directory.
 *
 * Flags, and why:
 * - --disableTelemetry: Azurite sends usage telemetry to Application Insights by default (DNS
 *   lookups of *.applicationinsights.azure.com were seen). Checked with
 *   `strace -f -e trace=connect` on this version (3.35): with the flag the process makes no
 *   connect() at all besides accepting loopback clients; without it, a DNS query goes out at start.
 * - --skipApiVersionCheck: @azure/storage-blob 12.32 sends x-ms-version 2026-04-06, newer than
 *   the 2025-11-05 Azurite 3.35 knows, which it would refuse (400 InvalidHeaderValue). The
 *   operations used here (blob get/list/stage/commit, SAS) are unchanged between those versions.
 * - not --loose: unsupported headers and parameters are refused, as Azure would.
 *
 * What Azurite covers and what it does not, versus real Azure:
 * - it checks Shared Key signatures (a wrong account key is refused, 403 AuthorizationFailure)
 *   and SAS signatures, expiry and permissions (unlike s3rver, which ignores S3 signatures);
 * - it is addressed path-style (http://127.0.0.1:port/<account>), not by host name
 *   (<account>.blob.core.windows.net), and over plain HTTP here, so TLS and DNS of the real
 *   service are not exercised;
 * - no Microsoft Entra ID (OAuth) tokens unless --oauth is given, no firewall/IP rules, no
 *   "key based authentication not permitted" account setting, no throttling (503 ServerBusy),
 *   no redirects, no geo-secondary, no blob tiers/immutability policies;
 * - uncommitted blocks of a failed upload are kept until Azurite's own GC, not Azure's 7 days.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";

const AZURITE_BLOB = fileURLToPath(new URL("../../node_modules/azurite/dist/src/blob/main.js", import.meta.url));

/** A running Azurite blob service. */
export interface TestAzurite {
  /** The account's service URL, path-style: http://127.0.0.1:port/<account>. */
  endpoint: string;
  account: string;
  /** The account key (base64). */
  accountKey: string;
  /** Requests received, in order: "PUT /account/container/blob?comp=block&blockid=... 201". */
  requests: string[];
  /** A client of this account (shared key), made without the outbound policy. */
  client: BlobServiceClient;
  close(): Promise<void>;
}

/** Starts Azurite's blob service on 127.0.0.1 with `containers` created. */
export async function startAzurite(containers: string[]): Promise<TestAzurite> {
  const directory = await mkdtemp(join(tmpdir(), "transmute-azurite-"));
  const account = "transmutetest";
  const accountKey = randomBytes(32).toString("base64");
  const requests: string[] = [];
  let child: ChildProcess | undefined;
  const close = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child!.once("exit", () => resolve()));
      child.kill("SIGTERM");
      const killer = setTimeout(() => child!.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(killer);
    }
    await rm(directory, { recursive: true, force: true });
  };
  try {
    child = spawn(
      process.execPath,
      [AZURITE_BLOB, "--blobHost", "127.0.0.1", "--blobPort", "0", "--location", join(directory, "data"), "--disableTelemetry", "--skipApiVersionCheck"],
      {
        cwd: directory,
        // A clean environment: no proxy settings, and only our account (not the well-known one).
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", AZURITE_ACCOUNTS: `${account}:${accountKey}` },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const port = await new Promise<number>((resolve, reject) => {
      let out = "";
      let err = "";
      const timer = setTimeout(() => reject(new Error(`Azurite did not start within 20 s: ${out}${err}`)), 20_000);
      child!.stderr!.on("data", (chunk: Buffer) => (err += chunk.toString()));
      child!.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`Azurite exited (${code}): ${out}${err}`));
      });
      let pending = "";
      child!.stdout!.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        pending += chunk.toString();
        const lines = pending.split("\n");
        pending = lines.pop() ?? "";
        for (const line of lines) {
          const listening = /successfully listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(line);
          if (listening) {
            clearTimeout(timer);
            resolve(Number(listening[1]));
          }
          // The access log: 127.0.0.1 - - [date] "GET /path HTTP/1.1" 200 -
          const access = /"([A-Z]+) (\S+) HTTP\/[\d.]+" (\d{3})/.exec(line);
          if (access) requests.push(`${access[1]} ${access[2]} ${access[3]}`);
        }
      });
    });
    const endpoint = `http://127.0.0.1:${port}/${account}`;
    const client = new BlobServiceClient(endpoint, new StorageSharedKeyCredential(account, accountKey));
    for (const name of containers) await client.getContainerClient(name).create();
    return { endpoint, account, accountKey, requests, client, close };
  } catch (err) {
    await close();
    throw err;
  }
}
