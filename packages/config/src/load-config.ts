/** Builds the frozen Config from the environment, once, at boot. */
import os from "node:os";
import path from "node:path";
import { computeMaxPixels, LOG_LEVELS, type Config, type Role, type StorageSettings } from "./config.js";
import { ConfigError } from "./config-error.js";
import { EnvReader, type Env } from "./env-reader.js";
import {
  InvalidValue,
  parseCidr,
  parseBindHost,
  parseByteSize,
  parseChoice,
  parseEngineList,
  parseInteger,
  parseOutboundAllow,
  parsePublicUrl,
  parseServiceUrl,
} from "./parse-values.js";

/** Options of `loadConfig`. */
export interface LoadConfigOptions {
  /** What the process runs; `gateway` and `worker` need the shared services (default "all"). */
  role?: Role;
  /** Directory relative paths are resolved from (default process.cwd()). */
  cwd?: string;
}

const ROLES: readonly Role[] = ["all", "gateway", "worker"];
const DAY = 86_400;
const MAX_BYTES = Number.MAX_SAFE_INTEGER;

/** Parses and checks every setting; throws one ConfigError listing every problem found. */
export function loadConfig(env: Env = process.env, options: LoadConfigOptions = {}): Config {
  const role = options.role ?? "all";
  if (!ROLES.includes(role)) throw new TypeError(`loadConfig: role must be one of ${ROLES.join(", ")}, not ${String(role)}`);
  const cwd = options.cwd ?? process.cwd();
  const r = new EnvReader(env);
  r.checkUnknownNames();

  const seconds = (min: number, max: number) => (raw: string) => parseInteger(raw, min, max, "seconds");
  const port = r.get("PORT", (raw) => parseInteger(raw, 1, 65535));
  const host = r.get("HOST", parseBindHost);
  const publicUrl = r.optional("PUBLIC_URL", parsePublicUrl) ?? `http://localhost:${port}`;
  const dataDir = r.get("TRANSMUTE_DATA_DIR", (raw) => path.resolve(cwd, raw));
  const apiKey = r.optional("TRANSMUTE_API_KEY", parseApiKey);
  const secret = r.optional("TRANSMUTE_SECRET", parseSecret);
  const outboundAllow = r.optional("TRANSMUTE_OUTBOUND_ALLOW", parseOutboundAllow) ?? { entries: [], cidrs: [], hosts: [] };
  const databaseUrl = r.optional("DATABASE_URL", (raw) => parseServiceUrl(raw, ["postgres:", "postgresql:"]));
  const redisUrl = r.optional("REDIS_URL", (raw) => parseServiceUrl(raw, ["redis:", "rediss:"]));
  const redisPrefix = r.get("TRANSMUTE_REDIS_PREFIX", parseRedisPrefix);
  const queueLockSeconds = r.get("TRANSMUTE_QUEUE_LOCK_SECONDS", seconds(5, 3600));
  const storageDir = r.optional("TRANSMUTE_STORAGE_DIR", (raw) => path.resolve(cwd, raw)) ?? path.join(dataDir, "files");
  const storage = readStorage(r);
  const scratchDir = r.optional("TRANSMUTE_SCRATCH_DIR", (raw) => path.resolve(cwd, raw)) ?? path.join(dataDir, "scratch");
  const waitTimeoutSeconds = r.get("TRANSMUTE_WAIT_TIMEOUT_SECONDS", seconds(1, 3600));
  const uploadSizeLimit = r.get("TRANSMUTE_UPLOAD_SIZE_LIMIT", (raw) => parseByteSize(raw, 1, MAX_BYTES));
  const uploadExpiresSeconds = r.get("TRANSMUTE_UPLOAD_EXPIRES_SECONDS", seconds(1, 30 * DAY));
  const base64BodyLimit = r.get("TRANSMUTE_BASE64_BODY_LIMIT", (raw) => parseByteSize(raw, 1, 256 * 1024 * 1024));
  const importUrlMaxBytes = r.optional("TRANSMUTE_IMPORT_URL_MAX_BYTES", (raw) => parseByteSize(raw, 1, MAX_BYTES)) ?? uploadSizeLimit;
  const importUrlTimeoutSeconds = r.get("TRANSMUTE_IMPORT_URL_TIMEOUT_SECONDS", seconds(1, DAY));
  const webhookTimeoutSeconds = r.get("TRANSMUTE_WEBHOOK_TIMEOUT_SECONDS", seconds(1, 600));
  const webhookRetrySeconds = r.get("TRANSMUTE_WEBHOOK_RETRY_SECONDS", seconds(1, DAY));
  const fileRetentionSeconds = r.get("TRANSMUTE_FILE_RETENTION_SECONDS", seconds(1, 365 * DAY));
  const taskRetentionSeconds = r.get("TRANSMUTE_TASK_RETENTION_SECONDS", seconds(1, 365 * DAY));
  const sweepSeconds = r.get("TRANSMUTE_SWEEP_SECONDS", seconds(1, 3600));
  const trustProxy = r.optional("TRANSMUTE_TRUST_PROXY", parseProxyList) ?? [];
  const maxDownloads = r.get("TRANSMUTE_MAX_DOWNLOADS", (raw) => parseInteger(raw, 0, 1_000_000_000, "downloads"));
  const perMinute = (raw: string) => parseInteger(raw, 0, 1_000_000, "requests a minute");
  const rateLimitRead = r.get("TRANSMUTE_RATE_LIMIT_READ", perMinute);
  const rateLimitWrite = r.get("TRANSMUTE_RATE_LIMIT_WRITE", perMinute);
  const rateLimitAnonymous = r.get("TRANSMUTE_RATE_LIMIT_ANONYMOUS", perMinute);
  const workerConcurrency = r.optional("TRANSMUTE_WORKER_CONCURRENCY", (raw) => parseInteger(raw, 1, 1024)) ?? os.availableParallelism();
  const workerMemoryMb = r.get("TRANSMUTE_WORKER_MEMORY_MB", (raw) => parseInteger(raw, 128, 1024 * 1024, "MiB"));
  const maxPixels = r.optional("TRANSMUTE_MAX_PIXELS", (raw) => parseInteger(raw, 1, Number.MAX_SAFE_INTEGER, "pixels")) ?? computeMaxPixels(workerMemoryMb);
  const taskTimeoutSeconds = r.get("TRANSMUTE_TASK_TIMEOUT_SECONDS", seconds(1, DAY));
  const taskTimeoutMaxSeconds = r.get("TRANSMUTE_TASK_TIMEOUT_MAX_SECONDS", seconds(1, DAY));
  const engines = r.optional("TRANSMUTE_ENGINES", parseEngineList) ?? null;
  const maxPages = r.get("TRANSMUTE_MAX_PAGES", (raw) => parseInteger(raw, 1, 1_000_000, "pages"));
  const maxMediaSeconds = r.get("TRANSMUTE_MAX_MEDIA_SECONDS", seconds(1, 7 * DAY));
  const archiveLimits = {
    maxEntries: r.get("TRANSMUTE_ARCHIVE_MAX_ENTRIES", (raw) => parseInteger(raw, 1, 10_000_000, "entries")),
    maxBytes: r.get("TRANSMUTE_ARCHIVE_MAX_BYTES", (raw) => parseByteSize(raw, 1, MAX_BYTES)),
    maxRatio: r.get("TRANSMUTE_ARCHIVE_MAX_RATIO", (raw) => parseInteger(raw, 1, 100_000)),
    maxDepth: r.get("TRANSMUTE_ARCHIVE_MAX_DEPTH", (raw) => parseInteger(raw, 1, 32)),
  };
  const filewall = {
    quota: r.get("TRANSMUTE_FILEWALL_QUOTA", (raw) => parseInteger(raw, 0, 1_000_000_000, "files")),
    maxInProgress: r.get("TRANSMUTE_FILEWALL_MAX_IN_PROGRESS", (raw) => parseInteger(raw, 1, 100_000, "files")),
    uploadSeconds: r.get("TRANSMUTE_FILEWALL_UPLOAD_SECONDS", seconds(1, DAY)),
    tombstoneSeconds: r.get("TRANSMUTE_FILEWALL_TOMBSTONE_SECONDS", seconds(0, 365 * DAY)),
  };
  const sftpKnownHosts = r.optional("TRANSMUTE_SFTP_KNOWN_HOSTS", (raw) => path.resolve(cwd, raw.trim())) ?? null;
  const tools = {
    ffmpeg: r.get("FFMPEG_PATH", parseExecutable),
    soffice: r.get("TRANSMUTE_SOFFICE_PATH", parseExecutable),
    chromium: r.get("TRANSMUTE_CHROMIUM_PATH", parseExecutable),
  };
  const heartbeatSeconds = r.get("TRANSMUTE_HEARTBEAT_SECONDS", seconds(1, 3600));
  const reconcileSeconds = r.get("TRANSMUTE_RECONCILE_SECONDS", seconds(1, 3600));
  const staleAfterSeconds = r.get("TRANSMUTE_STALE_AFTER_SECONDS", seconds(2, DAY));
  const logLevel = r.get("LOG_LEVEL", (raw) => parseChoice(raw, LOG_LEVELS));

  checkServices(r, role, databaseUrl, redisUrl);
  checkDirectories(r, dataDir, storageDir, scratchDir);
  if (r.ok("TRANSMUTE_TASK_RETENTION_SECONDS", "TRANSMUTE_FILE_RETENTION_SECONDS") && taskRetentionSeconds < fileRetentionSeconds) {
    r.fail(
      ["TRANSMUTE_TASK_RETENTION_SECONDS", "TRANSMUTE_FILE_RETENTION_SECONDS"],
      `TRANSMUTE_TASK_RETENTION_SECONDS (${taskRetentionSeconds}) is shorter than TRANSMUTE_FILE_RETENTION_SECONDS (${fileRetentionSeconds}): deleting a task deletes its files, so raise the task retention or lower the file retention.`,
    );
  }
  if (r.ok("TRANSMUTE_TASK_TIMEOUT_SECONDS", "TRANSMUTE_TASK_TIMEOUT_MAX_SECONDS") && taskTimeoutSeconds > taskTimeoutMaxSeconds) {
    r.fail(
      ["TRANSMUTE_TASK_TIMEOUT_SECONDS", "TRANSMUTE_TASK_TIMEOUT_MAX_SECONDS"],
      `TRANSMUTE_TASK_TIMEOUT_SECONDS (${taskTimeoutSeconds}) is above TRANSMUTE_TASK_TIMEOUT_MAX_SECONDS (${taskTimeoutMaxSeconds}): lower the default timeout or raise the maximum.`,
    );
  }
  if (r.ok("TRANSMUTE_STALE_AFTER_SECONDS", "TRANSMUTE_HEARTBEAT_SECONDS") && staleAfterSeconds < 2 * heartbeatSeconds) {
    r.fail(
      ["TRANSMUTE_STALE_AFTER_SECONDS", "TRANSMUTE_HEARTBEAT_SECONDS"],
      `TRANSMUTE_STALE_AFTER_SECONDS (${staleAfterSeconds}) must be at least twice TRANSMUTE_HEARTBEAT_SECONDS (${heartbeatSeconds}), or one late heartbeat takes a healthy task away from its worker: raise it to ${2 * heartbeatSeconds} or more.`,
    );
  }
  if (r.issues.length > 0) throw new ConfigError(r.issues);

  return deepFreeze({
    role,
    mode: databaseUrl && redisUrl ? "scaled" : "embedded",
    port,
    host,
    publicUrl,
    dataDir,
    apiKey,
    secret,
    outboundAllow,
    databaseUrl,
    redisUrl,
    redisPrefix,
    queueLockSeconds,
    storageDir,
    storage,
    scratchDir,
    waitTimeoutSeconds,
    uploadSizeLimit,
    uploadExpiresSeconds,
    base64BodyLimit,
    importUrlMaxBytes,
    importUrlTimeoutSeconds,
    webhookTimeoutSeconds,
    webhookRetrySeconds,
    fileRetentionSeconds,
    taskRetentionSeconds,
    sweepSeconds,
    trustProxy,
    maxDownloads,
    rateLimitRead,
    rateLimitWrite,
    rateLimitAnonymous,
    workerConcurrency,
    workerMemoryMb,
    maxPixels,
    taskTimeoutSeconds,
    taskTimeoutMaxSeconds,
    maxPages,
    maxMediaSeconds,
    archiveLimits,
    tools,
    filewall,
    sftpKnownHosts,
    engines,
    heartbeatSeconds,
    reconcileSeconds,
    staleAfterSeconds,
    logLevel,
  } satisfies Config);
}

const STORAGE_DRIVERS = ["local", "s3"] as const;
const MIB = 1024 * 1024;

/**
 * TRANSMUTE_STORAGE and, for s3, the TRANSMUTE_S3_* settings: the bucket and both halves of the
 * credentials are required (no ambient AWS credential chain: an on-prem worker that silently
 * picked up an instance role or ~/.aws would store files where nobody configured).
 */
function readStorage(r: EnvReader): StorageSettings {
  const driver = r.get("TRANSMUTE_STORAGE", (raw) => parseChoice(raw.trim().toLowerCase(), STORAGE_DRIVERS));
  const s3Names = ["TRANSMUTE_S3_BUCKET", "TRANSMUTE_S3_PREFIX", "TRANSMUTE_S3_ENDPOINT", "TRANSMUTE_S3_ACCESS_KEY_ID", "TRANSMUTE_S3_SECRET_ACCESS_KEY"] as const;
  if (driver !== "s3") {
    const stray = s3Names.filter((name) => r.raw(name) !== undefined);
    if (stray.length > 0 && r.ok("TRANSMUTE_STORAGE")) {
      r.fail(["TRANSMUTE_STORAGE", ...stray], `${stray.join(", ")} ${stray.length > 1 ? "are" : "is"} set but TRANSMUTE_STORAGE is local: set TRANSMUTE_STORAGE=s3 to store files in the bucket, or remove ${stray.length > 1 ? "them" : "it"}.`);
    }
    return { driver: "local" };
  }
  const bucket = r.optional("TRANSMUTE_S3_BUCKET", parseBucketName);
  const prefix = r.optional("TRANSMUTE_S3_PREFIX", parseKeyPrefix) ?? "";
  const endpoint = r.optional("TRANSMUTE_S3_ENDPOINT", parsePublicUrl);
  const region = r.get("TRANSMUTE_S3_REGION", (raw) => {
    if (!/^[a-z0-9-]{1,64}$/.test(raw.trim())) throw new InvalidValue("must be a region name such as us-east-1 (lowercase letters, digits and hyphens)");
    return raw.trim();
  });
  const accessKeyId = r.optional("TRANSMUTE_S3_ACCESS_KEY_ID", (raw) => raw.trim());
  const secretAccessKey = r.optional("TRANSMUTE_S3_SECRET_ACCESS_KEY", (raw) => raw.trim());
  const partSize = r.get("TRANSMUTE_S3_PART_SIZE", (raw) => parseByteSize(raw, 5 * MIB, 5 * 1024 * MIB));
  for (const [name, value] of [["TRANSMUTE_S3_BUCKET", bucket], ["TRANSMUTE_S3_ACCESS_KEY_ID", accessKeyId], ["TRANSMUTE_S3_SECRET_ACCESS_KEY", secretAccessKey]] as const) {
    if (value === undefined && r.raw(name) === undefined) r.fail([name, "TRANSMUTE_STORAGE"], `${name} is required with TRANSMUTE_STORAGE=s3.`);
  }
  return { driver: "s3", bucket: bucket ?? "", prefix, endpoint, region, accessKeyId: accessKeyId ?? "", secretAccessKey: secretAccessKey ?? "", partSize };
}

/** An S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit. */
function parseBucketName(raw: string): string {
  const name = raw.trim();
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name)) throw new InvalidValue("must be a bucket name: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit");
  return name;
}

/** A key prefix: empty, or safe segments (letters, digits, _ . -) each followed by "/". */
function parseKeyPrefix(raw: string): string {
  const text = raw.trim();
  const prefix = text.endsWith("/") ? text : `${text}/`;
  if (!/^(?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\/){1,16}$/.test(prefix) || prefix.split("/").some((segment) => segment === "." || segment === "..")) {
    throw new InvalidValue("must be segments of letters, digits, _ . - separated by /, such as transmute/ or prod/files/");
  }
  return prefix;
}

function checkServices(r: EnvReader, role: Role, databaseUrl: string | undefined, redisUrl: string | undefined): void {
  // A bad URL was already reported; saying it is also "missing" would only confuse.
  const hasDatabase = databaseUrl !== undefined || r.raw("DATABASE_URL") !== undefined;
  const hasRedis = redisUrl !== undefined || r.raw("REDIS_URL") !== undefined;
  const needs = role === "all" ? "the scaled-out mode needs both" : `\`start:${role}\` runs the ${role} alone, which needs both`;
  if (hasDatabase && !hasRedis) {
    const fix = role === "all" ? "set REDIS_URL, or unset DATABASE_URL for the embedded mode" : "set REDIS_URL";
    r.fail(["REDIS_URL", "DATABASE_URL"], `REDIS_URL is not set but DATABASE_URL is: ${needs}; ${fix}.`);
  } else if (hasRedis && !hasDatabase) {
    const fix = role === "all" ? "set DATABASE_URL, or unset REDIS_URL for the embedded mode" : "set DATABASE_URL";
    r.fail(["DATABASE_URL", "REDIS_URL"], `DATABASE_URL is not set but REDIS_URL is: ${needs}; ${fix}.`);
  } else if (!hasDatabase && role !== "all") {
    r.fail(
      ["DATABASE_URL", "REDIS_URL"],
      `\`start:${role}\` runs the ${role} alone, which needs the shared services: set DATABASE_URL and REDIS_URL, or use \`npm start\` for the embedded mode.`,
    );
  }
}

function checkDirectories(r: EnvReader, dataDir: string, storageDir: string, scratchDir: string): void {
  if (!r.ok("TRANSMUTE_DATA_DIR", "TRANSMUTE_STORAGE_DIR", "TRANSMUTE_SCRATCH_DIR")) return;
  if (isSameOrInside(storageDir, scratchDir) || isSameOrInside(scratchDir, storageDir)) {
    r.fail(
      ["TRANSMUTE_SCRATCH_DIR", "TRANSMUTE_STORAGE_DIR"],
      `TRANSMUTE_SCRATCH_DIR (${scratchDir}) and TRANSMUTE_STORAGE_DIR (${storageDir}) overlap: scratch files would be taken for stored files or swept with them; give each its own directory.`,
    );
  }
  if (isSameOrInside(dataDir, storageDir)) {
    r.fail(
      ["TRANSMUTE_STORAGE_DIR", "TRANSMUTE_DATA_DIR"],
      `TRANSMUTE_STORAGE_DIR (${storageDir}) is TRANSMUTE_DATA_DIR (${dataDir}) or contains it, so the embedded database would sit among the stored files; use a subdirectory such as ${path.join(dataDir, "files")}.`,
    );
  }
}

/** True when `inner` is `outer` or a path below it. */
function isSameOrInside(inner: string, outer: string): boolean {
  const relative = path.relative(outer, inner);
  return relative === "" || (relative !== ".." && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative));
}

function parseRedisPrefix(raw: string): string {
  const text = raw.trim();
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(text)) throw new InvalidValue("must be 1 to 64 letters, digits, _ . or -, starting with a letter or digit");
  return text;
}

function parseApiKey(raw: string): string {
  if (!/^[\x21-\x7e]+$/.test(raw)) throw new InvalidValue("must be printable ASCII without spaces (it travels in an HTTP header)");
  if (raw.length < 16) throw new InvalidValue(`must be at least 16 characters (it has ${raw.length}); generate one with \`openssl rand -hex 24\``);
  return raw;
}

function parseSecret(raw: string): string {
  if (raw.trim() !== raw) throw new InvalidValue("has leading or trailing whitespace; remove it");
  if (raw.length < 32) throw new InvalidValue(`must be at least 32 characters (it has ${raw.length}); generate one with \`openssl rand -hex 32\`, or unset it to have one generated`);
  return raw;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** TRANSMUTE_TRUST_PROXY: addresses and CIDRs only (a host name would be resolved per request). */
function parseProxyList(raw: string): string[] {
  return raw
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0)
    .map((entry) => {
      const cidr = parseCidr(entry);
      return entry.includes("/") ? `${cidr.address}/${cidr.prefix}` : cidr.address;
    });
}

/** An executable: a bare name (looked up on PATH when run) or an absolute path. */
function parseExecutable(raw: string): string {
  const value = raw.trim();
  if (value === "") throw new InvalidValue("must be an executable name or an absolute path, not empty");
  if (value.includes("/") && !path.isAbsolute(value)) throw new InvalidValue(`must be a bare executable name or an absolute path, not the relative path "${value}"`);
  return value;
}
