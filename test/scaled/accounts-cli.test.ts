/**
 * The account CLI (`transmute accounts ...`, `transmute keys ...`) against the database a running
 * gateway uses: in the scaled-out mode side by side with it, in the embedded mode only while the
 * server is stopped (it holds the data directory).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { childEnv, createCluster, runNode, sleep, spawnNode, until, type Cluster, type SpawnedProcess } from "../support/cluster.js";
import { apiClient, freePort } from "../support/harness.js";
import { servicesAvailable } from "../support/services.js";
import { printLogsOnFailure } from "./fixtures.js";

const available = await servicesAvailable();

/** The key id and key a `accounts create` printed. */
function parseCreated(output: string): { keyId: string; key: string } {
  const keyId = /key id\s+(\S+)/.exec(output)?.[1];
  const key = /API key\s+(\S+)/.exec(output)?.[1];
  if (!keyId || !key) throw new Error(`no key in the output:\n${output}`);
  return { keyId, key };
}

describe.skipIf(!available)("account CLI, scaled out", () => {
  let cluster: Cluster | undefined;
  printLogsOnFailure(() => cluster);

  beforeAll(async () => {
    cluster = await createCluster();
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it("makes a key the running gateway accepts, lists it, and revokes it", async () => {
    const gateway = await cluster!.start("gateway");
    const cli = (...args: string[]) => runNode(args, cluster!.env({ TRANSMUTE_DATA_DIR: join(cluster!.root, "cli") }));

    const created = await cli("accounts", "create", "--email", "ops@example.test", "--name", "Ops");
    expect(created.code, created.output).toBe(0);
    const { keyId, key } = parseCreated(created.output);
    const api = apiClient(gateway.url!, key);
    const me = await api.get("/v1/account/me");
    expect(me.status).toBe(200);
    expect(me.body.email).toBe("ops@example.test");

    const listed = await cli("keys", "list", "--email", "ops@example.test");
    expect(listed.code, listed.output).toBe(0);
    expect(listed.output).toContain(keyId);
    expect(listed.output).toContain(key.slice(0, 8));
    expect(listed.output).not.toContain(key); // the key itself is never shown again
    expect(listed.output).not.toContain("REVOKED");

    const revoked = await cli("keys", "revoke", keyId);
    const revokedAt = Date.now();
    expect(revoked.code, revoked.output).toBe(0);
    expect(revoked.output).toContain(`revoked ${keyId}`);
    expect((await cli("keys", "list")).output).toMatch(new RegExp(`${keyId}.*REVOKED`));
    expect((await cli("keys", "revoke", keyId)).code).toBe(1);

    // The gateway caches a key's account for 5 s from its last database read, which came before
    // the revoke: any request after that window is refused, without restarting the gateway.
    const windowEnds = revokedAt + 5000 + 100;
    if (Date.now() < windowEnds) await sleep(windowEnds - Date.now());
    expect((await api.get("/v1/account/me")).status).toBe(401);
  });
});

describe("account CLI, embedded", () => {
  let dataDir: string;
  let server: SpawnedProcess | null = null;
  const outputs: string[] = [];
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "transmute-cli-"));
  });
  afterEach((ctx) => {
    if (ctx.task.result?.state === "fail") console.error(outputs.join("\n"));
  });
  afterAll(async () => {
    await server?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const env = (extra: Record<string, string> = {}) => childEnv({ TRANSMUTE_DATA_DIR: dataDir, LOG_LEVEL: "warn", ...extra });
  const cli = async (...args: string[]) => {
    const run = await runNode(args, env());
    outputs.push(`$ transmute ${args.join(" ")} -> ${run.code}\n${run.output}`);
    return run;
  };
  /** Starts the embedded server on the data dir; returns its base URL. */
  const startServer = async (): Promise<string> => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const proc = spawnNode("embedded", ["all"], env({ PORT: String(port), PUBLIC_URL: url }));
    server = proc;
    await until("the embedded server", async () => {
      if (proc.hasExited()) throw new Error(`the server exited:\n${proc.output()}`);
      return (await fetch(`${url}/healthz`).catch(() => null))?.ok;
    }, 60_000);
    return url;
  };
  const stopServer = async () => {
    const proc = server!;
    await proc.stop();
    outputs.push(`----- server -----\n${proc.output()}`);
    server = null;
  };

  it("refuses while the server holds the data dir and works once it stopped", async () => {
    let url = await startServer();
    const refused = await cli("accounts", "create", "--email", "solo@example.test");
    expect(refused.code).not.toBe(0);
    expect(refused.output).toContain(`is in use by process ${server!.pid}`);
    expect(refused.output).toContain("Stop that server first");
    expect(refused.output).not.toMatch(/^\s+at /m); // a message for the operator, not a stack trace

    await stopServer();
    const created = await cli("accounts", "create", "--email", "solo@example.test");
    expect(created.code, created.output).toBe(0);
    const { keyId, key } = parseCreated(created.output);
    const listed = await cli("keys", "list");
    expect(listed.code).toBe(0);
    expect(listed.output).toContain(keyId);
    expect(listed.output).toContain("admin@localhost"); // the embedded default account's generated key

    url = await startServer();
    expect((await apiClient(url, key).get("/v1/account/me")).body.email).toBe("solo@example.test");
    await stopServer();

    const revoked = await cli("keys", "revoke", keyId);
    expect(revoked.code, revoked.output).toBe(0);
    url = await startServer();
    expect((await apiClient(url, key).get("/v1/account/me")).status).toBe(401);
  });
});
