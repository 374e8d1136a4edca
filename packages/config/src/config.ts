/** The typed configuration every process builds once at boot. */
import type { OutboundAllow } from "./parse-values.js";

/** What the process runs: everything in one process, or one side of the scaled-out mode. */
export type Role = "all" | "gateway" | "worker";

/** `embedded`: PGlite, in-process queue and events; `scaled`: Postgres and Redis shared by many processes. */
export type Mode = "embedded" | "scaled";

/** Pino's levels. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** One of pino's levels. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The whole configuration, frozen. Durations are in seconds and sizes in bytes, as their names say. */
export interface Config {
  /** What this process runs (loadConfig's `role` option, default "all"). */
  readonly role: Role;
  /** "scaled" when DATABASE_URL and REDIS_URL are set, otherwise "embedded". */
  readonly mode: Mode;
  /** PORT: TCP port to listen on (default 3000). */
  readonly port: number;
  /** HOST: address to bind (default 127.0.0.1). */
  readonly host: string;
  /** PUBLIC_URL without a trailing slash (default http://localhost:$PORT). */
  readonly publicUrl: string;
  /** TRANSMUTE_DATA_DIR, absolute (default ./data from the working directory). */
  readonly dataDir: string;
  /** TRANSMUTE_API_KEY: a key valid for the default account (default undefined: none). */
  readonly apiKey: string | undefined;
  /** TRANSMUTE_SECRET: the link-signing secret (default undefined: generated at first boot, kept in the database). */
  readonly secret: string | undefined;
  /** TRANSMUTE_OUTBOUND_ALLOW: private ranges and hosts outbound requests may reach (default none: entries []). */
  readonly outboundAllow: OutboundAllow;
  /** DATABASE_URL (default undefined: embedded PGlite under dataDir). */
  readonly databaseUrl: string | undefined;
  /** REDIS_URL (default undefined: in-process queue and events). */
  readonly redisUrl: string | undefined;
  /** TRANSMUTE_REDIS_PREFIX: prefix of Redis keys and channels (default "transmute"). */
  readonly redisPrefix: string;
  /** TRANSMUTE_QUEUE_LOCK_SECONDS: lock on a queue message, after which it is redelivered (default 30). */
  readonly queueLockSeconds: number;
  /** TRANSMUTE_STORAGE_DIR, absolute: the local-disk BlobStore root (default <dataDir>/files). */
  readonly storageDir: string;
  /** TRANSMUTE_STORAGE and TRANSMUTE_S3_*: the BlobStore driver (default { driver: "local" }). */
  readonly storage: StorageSettings;
  /** TRANSMUTE_SCRATCH_DIR, absolute (default <dataDir>/scratch). */
  readonly scratchDir: string;
  /** TRANSMUTE_WAIT_TIMEOUT_SECONDS: bound of /wait (default 240). */
  readonly waitTimeoutSeconds: number;
  /** TRANSMUTE_UPLOAD_SIZE_LIMIT in bytes (default 5368709120, 5 GiB). */
  readonly uploadSizeLimit: number;
  /** TRANSMUTE_UPLOAD_EXPIRES_SECONDS: lifetime of an upload URL (default 14400). */
  readonly uploadExpiresSeconds: number;
  /** TRANSMUTE_BASE64_BODY_LIMIT in bytes (default 67108864, 64 MiB). */
  readonly base64BodyLimit: number;
  /** TRANSMUTE_IMPORT_URL_MAX_BYTES (default uploadSizeLimit). */
  readonly importUrlMaxBytes: number;
  /** TRANSMUTE_IMPORT_URL_TIMEOUT_SECONDS (default 300). */
  readonly importUrlTimeoutSeconds: number;
  /** TRANSMUTE_WEBHOOK_TIMEOUT_SECONDS: longest webhook attempt (default 30). */
  readonly webhookTimeoutSeconds: number;
  /** TRANSMUTE_WEBHOOK_RETRY_SECONDS: wait before a failed webhook delivery is retried (default 1800). */
  readonly webhookRetrySeconds: number;
  /** TRANSMUTE_FILE_RETENTION_SECONDS: files live this long after their task's creation (default 14400). */
  readonly fileRetentionSeconds: number;
  /** TRANSMUTE_TASK_RETENTION_SECONDS: tasks and jobs live this long (default 86400). */
  readonly taskRetentionSeconds: number;
  /** TRANSMUTE_SWEEP_SECONDS: interval of the sweeper of expired files, tasks and jobs (default 60). */
  readonly sweepSeconds: number;
  /** TRANSMUTE_TRUST_PROXY: proxies whose X-Forwarded-* headers are believed, as address or CIDR strings (default none). */
  readonly trustProxy: readonly string[];
  /** TRANSMUTE_MAX_DOWNLOADS: GET downloads of one exported file before it is `overuse` (default 0: unlimited). */
  readonly maxDownloads: number;
  /** TRANSMUTE_RATE_LIMIT_READ: reading requests per API key per minute (default 6000; 0: no limit). */
  readonly rateLimitRead: number;
  /** TRANSMUTE_RATE_LIMIT_WRITE: writing requests per API key per minute (default 1200; 0: no limit). */
  readonly rateLimitWrite: number;
  /** TRANSMUTE_RATE_LIMIT_ANONYMOUS: keyless query requests per client address per minute (default 60; 0: no limit). */
  readonly rateLimitAnonymous: number;
  /** TRANSMUTE_WORKER_CONCURRENCY (default: os.availableParallelism()). */
  readonly workerConcurrency: number;
  /** TRANSMUTE_WORKER_MEMORY_MB (default 2048). */
  readonly workerMemoryMb: number;
  /** TRANSMUTE_MAX_PIXELS (default workerMemoryMb * 1048576 / 16, 134217728 for 2048 MiB). */
  readonly maxPixels: number;
  /** TRANSMUTE_TASK_TIMEOUT_SECONDS: timeout of a task that sets none (default 600). */
  readonly taskTimeoutSeconds: number;
  /** TRANSMUTE_TASK_TIMEOUT_MAX_SECONDS: largest timeout a task may ask for (default 3600). */
  readonly taskTimeoutMaxSeconds: number;
  /** TRANSMUTE_MAX_PAGES: most pages of a document an engine works on (default 1000). */
  readonly maxPages: number;
  /** TRANSMUTE_MAX_MEDIA_SECONDS: longest audio or video input (default 14400). */
  readonly maxMediaSeconds: number;
  /** Archive guards: TRANSMUTE_ARCHIVE_MAX_ENTRIES (10000), _MAX_BYTES (2 GiB), _MAX_RATIO (200), _MAX_DEPTH (3). */
  readonly archiveLimits: { readonly maxEntries: number; readonly maxBytes: number; readonly maxRatio: number; readonly maxDepth: number };
  /** The external tools: FFMPEG_PATH ("ffmpeg"), TRANSMUTE_SOFFICE_PATH ("soffice"), TRANSMUTE_CHROMIUM_PATH ("chromium"). */
  readonly tools: { readonly ffmpeg: string; readonly soffice: string; readonly chromium: string };
  /** The Filewall facade: TRANSMUTE_FILEWALL_QUOTA (0: none), _MAX_IN_PROGRESS (10), _UPLOAD_SECONDS (3600), _TOMBSTONE_SECONDS (604800). */
  readonly filewall: { readonly quota: number; readonly maxInProgress: number; readonly uploadSeconds: number; readonly tombstoneSeconds: number };
  /** TRANSMUTE_SFTP_KNOWN_HOSTS: the known_hosts file SFTP host keys must match (null: any key, recorded). */
  readonly sftpKnownHosts: string | null;
  /** TRANSMUTE_ENGINES: engine classes this worker serves (default null: every one it can run). */
  readonly engines: readonly string[] | null;
  /** TRANSMUTE_HEARTBEAT_SECONDS (default 5). */
  readonly heartbeatSeconds: number;
  /** TRANSMUTE_RECONCILE_SECONDS (default 15). */
  readonly reconcileSeconds: number;
  /** TRANSMUTE_STALE_AFTER_SECONDS: a claimed task with an older heartbeat is taken back (default 30). */
  readonly staleAfterSeconds: number;
  /** LOG_LEVEL (default "info"). */
  readonly logLevel: LogLevel;
}

/** Bytes of memory budgeted per decoded pixel: 4 bytes of RGBA for each of the input, the output and one intermediate copy, plus headroom. */
export const BYTES_PER_PIXEL = 16;

/** The image pixel cap a worker memory budget allows: memory in bytes / BYTES_PER_PIXEL. */
export function computeMaxPixels(workerMemoryMb: number): number {
  return Math.floor((workerMemoryMb * 1024 * 1024) / BYTES_PER_PIXEL);
}

/** Which BlobStore driver holds the stored files; `s3` carries the bucket and its credentials. */
export type StorageSettings =
  | { readonly driver: "local" }
  | {
      readonly driver: "s3";
      readonly bucket: string;
      /** Empty or segments ending in "/". */
      readonly prefix: string;
      readonly endpoint: string | undefined;
      readonly region: string;
      readonly accessKeyId: string;
      readonly secretAccessKey: string;
      readonly partSize: number;
    };
