/**
 * import/sftp and export/sftp against a real OpenSSH server on loopback (a throwaway sshd and
 * user, test/support/sftp-server.ts): password, key and encrypted-key logins, a round trip
 * through convert checked by decoding the file sshd's user got, several files to a directory or
 * to numbered names, and the failures: wrong password (never echoed), missing file, unwritable
 * path, a host refused by the outbound policy, and a host key outside the known hosts.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setKnownHosts } from "../../packages/operations/dist/sftp-client.js";
import { engineAvailable } from "../support/engine-tools.js";
import type { TestServer } from "../support/harness.js";
import { sshdAvailable, startSftpServer, type SftpServer } from "../support/sftp-server.js";
import { decode, eventually, expectColor, expectTaskFailed, makePng, runJob, startServer, taskOf } from "./helpers.js";

/** A small import cap and a short connect budget, so those failures are quick to reach. */
const MAX_BYTES = 100_000;
const LIMITS = { TRANSMUTE_IMPORT_URL_MAX_BYTES: String(MAX_BYTES), TRANSMUTE_IMPORT_URL_TIMEOUT_SECONDS: "2" };

const available = await engineAvailable("OpenSSH sshd (SFTP)", async () => sshdAvailable());

describe.skipIf(!available)("SFTP import and export", () => {
  let sshd: SftpServer;
  let server: TestServer;
  let closed: TestServer;

  beforeAll(async () => {
    [sshd, server, closed] = await Promise.all([startSftpServer(), startServer(LIMITS), startServer({ TRANSMUTE_OUTBOUND_ALLOW: "" })]);
    await mkdir(join(sshd.home, "in"));
    await writeFile(join(sshd.home, "in", "red.png"), await makePng(64, 48, [220, 20, 20]));
    await writeFile(join(sshd.home, "in", "blue.png"), await makePng(30, 20, [20, 20, 220]));
    await writeFile(join(sshd.home, "in", "big.bin"), randomBytes(MAX_BYTES + 1));
  });

  afterAll(async () => {
    setKnownHosts(null);
    await Promise.all([sshd?.stop(), server?.close(), closed?.close()]);
  });

  const conn = (extra: Record<string, unknown>) => ({ host: sshd.host, port: sshd.port, username: sshd.username, ...extra });

  it("imports with a password, converts, and exports with an encrypted private key", async () => {
    const { job } = await runJob(server.api, {
      fetch: { operation: "import/sftp", ...conn({ port: String(sshd.port), password: sshd.password }), file_string: "in/red.png" },
      conv: { operation: "convert", input: "fetch", output_format: "jpg" },
      send: { operation: "export/sftp", input: "conv", ...conn({ private_key: sshd.encryptedKey, passphrase: sshd.passphrase }), file_string: "out/new/red.jpg" },
    });
    expect(job.status, JSON.stringify(job.tasks)).toBe("completed");
    const fetch = taskOf(job, "fetch");
    expect(fetch.result.files).toEqual([expect.objectContaining({ filename: "red.png" })]);
    expect(fetch.result.host_key_fingerprint).toBe(sshd.hostKeyFingerprint);
    expect(taskOf(job, "send").result.uploaded).toEqual([{ path: "out/new/red.jpg", size: expect.any(Number) }]);
    const image = await decode(await readFile(join(sshd.home, "out", "new", "red.jpg")));
    expect([image.format, image.width, image.height]).toEqual(["jpeg", 64, 48]);
    expectColor(image.pixel(10, 10), [220, 20, 20]);
    // The secrets are masked in every view.
    const send = taskOf(job, "send");
    expect(send.payload.private_key).toBe("*****");
    expect(send.payload.passphrase).toBe("*****");
    expect(fetch.payload.password).toBe("*****");
  });

  it("exports several files to a directory (own names) and to one name (numbered)", async () => {
    const { job } = await runJob(server.api, {
      a: { operation: "import/sftp", ...conn({ private_key: sshd.privateKey }), file_string: `${sshd.home}/in/red.png` },
      b: { operation: "import/sftp", ...conn({ private_key: sshd.privateKey }), file_string: "in/blue.png" },
      dir: { operation: "export/sftp", input: ["a", "b"], ...conn({ password: sshd.password }), file_string: "batch/deep/" },
      named: { operation: "export/sftp", input: ["a", "b"], ...conn({ password: sshd.password }), file_string: "numbered/pic.png" },
    });
    expect(job.status, JSON.stringify(job.tasks)).toBe("completed");
    const sizes = async (...path: string[]) => {
      const image = await decode(await readFile(join(sshd.home, ...path)));
      return [image.format, image.width, image.height];
    };
    expect(await sizes("batch", "deep", "red.png")).toEqual(["png", 64, 48]);
    expect(await sizes("batch", "deep", "blue.png")).toEqual(["png", 30, 20]);
    expect(await sizes("numbered", "pic.png")).toEqual(["png", 64, 48]);
    expect(await sizes("numbered", "pic-2.png")).toEqual(["png", 30, 20]);
    expect(taskOf(job, "named").result.uploaded.map((u: any) => u.path)).toEqual(["numbered/pic.png", "numbered/pic-2.png"]);
  });

  it("a wrong password fails with download_failed and is echoed nowhere", async () => {
    const wrong = `wrong-${sshd.password}-secret`;
    const { job } = await runJob(server.api, { fetch: { operation: "import/sftp", ...conn({ password: wrong }), file_string: "in/red.png" } });
    const task = taskOf(job, "fetch");
    expectTaskFailed(task, "download_failed");
    expect(task.message).toContain("refused the username or credentials");
    expect(task.payload.password).toBe("*****");
    const view = await server.api.get(`/v1/process/tasks/${task.id}`);
    expect(view.status).toBe(200);
    for (const text of [JSON.stringify(view.body), JSON.stringify(job)]) {
      expect(text).not.toContain(wrong);
      expect(text).not.toContain(sshd.password);
    }
  });

  it("a missing file fails with download_failed naming it", async () => {
    const { job } = await runJob(server.api, { fetch: { operation: "import/sftp", ...conn({ password: sshd.password }), file_string: "in/nope.jpg" } });
    const task = taskOf(job, "fetch");
    expectTaskFailed(task, "download_failed");
    expect(task.message).toContain("no file in/nope.jpg on the SFTP server");
  });

  it("an unwritable path fails the export with processing_failed: permission denied", async () => {
    const { job } = await runJob(server.api, {
      fetch: { operation: "import/sftp", ...conn({ password: sshd.password }), file_string: "in/blue.png" },
      send: { operation: "export/sftp", input: "fetch", ...conn({ password: sshd.password }), file_string: "/etc/transmute-sftp-test.png" },
    });
    const task = taskOf(job, "send");
    expectTaskFailed(task, "processing_failed");
    expect(task.message).toContain("Could not write /etc/transmute-sftp-test.png on the SFTP server: permission denied");
  });

  it("a host refused by the outbound policy fails with outbound_refused (address or name)", async () => {
    const { job } = await runJob(closed.api, {
      ip: { operation: "import/sftp", ...conn({ password: sshd.password }), file_string: "in/red.png" },
      name: { operation: "import/sftp", ...conn({ host: "localhost", password: sshd.password }), file_string: "in/red.png" },
    });
    for (const name of ["ip", "name"]) {
      const task = taskOf(job, name);
      expectTaskFailed(task, "outbound_refused");
      expect(task.message).toMatch(/127\.0\.0\.1|::1/);
    }
  });

  it("with known hosts set, a listed key connects and any other is refused", async () => {
    try {
      setKnownHosts(`# test\n${sshd.knownHostsLine}\n`);
      const ok = await runJob(server.api, { fetch: { operation: "import/sftp", ...conn({ password: sshd.password }), file_string: "in/blue.png" } });
      expect(ok.job.status, JSON.stringify(ok.job.tasks)).toBe("completed");
      const [, type] = sshd.knownHostsLine.split(" ");
      // Another ed25519 key (32 bytes of 0x01) under the same name.
      const other = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from("ssh-ed25519"), Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, 1)]).toString("base64");
      setKnownHosts(`[127.0.0.1]:${sshd.port} ${type} ${other}\n`);
      const refused = await runJob(server.api, { fetch: { operation: "import/sftp", ...conn({ password: sshd.password }), file_string: "in/blue.png" } });
      const task = taskOf(refused.job, "fetch");
      expectTaskFailed(task, "outbound_refused");
      expect(task.message).toContain("the SFTP server's host key is not among the known hosts");
    } finally {
      setKnownHosts(null);
    }
  });

  it("a file over the import cap fails with file_too_large", async () => {
    const { job } = await runJob(server.api, { fetch: { operation: "import/sftp", ...conn({ password: sshd.password }), file_string: "in/big.bin" } });
    const task = taskOf(job, "fetch");
    expectTaskFailed(task, "file_too_large");
    expect(task.message).toContain(`limit of ${MAX_BYTES} bytes`);
  });

  it("a private key that does not parse is invalid_payload and is not echoed", async () => {
    const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-really-a-key-7f3a9c\n-----END OPENSSH PRIVATE KEY-----\n";
    const { job } = await runJob(server.api, { fetch: { operation: "import/sftp", ...conn({ private_key: key }), file_string: "in/red.png" } });
    const task = taskOf(job, "fetch");
    expectTaskFailed(task, "invalid_payload");
    expect(task.message).toContain('"private_key"');
    expect(JSON.stringify(job)).not.toContain("not-really-a-key-7f3a9c");
  });

  it("a server that never completes the handshake fails with engine_timeout, and the socket is closed", async () => {
    const sockets: Socket[] = [];
    let closedSockets = 0;
    const silent = createServer((socket) => {
      sockets.push(socket);
      socket.on("close", () => closedSockets++);
      // Reading is what lets the client's FIN be seen.
      socket.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const port = (silent.address() as { port: number }).port;
      const { job } = await runJob(server.api, { fetch: { operation: "import/sftp", ...conn({ port, password: "x" }), file_string: "in/red.png" } });
      const task = taskOf(job, "fetch");
      expectTaskFailed(task, "engine_timeout");
      expect(task.message).toContain("within 2 s");
      expect(sockets.length).toBe(1);
      await eventually(() => closedSockets === 1, 5_000, "the silent server's socket to close");
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
