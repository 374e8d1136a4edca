/**
 * Connector credentials never leave the task, scaled out: jobs whose S3, SFTP, Azure and Google
 * Cloud tasks carry recognisable credentials (some accepted by the peer, some refused) run on a
 * worker in another process logging at `trace`; once they ended, none of the credentials is found in any API
 * answer, any webhook delivery, any realtime event, any log line of any process, any row of any
 * table of the database or any Redis key of the cluster. While a task waits its credentials are
 * in the database only sealed (AES-256-GCM), and they are deleted when it ends.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCluster, until, type Cluster, type ServerProcess } from "../support/cluster.js";
import { connectRealtime, type RealtimeClient } from "../support/realtime-client.js";
import { ContainerSASPermissions, StorageSharedKeyCredential, generateBlobSASQueryParameters } from "@azure/storage-blob";
import { startAzurite, type TestAzurite } from "../support/azurite-server.js";
import { makeServiceAccount, startGcsServer, type ServiceAccount, type TestGcsServer } from "../support/gcs-server.js";
import { S3RVER_CREDENTIALS, startS3Server, type TestS3Server } from "../support/s3-server.js";
import { servicesAvailable } from "../support/services.js";
import { sshdAvailable, startSftpServer, type SftpServer } from "../support/sftp-server.js";
import { startReceiver, type Receiver } from "../e2e/webhook-receiver.js";
import { makeJpeg, printLogsOnFailure } from "./fixtures.js";

const available = await servicesAvailable();
const sshd = sshdAvailable();
if (!sshd.available) {
  const message = `!!! sshd not available (${sshd.missing}): SKIPPING the credential-leak test. Install openssh-server (.ci/run does).`;
  if (process.env.CI === "true") throw new Error(message);
  console.warn(message);
}

/** A credential no code of ours could print by accident: long, random, and named. */
const canary = (name: string) => `${name}-canary-${randomBytes(9).toString("base64url")}`;

describe.skipIf(!available || !sshd.available)("scaled out: connector credentials never leave the task", () => {
  let cluster: Cluster | undefined;
  let gateway: ServerProcess;
  let s3: TestS3Server;
  let azure: TestAzurite;
  let gcs: TestGcsServer;
  let account: ServiceAccount;
  let impostor: ServiceAccount;
  let azureSas: string;
  let sftp: SftpServer;
  let receiver: Receiver;
  let realtime: RealtimeClient;
  let jpeg: Buffer;
  printLogsOnFailure(() => cluster);

  const secrets = {
    // s3rver checks the access key id only: the session token rides along on an accepted request.
    sessionToken: canary("s3-session"),
    wrongKeyId: `AKIA${randomBytes(8).toString("hex").toUpperCase()}`,
    wrongSecret: canary("s3-secret"),
    wrongPassword: canary("sftp-password"),
    wrongAzureKey: randomBytes(64).toString("base64"),
  };
  /** Every credential the jobs carry, the peers' real ones included. */
  let all: string[];

  beforeAll(async () => {
    let gcsServer: TestGcsServer;
    [s3, sftp, receiver, jpeg, azure, gcsServer] = await Promise.all([startS3Server(["vault"]), startSftpServer(), startReceiver(), makeJpeg(24, 16), startAzurite(["vault"]), startGcsServer(["vault"])]);
    gcs = gcsServer;
    account = makeServiceAccount();
    gcs.addServiceAccount(account);
    // Same e-mail, another key: the token endpoint refuses its assertions.
    impostor = makeServiceAccount(account.clientEmail);
    const now = Date.now();
    azureSas = generateBlobSASQueryParameters(
      { containerName: "vault", permissions: ContainerSASPermissions.parse("rl"), startsOn: new Date(now - 3600_000), expiresOn: new Date(now + 3600_000) },
      new StorageSharedKeyCredential(azure.account, azure.accountKey),
    ).toString();
    // A key is found by one of its base64 lines (JSON text escapes the line breaks between them).
    all = [...Object.values(secrets), sftp.password, sftp.passphrase, sftp.privateKey.split("\n")[2]!, sftp.encryptedKey.split("\n")[2]!, azure.accountKey, new URLSearchParams(azureSas).get("sig")!, account.privateKey.split("\n")[2]!, impostor.privateKey.split("\n")[2]!];
    for (const line of all) expect(line.length).toBeGreaterThanOrEqual(12);
    cluster = await createCluster({ env: { LOG_LEVEL: "trace" } });
    const started = [await cluster.start("gateway", { noWait: true }), await cluster.start("worker", { noWait: true })];
    await Promise.all(started.map((p) => cluster!.waitReady(p)));
    gateway = started[0]!;
  }, 120_000);

  afterAll(async () => {
    realtime?.close();
    await cluster?.close();
    await Promise.all([s3?.close(), sftp?.stop(), receiver?.close(), azure?.close(), gcs?.close()]);
  });

  it("shows them in no answer, webhook, event, log line, table row or Redis key once the tasks ended", async () => {
    const api = gateway.api!;
    const me = await api.get("/v1/account/me");
    expect(me.status).toBe(200);
    const accountId = me.body.id;
    realtime = await connectRealtime(gateway.url!, cluster!.key);
    expect((await realtime.subscribe(`user.${accountId}.jobs`)).ok).toBe(true);
    expect((await realtime.subscribe(`user.${accountId}.tasks`)).ok).toBe(true);
    const hook = await api.post("/v1/webhooks", {
      url: `${receiver.url}/events`,
      events: ["job.created", "job.success", "job.failed", "task.completed", "task.failed"],
    });
    expect(hook.status, JSON.stringify(hook.body)).toBe(201);

    const s3Conn = { endpoint: s3.endpoint, region: "us-east-1", bucket: "vault" };
    const sftpConn = { host: sftp.host, port: sftp.port, username: sftp.username };
    const azureConn = { endpoint: azure.endpoint, storage_account: azure.account, container: "vault" };
    const gcsConn = { endpoint: gcs.endpoint, token_uri: gcs.tokenUri, project_id: "test-project", client_email: account.clientEmail, bucket: "vault" };
    const exported = await api.post("/v1/process/jobs", {
      tasks: {
        src: { operation: "import/base64", file: jpeg.toString("base64"), filename: "a.jpg" },
        toS3: { operation: "export/s3", input: "src", ...s3Conn, ...S3RVER_CREDENTIALS_FIELDS(), session_token: secrets.sessionToken, key: "in/a.jpg" },
        toSftp: { operation: "export/sftp", input: "src", ...sftpConn, private_key: sftp.encryptedKey, passphrase: sftp.passphrase, file_string: "out/a.jpg" },
        toAzure: { operation: "export/azureblob", input: "src", ...azureConn, storage_access_key: azure.accountKey, blob: "in/a.jpg" },
        toGcs: { operation: "export/googlecloud", input: "src", ...gcsConn, private_key: account.privateKey, file: "in/a.jpg" },
      },
    });
    expect(exported.status, JSON.stringify(exported.body)).toBe(201);
    const exportJob = (await api.get(`/v1/process/jobs/${exported.body.id}/wait`)).body;
    const good = await api.post("/v1/process/jobs", {
      tasks: {
        fromS3: { operation: "import/s3", ...s3Conn, ...S3RVER_CREDENTIALS_FIELDS(), session_token: secrets.sessionToken, key: "in/a.jpg" },
        conv: { operation: "convert", input: "fromS3", output_format: "png" },
        fromSftp: { operation: "import/sftp", ...sftpConn, private_key: sftp.privateKey, file_string: "out/a.jpg" },
        fromAzure: { operation: "import/azureblob", ...azureConn, sas_token: azureSas, blob: "in/a.jpg" },
        fromGcs: { operation: "import/googlecloud", ...gcsConn, private_key: account.privateKey, file: "in/a.jpg" },
      },
    });
    expect(good.status, JSON.stringify(good.body)).toBe(201);
    const goodJob = (await api.get(`/v1/process/jobs/${good.body.id}/wait`)).body;
    const bad = await api.post("/v1/process/jobs", {
      tasks: {
        s3: { operation: "import/s3", ...s3Conn, access_key_id: secrets.wrongKeyId, secret_access_key: secrets.wrongSecret, key: "in/a.jpg" },
        sftp: { operation: "import/sftp", ...sftpConn, password: secrets.wrongPassword, file_string: "out/a.jpg" },
        azure: { operation: "import/azureblob", ...azureConn, storage_access_key: secrets.wrongAzureKey, blob: "in/a.jpg" },
        gcs: { operation: "import/googlecloud", ...gcsConn, private_key: impostor.privateKey, file: "in/a.jpg" },
      },
    });
    expect(bad.status, JSON.stringify(bad.body)).toBe(201);
    const badJob = (await api.get(`/v1/process/jobs/${bad.body.id}/wait`)).body;

    // The exports ran (the peers accepted those credentials), the refused ones failed.
    const status = (job: any, name: string) => job.tasks.find((t: any) => t.name === name)?.status;
    expect(["toS3", "toSftp", "toAzure", "toGcs"].map((n) => status(exportJob, n)), JSON.stringify(exportJob)).toEqual(["completed", "completed", "completed", "completed"]);
    expect(["fromS3", "conv", "fromSftp", "fromAzure", "fromGcs"].map((n) => status(goodJob, n)), JSON.stringify(goodJob)).toEqual(["completed", "completed", "completed", "completed", "completed"]);
    expect(["s3", "sftp", "azure", "gcs"].map((n) => status(badJob, n)), JSON.stringify(badJob)).toEqual(["failed", "failed", "failed", "failed"]);
    for (const t of [...exportJob.tasks, ...goodJob.tasks, ...badJob.tasks]) {
      for (const field of ["secret_access_key", "access_key_id", "session_token", "password", "private_key", "passphrase", "storage_access_key", "sas_token"]) {
        if (t.payload?.[field] !== undefined) expect(t.payload[field], `${t.name}.${field}`).toBe("*****");
      }
    }

    // Every task ended: its sealed credentials are deleted.
    await until("the sealed credentials deleted", async () => {
      const left = await cluster!.sql(`SELECT id FROM "Task" WHERE secrets IS NOT NULL`);
      return left.length === 0;
    }, 15_000);
    await until("the webhook deliveries", async () => receiver.to("/events").length >= 4, 30_000);

    const answers = JSON.stringify([exported.body, good.body, bad.body, exportJob, goodJob, badJob, (await api.get("/v1/process/tasks?per_page=100")).body]);
    const webhooks = receiver.to("/events").map((r) => r.raw).join("\n");
    const events = JSON.stringify(realtime.events);
    const logs = cluster!.logs();
    const database = await dumpDatabase(cluster!);
    const redis = await dumpRedis(cluster!);
    // Each haystack holds what it should (so an empty one cannot pass for a clean one).
    expect(answers).toContain(good.body.id);
    expect(webhooks).toContain(bad.body.id);
    expect(events).toContain(good.body.id);
    expect(logs).toContain(good.body.id);
    expect(database).toContain("import/sftp");
    expect(redis.length).toBeGreaterThan(0);
    for (const [where, text] of Object.entries({ answers, webhooks, events, logs, database, redis })) {
      for (const secret of all) expect(text.includes(secret), `${where} contains a credential (${secret.slice(0, 12)}...)`).toBe(false);
    }
  });

  it("keeps a waiting task's credentials only sealed in the database", async () => {
    const api = gateway.api!;
    const token = canary("sealed");
    // An upload that never comes holds the export back: its credentials wait in the database.
    const res = await api.post("/v1/process/jobs", {
      tasks: {
        up: { operation: "import/upload" },
        out: { operation: "export/s3", input: "up", endpoint: s3.endpoint, region: "us-east-1", bucket: "vault", ...S3RVER_CREDENTIALS_FIELDS(), session_token: token, key: "never.bin" },
      },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const out = res.body.tasks.find((t: any) => t.name === "out");
    const [row] = await cluster!.sql<{ secrets: unknown; payload: unknown }>(`SELECT secrets, payload FROM "Task" WHERE id = $1`, [out.id]);
    expect(row!.secrets, "the sealed credentials are stored").not.toBeNull();
    expect(JSON.stringify(row)).not.toContain(token);
    expect((await api.request("DELETE", `/v1/process/jobs/${res.body.id}`)).status).toBeLessThan(300);
    await until("the deleted job's credentials gone", async () => (await cluster!.sql(`SELECT id FROM "Task" WHERE id = $1 AND secrets IS NOT NULL`, [out.id])).length === 0, 15_000);
  });
});

/** The s3rver account as payload fields. */
function S3RVER_CREDENTIALS_FIELDS() {
  return { access_key_id: S3RVER_CREDENTIALS.accessKeyId, secret_access_key: S3RVER_CREDENTIALS.secretAccessKey };
}

/** Every row of every table of the cluster's database, as JSON text. */
async function dumpDatabase(cluster: Cluster): Promise<string> {
  const tables = await cluster.sql<{ name: string }>(`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`);
  expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(["Task", "Job", "File"]));
  const parts: string[] = [];
  for (const { name } of tables) {
    const rows = await cluster.sql<{ row: string }>(`SELECT row_to_json(t)::text AS row FROM "${name}" t`);
    parts.push(`${name}: ${rows.map((r) => r.row).join("\n")}`);
  }
  return parts.join("\n");
}

/** Every value of every Redis key of the cluster's prefix (queues, events), as text. */
async function dumpRedis(cluster: Cluster): Promise<string> {
  const parts: string[] = [];
  for (const key of await cluster.redisKeys()) {
    const type = await cluster.redis.type(key);
    const value =
      type === "string" ? await cluster.redis.get(key)
      : type === "hash" ? JSON.stringify(await cluster.redis.hgetall(key))
      : type === "list" ? JSON.stringify(await cluster.redis.lrange(key, 0, -1))
      : type === "set" ? JSON.stringify(await cluster.redis.smembers(key))
      : type === "zset" ? JSON.stringify(await cluster.redis.zrange(key, 0, -1, "WITHSCORES"))
      : type === "stream" ? JSON.stringify(await cluster.redis.xrange(key, "-", "+"))
      : `(${type})`;
    parts.push(`${key} ${value}`);
  }
  return parts.join("\n");
}
