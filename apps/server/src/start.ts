/**
 * The composition root: builds the drivers the configuration asks for (embedded or scaled out)
 * and starts the gateway, the worker, or both, in this process.
 */
import type { Config } from "@transmute/config";
import { applyMigrations, createDatabase, type Database, type DbLog } from "@transmute/db";
import { buildGateway } from "@transmute/gateway";
import { ensureDefaultKey, loadSigningSecret, startOutboxRelay, type EngineDeps } from "@transmute/jobs";
import { createOutboundPolicy } from "@transmute/outbound";
import { createBullQueue, createInProcessEventBus, createInProcessQueue, createRedisEventBus } from "@transmute/queue";
import { createLocalDiskStore, createS3Store, type BlobStore } from "@transmute/storage";
import { startWebhookDelivery, startWorker, type RunningWorker } from "@transmute/worker";
import type { FastifyInstance } from "fastify";
import { mkdir, readFile } from "node:fs/promises";
import { pino, type Logger } from "pino";
import { loadOrCreateApiKey } from "./api-key.js";
import { lockDataDir, type DataDirLock } from "./data-dir-lock.js";
import { createEngines } from "./engines.js";
import { setKnownHosts } from "@transmute/operations";

/** Options of startTransmute. */
export interface StartOptions {
  config: Config;
  /** Defaults to pino on stdout at the configured level. */
  logger?: Logger;
}

/** A running Transmute process. */
export interface Transmute {
  /** The address the gateway listens on (null for a worker alone). */
  url: string | null;
  /** The default account's key when this process knows it (embedded mode, or TRANSMUTE_API_KEY). */
  apiKey: string | null;
  /** Whether the embedded key was generated at this start. */
  apiKeyCreated: boolean;
  config: Config;
  engine: EngineDeps;
  db: Database;
  gateway: FastifyInstance | null;
  worker: RunningWorker | null;
  /** Closes gracefully: in-flight requests and tasks finish, connections close. */
  close(): Promise<void>;
}

/** Starts Transmute as the configuration says. */
export async function startTransmute(opts: StartOptions): Promise<Transmute> {
  const { config } = opts;
  const log = opts.logger ?? pino({ level: config.logLevel });
  const cleanups: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const fn of cleanups.reverse()) await fn().catch((err) => log.warn({ err }, "closing failed"));
    cleanups.length = 0;
  };
  try {
    let lock: DataDirLock | null = null;
    if (config.mode === "embedded") {
      lock = await lockDataDir(config.dataDir);
      cleanups.push(() => lock!.release());
    }
    await mkdir(config.storageDir, { recursive: true });
    await mkdir(config.scratchDir, { recursive: true });

    const db = await createDatabase(config.databaseUrl ? { url: config.databaseUrl, log: dbLog(log) } : { dataDir: config.dataDir, log: dbLog(log) });
    cleanups.push(() => db.close());
    const applied = await applyMigrations(db, { log: dbLog(log) });
    if (applied.length > 0) log.info({ migrations: applied }, "database migrated");

    const secret = await loadSigningSecret(db.prisma, config.secret);
    const scaled = config.mode === "scaled";
    const queue = scaled
      ? createBullQueue({ redisUrl: config.redisUrl!, prefix: config.redisPrefix, lockDurationMs: config.queueLockSeconds * 1000, stalledIntervalMs: config.queueLockSeconds * 1000 })
      : createInProcessQueue();
    cleanups.push(() => queue.close());
    const events = scaled ? createRedisEventBus({ redisUrl: config.redisUrl!, channel: `${config.redisPrefix}:events` }) : createInProcessEventBus();
    cleanups.push(() => events.close());
    const storage = await openStorage(config);
    if ("close" in storage) cleanups.push(async () => storage.close());

    const engine: EngineDeps = {
      prisma: db.prisma,
      queue,
      events,
      log,
      settings: {
        publicUrl: config.publicUrl,
        secret,
        uploadSizeLimit: config.uploadSizeLimit,
        uploadExpiresSeconds: config.uploadExpiresSeconds,
        fileRetentionSeconds: config.fileRetentionSeconds,
        staleAfterSeconds: config.staleAfterSeconds,
        maxAttempts: 3,
        taskTimeoutMaxSeconds: config.taskTimeoutMaxSeconds,
      },
    };
    const relay = startOutboxRelay(engine);
    engine.onCommit = () => relay.kick();
    cleanups.push(() => relay.close());

    let apiKey: string | null = config.apiKey ?? null;
    let apiKeyCreated = false;
    if (!apiKey && config.mode === "embedded") {
      const loaded = await loadOrCreateApiKey(config.dataDir);
      apiKey = loaded.key;
      apiKeyCreated = loaded.created;
    }
    if (apiKey) await ensureDefaultKey(db.prisma, apiKey);

    const outbound = createOutboundPolicy({ allow: config.outboundAllow.entries });
    let worker: RunningWorker | null = null;
    if (config.role !== "gateway") {
      // The SFTP host keys this worker accepts (TRANSMUTE_SFTP_KNOWN_HOSTS; unset: any, recorded).
      setKnownHosts(config.sftpKnownHosts ? await readKnownHosts(config.sftpKnownHosts) : null);
      const engines = await createEngines(config);
      cleanups.push(() => engines.close());
      worker = await startWorker({
        engine,
        storage,
        outbound,
        image: engines.image,
        compressor: engines.compressor,
        merger: engines.merger,
        converter: engines.converter,
        extractor: engines.extractor,
        browser: engines.browser,
        securer: engines.securer,
        probes: engines.probes,
        scratchBase: config.scratchDir,
        settings: {
          concurrency: config.workerConcurrency,
          engines: config.engines,
          heartbeatSeconds: config.heartbeatSeconds,
          reconcileSeconds: config.reconcileSeconds,
          maxPixels: config.maxPixels,
          taskTimeoutSeconds: config.taskTimeoutSeconds,
          taskTimeoutMaxSeconds: config.taskTimeoutMaxSeconds,
          importUrlMaxBytes: config.importUrlMaxBytes,
          importUrlTimeoutSeconds: config.importUrlTimeoutSeconds,
          maxPages: config.maxPages,
          maxMediaSeconds: config.maxMediaSeconds,
          archive: config.archiveLimits,
          taskRetentionSeconds: config.taskRetentionSeconds,
          sweepSeconds: config.sweepSeconds,
        },
      });
      cleanups.push(() => worker!.close());
      // Every worker process sends webhooks; the claim keeps two from sending the same one.
      const webhooks = startWebhookDelivery(engine, outbound, { timeoutSeconds: config.webhookTimeoutSeconds, retrySeconds: config.webhookRetrySeconds });
      cleanups.push(() => webhooks.close());
    }

    let gateway: FastifyInstance | null = null;
    let url: string | null = null;
    if (config.role !== "worker") {
      gateway = await buildGateway({
        engine,
        storage,
        logger: log,
        outbound,
        settings: {
          publicUrl: config.publicUrl,
          waitTimeoutSeconds: config.waitTimeoutSeconds,
          base64BodyLimit: config.base64BodyLimit,
          uploadSizeLimit: config.uploadSizeLimit,
          maxDownloads: config.maxDownloads,
          trustProxy: config.trustProxy,
          rateLimits: { read: config.rateLimitRead, write: config.rateLimitWrite, anonymous: config.rateLimitAnonymous },
          redis: scaled ? { url: config.redisUrl!, prefix: config.redisPrefix } : null,
          filewall: config.filewall,
        },
      });
      url = await gateway.listen({ port: config.port, host: config.host });
      cleanups.push(() => gateway!.close());
    }
    return { url, apiKey, apiKeyCreated, config, engine, db, gateway, worker, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** The database package's log function on pino. */
function dbLog(log: Logger): DbLog {
  return (level, message, fields) => log[level](fields ?? {}, message);
}

/** The operator's SFTP known_hosts file; a file that cannot be read stops the boot, naming the setting. */
async function readKnownHosts(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new Error(`TRANSMUTE_SFTP_KNOWN_HOSTS: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/**
 * The BlobStore of TRANSMUTE_STORAGE: the local disk, or an S3 bucket checked before anything
 * else uses it (a wrong bucket or key stops the boot with the reason).
 */
async function openStorage(config: Config): Promise<BlobStore | (BlobStore & { close(): void })> {
  const settings = config.storage;
  if (settings.driver === "local") return createLocalDiskStore({ root: config.storageDir });
  const store = createS3Store({
    bucket: settings.bucket,
    prefix: settings.prefix,
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    accessKeyId: settings.accessKeyId,
    secretAccessKey: settings.secretAccessKey,
    partSize: settings.partSize,
  });
  try {
    await store.probe();
  } catch (err) {
    store.close();
    throw err;
  }
  return store;
}
