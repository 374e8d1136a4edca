import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, type Config, type Env, type Role } from "../src/index.js";

const CWD = "/srv/transmute";
const SERVICES = { DATABASE_URL: "postgres://u:p@db:5432/transmute", REDIS_URL: "redis://cache:6379" };

function load(env: Env, role: Role = "all"): Config {
  return loadConfig(env, { role, cwd: CWD });
}

/** The ConfigError `env` raises; fails the test when it loads. */
function failure(env: Env, role: Role = "all"): ConfigError {
  try {
    load(env, role);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

describe("defaults", () => {
  it("gives the embedded mode from an empty environment", () => {
    expect(load({})).toEqual({
      role: "all",
      mode: "embedded",
      port: 3000,
      host: "127.0.0.1",
      publicUrl: "http://localhost:3000",
      dataDir: "/srv/transmute/data",
      apiKey: undefined,
      secret: undefined,
      outboundAllow: { entries: [], cidrs: [], hosts: [] },
      databaseUrl: undefined,
      redisUrl: undefined,
      redisPrefix: "transmute",
      queueLockSeconds: 30,
      storageDir: "/srv/transmute/data/files",
      storage: { driver: "local" },
      scratchDir: "/srv/transmute/data/scratch",
      waitTimeoutSeconds: 240,
      uploadSizeLimit: 5368709120,
      uploadExpiresSeconds: 14400,
      base64BodyLimit: 64 * 1024 * 1024,
      importUrlMaxBytes: 5368709120,
      importUrlTimeoutSeconds: 300,
      webhookTimeoutSeconds: 30,
      webhookRetrySeconds: 1800,
      fileRetentionSeconds: 14400,
      taskRetentionSeconds: 86400,
      sweepSeconds: 60,
      maxDownloads: 0,
      trustProxy: [],
      rateLimitRead: 6000,
      rateLimitWrite: 1200,
      rateLimitAnonymous: 60,
      workerConcurrency: os.availableParallelism(),
      workerMemoryMb: 2048,
      maxPixels: 134217728,
      taskTimeoutSeconds: 600,
      taskTimeoutMaxSeconds: 3600,
      maxPages: 1000,
      maxMediaSeconds: 14400,
      archiveLimits: { maxEntries: 10000, maxBytes: 2 * 2 ** 30, maxRatio: 200, maxDepth: 3 },
      tools: { ffmpeg: "ffmpeg", soffice: "soffice", chromium: "chromium" },
      filewall: { quota: 0, maxInProgress: 10, uploadSeconds: 3600, tombstoneSeconds: 604800 },
      sftpKnownHosts: null,
      engines: null,
      heartbeatSeconds: 5,
      reconcileSeconds: 15,
      staleAfterSeconds: 30,
      logLevel: "info",
    } satisfies Config);
  });

  it("reads process.env and the working directory when given nothing", () => {
    expect(loadConfig().dataDir).toBe(path.resolve("data"));
  });

  it("treats blank values as unset", () => {
    expect(load({ PORT: "", TRANSMUTE_API_KEY: "  ", DATABASE_URL: "", REDIS_URL: "" })).toMatchObject({ port: 3000, apiKey: undefined, mode: "embedded" });
  });

  it("ignores variables it does not own, NODE_ENV included", () => {
    expect(load({ NODE_ENV: "production", PATH: "/usr/bin", HOME: "/root" }).port).toBe(3000);
  });

  it("freezes the whole object", () => {
    const config = load({ TRANSMUTE_OUTBOUND_ALLOW: "10.0.0.0/8,internal.example", TRANSMUTE_ENGINES: "image" });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.outboundAllow)).toBe(true);
    expect(Object.isFrozen(config.outboundAllow.cidrs[0])).toBe(true);
    expect(Object.isFrozen(config.engines)).toBe(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
  });
});

// [environment, the fields it should produce]
const GOOD: Array<[Env, Partial<Config>]> = [
  [{ PORT: "8080" }, { port: 8080, publicUrl: "http://localhost:8080" }],
  [{ TRANSMUTE_MAX_PAGES: "20", TRANSMUTE_MAX_MEDIA_SECONDS: "60" }, { maxPages: 20, maxMediaSeconds: 60 }],
  [{ TRANSMUTE_SFTP_KNOWN_HOSTS: "/etc/transmute/known_hosts" }, { sftpKnownHosts: "/etc/transmute/known_hosts" }],
  [
    { TRANSMUTE_ARCHIVE_MAX_ENTRIES: "5", TRANSMUTE_ARCHIVE_MAX_BYTES: "10MB", TRANSMUTE_ARCHIVE_MAX_RATIO: "50", TRANSMUTE_ARCHIVE_MAX_DEPTH: "1" },
    { archiveLimits: { maxEntries: 5, maxBytes: 10_000_000, maxRatio: 50, maxDepth: 1 } },
  ],
  [{ FFMPEG_PATH: "/opt/ffmpeg/bin/ffmpeg", TRANSMUTE_SOFFICE_PATH: "soffice", TRANSMUTE_CHROMIUM_PATH: "/usr/lib/chromium/chromium" }, { tools: { ffmpeg: "/opt/ffmpeg/bin/ffmpeg", soffice: "soffice", chromium: "/usr/lib/chromium/chromium" } }],
  [{ PORT: " 65535 " }, { port: 65535 }],
  [{ HOST: "0.0.0.0" }, { host: "0.0.0.0" }],
  [{ HOST: "::" }, { host: "::" }],
  [{ HOST: "Converter.Internal" }, { host: "converter.internal" }],
  [{ PUBLIC_URL: "https://convert.example.com/" }, { publicUrl: "https://convert.example.com" }],
  [{ PUBLIC_URL: "https://example.com/transmute///", PORT: "9000" }, { publicUrl: "https://example.com/transmute", port: 9000 }],
  [{ PUBLIC_URL: "http://10.0.0.5:3000" }, { publicUrl: "http://10.0.0.5:3000" }],
  [{ TRANSMUTE_DATA_DIR: "/var/lib/transmute" }, { dataDir: "/var/lib/transmute", storageDir: "/var/lib/transmute/files", scratchDir: "/var/lib/transmute/scratch" }],
  [{ TRANSMUTE_DATA_DIR: "state" }, { dataDir: "/srv/transmute/state" }],
  [{ TRANSMUTE_STORAGE_DIR: "/mnt/shared/files", TRANSMUTE_SCRATCH_DIR: "/tmp/scratch" }, { storageDir: "/mnt/shared/files", scratchDir: "/tmp/scratch" }],
  [{ TRANSMUTE_API_KEY: "0123456789abcdef" }, { apiKey: "0123456789abcdef" }],
  [{ TRANSMUTE_SECRET: "s".repeat(32) }, { secret: "s".repeat(32) }],
  [{ TRANSMUTE_WAIT_TIMEOUT_SECONDS: "1" }, { waitTimeoutSeconds: 1 }],
  [{ TRANSMUTE_WAIT_TIMEOUT_SECONDS: "3600" }, { waitTimeoutSeconds: 3600 }],
  [{ TRANSMUTE_UPLOAD_SIZE_LIMIT: "100MB" }, { uploadSizeLimit: 100_000_000, importUrlMaxBytes: 100_000_000 }],
  [{ TRANSMUTE_UPLOAD_SIZE_LIMIT: "1GiB" }, { uploadSizeLimit: 2 ** 30 }],
  [{ TRANSMUTE_UPLOAD_SIZE_LIMIT: "1.5 gib" }, { uploadSizeLimit: 1.5 * 2 ** 30 }],
  [{ TRANSMUTE_UPLOAD_SIZE_LIMIT: "1024" }, { uploadSizeLimit: 1024 }],
  [{ TRANSMUTE_UPLOAD_SIZE_LIMIT: "10GB", TRANSMUTE_IMPORT_URL_MAX_BYTES: "1GB" }, { uploadSizeLimit: 1e10, importUrlMaxBytes: 1e9 }],
  [{ TRANSMUTE_UPLOAD_EXPIRES_SECONDS: "600" }, { uploadExpiresSeconds: 600 }],
  [{ TRANSMUTE_BASE64_BODY_LIMIT: "256MiB" }, { base64BodyLimit: 256 * 2 ** 20 }],
  [{ TRANSMUTE_IMPORT_URL_TIMEOUT_SECONDS: "30" }, { importUrlTimeoutSeconds: 30 }],
  [{ TRANSMUTE_WEBHOOK_TIMEOUT_SECONDS: "5", TRANSMUTE_WEBHOOK_RETRY_SECONDS: "2" }, { webhookTimeoutSeconds: 5, webhookRetrySeconds: 2 }],
  [{ TRANSMUTE_FILE_RETENTION_SECONDS: "60", TRANSMUTE_TASK_RETENTION_SECONDS: "60" }, { fileRetentionSeconds: 60, taskRetentionSeconds: 60 }],
  [{ TRANSMUTE_SWEEP_SECONDS: "1", TRANSMUTE_MAX_DOWNLOADS: "10" }, { sweepSeconds: 1, maxDownloads: 10 }],
  [{}, { trustProxy: [] }],
  [{ TRANSMUTE_TRUST_PROXY: "10.0.0.0/8, 127.0.0.1,FD00::/8" }, { trustProxy: ["10.0.0.0/8", "127.0.0.1", "fd00::/8"] }],
  [{ TRANSMUTE_RATE_LIMIT_READ: "0", TRANSMUTE_RATE_LIMIT_WRITE: "30", TRANSMUTE_RATE_LIMIT_ANONYMOUS: "1000000" }, { rateLimitRead: 0, rateLimitWrite: 30, rateLimitAnonymous: 1_000_000 }],
  [{ TRANSMUTE_WORKER_CONCURRENCY: "3" }, { workerConcurrency: 3 }],
  [{ TRANSMUTE_WORKER_MEMORY_MB: "512" }, { workerMemoryMb: 512, maxPixels: 512 * 65536 }],
  [{ TRANSMUTE_WORKER_MEMORY_MB: "512", TRANSMUTE_MAX_PIXELS: "1000000" }, { workerMemoryMb: 512, maxPixels: 1_000_000 }],
  [{ TRANSMUTE_TASK_TIMEOUT_SECONDS: "7200", TRANSMUTE_TASK_TIMEOUT_MAX_SECONDS: "7200" }, { taskTimeoutSeconds: 7200, taskTimeoutMaxSeconds: 7200 }],
  [{ TRANSMUTE_ENGINES: "image, io,image" }, { engines: ["image", "io"] }],
  [{ TRANSMUTE_HEARTBEAT_SECONDS: "10", TRANSMUTE_STALE_AFTER_SECONDS: "20", TRANSMUTE_RECONCILE_SECONDS: "60" }, { heartbeatSeconds: 10, staleAfterSeconds: 20, reconcileSeconds: 60 }],
  [{ LOG_LEVEL: "DEBUG" }, { logLevel: "debug" }],
  [{ LOG_LEVEL: "silent" }, { logLevel: "silent" }],
  [
    { TRANSMUTE_OUTBOUND_ALLOW: " 10.0.0.0/8, FD00::/8 ,192.168.1.5, Minio.Internal., localhost,,*.Corp.Example,my_service,localhost" },
    {
      outboundAllow: {
        entries: ["10.0.0.0/8", "fd00::/8", "192.168.1.5", "minio.internal", "localhost", "*.corp.example", "my_service"],
        cidrs: [
          { address: "10.0.0.0", prefix: 8, family: 4 },
          { address: "fd00::", prefix: 8, family: 6 },
          { address: "192.168.1.5", prefix: 32, family: 4 },
        ],
        hosts: ["minio.internal", "localhost", "*.corp.example", "my_service"],
      },
    },
  ],
  [{ TRANSMUTE_REDIS_PREFIX: "staging-2" }, { redisPrefix: "staging-2" }],
  [{ TRANSMUTE_QUEUE_LOCK_SECONDS: "120" }, { queueLockSeconds: 120 }],
  [SERVICES, { mode: "scaled", databaseUrl: SERVICES.DATABASE_URL, redisUrl: SERVICES.REDIS_URL }],
  [{ DATABASE_URL: "postgresql://db/x", REDIS_URL: "rediss://cache:6380/2" }, { mode: "scaled" }],
];

describe("good values", () => {
  it.each(GOOD)("%j", (env, expected) => {
    expect(load(env)).toMatchObject(expected);
  });
});

// [environment, the variable the message must start with, a fragment of the fix]
const BAD: Array<[Env, string, string]> = [
  [{ TRANSMUTE_MAX_PAGES: "0" }, "TRANSMUTE_MAX_PAGES", "from 1 to"],
  [{ TRANSMUTE_ARCHIVE_MAX_DEPTH: "40" }, "TRANSMUTE_ARCHIVE_MAX_DEPTH", "from 1 to 32"],
  [{ FFMPEG_PATH: "bin/ffmpeg" }, "FFMPEG_PATH", "absolute path"],
  [{ PORT: "0" }, "PORT", "from 1 to 65535"],
  [{ PORT: "65536" }, "PORT", "from 1 to 65535"],
  [{ PORT: "80a" }, "PORT", "whole number"],
  [{ PORT: "-1" }, "PORT", "whole number"],
  [{ PORT: "3e3" }, "PORT", "whole number"],
  [{ HOST: "my host" }, "HOST", "IP address"],
  [{ HOST: "exa mple.com" }, "HOST", "host name"],
  [{ HOST: "-bad.example" }, "HOST", "host name"],
  [{ PUBLIC_URL: "convert.example.com" }, "PUBLIC_URL", "absolute http:// or https:// URL"],
  [{ PUBLIC_URL: "/relative" }, "PUBLIC_URL", "absolute"],
  [{ PUBLIC_URL: "ftp://example.com" }, "PUBLIC_URL", "http:// or https://"],
  [{ PUBLIC_URL: "https://user:pw@example.com" }, "PUBLIC_URL", "user name or password"],
  [{ PUBLIC_URL: "https://example.com/?a=1" }, "PUBLIC_URL", "query"],
  [{ TRANSMUTE_API_KEY: "short" }, "TRANSMUTE_API_KEY", "at least 16 characters"],
  [{ TRANSMUTE_API_KEY: "0123456789 abcdef" }, "TRANSMUTE_API_KEY", "without spaces"],
  [{ TRANSMUTE_SECRET: "s".repeat(31) }, "TRANSMUTE_SECRET", "at least 32 characters"],
  [{ TRANSMUTE_SECRET: ` ${"s".repeat(40)}` }, "TRANSMUTE_SECRET", "whitespace"],
  [{ TRANSMUTE_OUTBOUND_ALLOW: "10.0.0.0/33" }, "TRANSMUTE_OUTBOUND_ALLOW", "/0 to /32"],
  [{ TRANSMUTE_OUTBOUND_ALLOW: "fd00::/129" }, "TRANSMUTE_OUTBOUND_ALLOW", "/0 to /128"],
  [{ TRANSMUTE_OUTBOUND_ALLOW: "10.0.0/8" }, "TRANSMUTE_OUTBOUND_ALLOW", "not a CIDR"],
  [{ TRANSMUTE_OUTBOUND_ALLOW: "300.1.1.1" }, "TRANSMUTE_OUTBOUND_ALLOW", "not a CIDR"],
  [{ TRANSMUTE_OUTBOUND_ALLOW: "10.0.0.0/8/1" }, "TRANSMUTE_OUTBOUND_ALLOW", "not a CIDR"],
  [{ TRANSMUTE_OUTBOUND_ALLOW: "10.0.0.0/x" }, "TRANSMUTE_OUTBOUND_ALLOW", "prefix length"],
  [{ TRANSMUTE_OUTBOUND_ALLOW: "http://minio" }, "TRANSMUTE_OUTBOUND_ALLOW", "not a CIDR"],
  [{ TRANSMUTE_OUTBOUND_ALLOW: "bad host" }, "TRANSMUTE_OUTBOUND_ALLOW", "not a host name"],
  [{ TRANSMUTE_OUTBOUND_ALLOW: "*.*.example" }, "TRANSMUTE_OUTBOUND_ALLOW", "not a host name"],
  [{ TRANSMUTE_OUTBOUND_ALLOW: "-minio" }, "TRANSMUTE_OUTBOUND_ALLOW", "not a host name"],
  [{ TRANSMUTE_REDIS_PREFIX: "a:b" }, "TRANSMUTE_REDIS_PREFIX", "1 to 64 letters"],
  [{ TRANSMUTE_QUEUE_LOCK_SECONDS: "1" }, "TRANSMUTE_QUEUE_LOCK_SECONDS", "from 5 to 3600"],
  [{ DATABASE_URL: "mysql://db/x", REDIS_URL: "redis://r" }, "DATABASE_URL", "postgres:// or postgresql://"],
  [{ DATABASE_URL: "not a url", REDIS_URL: "redis://r" }, "DATABASE_URL", "postgres://"],
  [{ DATABASE_URL: "postgres://db/x", REDIS_URL: "http://cache" }, "REDIS_URL", "redis:// or rediss://"],
  [{ TRANSMUTE_WAIT_TIMEOUT_SECONDS: "0" }, "TRANSMUTE_WAIT_TIMEOUT_SECONDS", "from 1 to 3600"],
  [{ TRANSMUTE_WAIT_TIMEOUT_SECONDS: "3601" }, "TRANSMUTE_WAIT_TIMEOUT_SECONDS", "from 1 to 3600"],
  [{ TRANSMUTE_WAIT_TIMEOUT_SECONDS: "1.5" }, "TRANSMUTE_WAIT_TIMEOUT_SECONDS", "whole number of seconds"],
  [{ TRANSMUTE_UPLOAD_SIZE_LIMIT: "5 gigs" }, "TRANSMUTE_UPLOAD_SIZE_LIMIT", "KiB, MiB, GiB"],
  [{ TRANSMUTE_UPLOAD_SIZE_LIMIT: "0" }, "TRANSMUTE_UPLOAD_SIZE_LIMIT", "from 1 to"],
  [{ TRANSMUTE_UPLOAD_SIZE_LIMIT: "1.5" }, "TRANSMUTE_UPLOAD_SIZE_LIMIT", "whole number of bytes"],
  [{ TRANSMUTE_UPLOAD_SIZE_LIMIT: "-5MB" }, "TRANSMUTE_UPLOAD_SIZE_LIMIT", "such as 100MB"],
  [{ TRANSMUTE_UPLOAD_SIZE_LIMIT: "99999999TiB" }, "TRANSMUTE_UPLOAD_SIZE_LIMIT", "from 1 to"],
  [{ TRANSMUTE_UPLOAD_EXPIRES_SECONDS: "0" }, "TRANSMUTE_UPLOAD_EXPIRES_SECONDS", "from 1 to 2592000"],
  [{ TRANSMUTE_BASE64_BODY_LIMIT: "1GiB" }, "TRANSMUTE_BASE64_BODY_LIMIT", "to 268435456 bytes"],
  [{ TRANSMUTE_IMPORT_URL_MAX_BYTES: "lots" }, "TRANSMUTE_IMPORT_URL_MAX_BYTES", "such as 100MB"],
  [{ TRANSMUTE_IMPORT_URL_TIMEOUT_SECONDS: "0" }, "TRANSMUTE_IMPORT_URL_TIMEOUT_SECONDS", "from 1 to 86400"],
  [{ TRANSMUTE_WEBHOOK_TIMEOUT_SECONDS: "601" }, "TRANSMUTE_WEBHOOK_TIMEOUT_SECONDS", "from 1 to 600"],
  [{ TRANSMUTE_WEBHOOK_RETRY_SECONDS: "0" }, "TRANSMUTE_WEBHOOK_RETRY_SECONDS", "from 1 to 86400"],
  [{ TRANSMUTE_FILE_RETENTION_SECONDS: "4h" }, "TRANSMUTE_FILE_RETENTION_SECONDS", "whole number of seconds"],
  [{ TRANSMUTE_TASK_RETENTION_SECONDS: "0" }, "TRANSMUTE_TASK_RETENTION_SECONDS", "from 1 to"],
  [{ TRANSMUTE_SWEEP_SECONDS: "0" }, "TRANSMUTE_SWEEP_SECONDS", "from 1 to 3600"],
  [{ TRANSMUTE_MAX_DOWNLOADS: "-1" }, "TRANSMUTE_MAX_DOWNLOADS", "whole number of downloads"],
  [{ TRANSMUTE_TRUST_PROXY: "proxy.internal" }, "TRANSMUTE_TRUST_PROXY", "is not a CIDR"],
  [{ TRANSMUTE_RATE_LIMIT_READ: "lots" }, "TRANSMUTE_RATE_LIMIT_READ", "requests a minute from 0 to 1000000"],
  [{ TRANSMUTE_WORKER_CONCURRENCY: "0" }, "TRANSMUTE_WORKER_CONCURRENCY", "from 1 to 1024"],
  [{ TRANSMUTE_WORKER_MEMORY_MB: "64" }, "TRANSMUTE_WORKER_MEMORY_MB", "from 128 to"],
  [{ TRANSMUTE_MAX_PIXELS: "0" }, "TRANSMUTE_MAX_PIXELS", "whole number of pixels"],
  [{ TRANSMUTE_TASK_TIMEOUT_SECONDS: "0" }, "TRANSMUTE_TASK_TIMEOUT_SECONDS", "from 1 to 86400"],
  [{ TRANSMUTE_TASK_TIMEOUT_MAX_SECONDS: "86401" }, "TRANSMUTE_TASK_TIMEOUT_MAX_SECONDS", "from 1 to 86400"],
  [{ TRANSMUTE_ENGINES: "Image" }, "TRANSMUTE_ENGINES", "not an engine class name"],
  [{ TRANSMUTE_ENGINES: " , " }, "TRANSMUTE_ENGINES", "at least one engine class"],
  [{ TRANSMUTE_HEARTBEAT_SECONDS: "0" }, "TRANSMUTE_HEARTBEAT_SECONDS", "from 1 to 3600"],
  [{ TRANSMUTE_RECONCILE_SECONDS: "soon" }, "TRANSMUTE_RECONCILE_SECONDS", "whole number of seconds"],
  [{ TRANSMUTE_STALE_AFTER_SECONDS: "1" }, "TRANSMUTE_STALE_AFTER_SECONDS", "from 2 to"],
  [{ LOG_LEVEL: "verbose" }, "LOG_LEVEL", "one of fatal, error, warn, info, debug, trace, silent"],
  // Impossible combinations.
  [{ TRANSMUTE_FILE_RETENTION_SECONDS: "86400", TRANSMUTE_TASK_RETENTION_SECONDS: "3600" }, "TRANSMUTE_TASK_RETENTION_SECONDS", "raise the task retention"],
  [{ TRANSMUTE_TASK_TIMEOUT_SECONDS: "4000" }, "TRANSMUTE_TASK_TIMEOUT_SECONDS", "above TRANSMUTE_TASK_TIMEOUT_MAX_SECONDS (3600)"],
  [{ TRANSMUTE_HEARTBEAT_SECONDS: "20" }, "TRANSMUTE_STALE_AFTER_SECONDS", "at least twice TRANSMUTE_HEARTBEAT_SECONDS (20)"],
  [{ TRANSMUTE_STORAGE_DIR: "/data/x", TRANSMUTE_SCRATCH_DIR: "/data/x" }, "TRANSMUTE_SCRATCH_DIR", "overlap"],
  [{ TRANSMUTE_STORAGE_DIR: "/data/x", TRANSMUTE_SCRATCH_DIR: "/data/x/tmp" }, "TRANSMUTE_SCRATCH_DIR", "overlap"],
  [{ TRANSMUTE_STORAGE_DIR: "/data/x/files", TRANSMUTE_SCRATCH_DIR: "/data/x" }, "TRANSMUTE_SCRATCH_DIR", "overlap"],
  [{ TRANSMUTE_DATA_DIR: "/data", TRANSMUTE_STORAGE_DIR: "/data", TRANSMUTE_SCRATCH_DIR: "/scratch" }, "TRANSMUTE_STORAGE_DIR", "use a subdirectory such as /data/files"],
  [{ TRANSMUTE_DATA_DIR: "/data/t", TRANSMUTE_STORAGE_DIR: "/data", TRANSMUTE_SCRATCH_DIR: "/scratch" }, "TRANSMUTE_STORAGE_DIR", "or contains it"],
  [{ TRANSMUTE_STORAGE_DIR: "/data/..x", TRANSMUTE_SCRATCH_DIR: "/data" }, "TRANSMUTE_SCRATCH_DIR", "overlap"],
  [{ DATABASE_URL: SERVICES.DATABASE_URL }, "REDIS_URL", "set REDIS_URL, or unset DATABASE_URL"],
  [{ REDIS_URL: SERVICES.REDIS_URL }, "DATABASE_URL", "set DATABASE_URL, or unset REDIS_URL"],
  // Typos of TRANSMUTE_* names.
  [{ TRANSMUTE_UPLOAD_SIZE_LIMT: "1GB" }, "TRANSMUTE_UPLOAD_SIZE_LIMT", "Did you mean TRANSMUTE_UPLOAD_SIZE_LIMIT?"],
  [{ TRANSMUTE_PORT: "80" }, "TRANSMUTE_PORT", "Known: TRANSMUTE_DATA_DIR, TRANSMUTE_API_KEY"],
];

describe("bad values", () => {
  it.each(BAD)("%j is refused naming %s", (env, variable, fix) => {
    const error = failure(env);
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]!.variables[0]).toBe(variable);
    expect(error.issues[0]!.message.startsWith(variable)).toBe(true);
    expect(error.issues[0]!.message).toContain(fix);
    expect(error.message).toContain(error.issues[0]!.message);
  });
});

describe("roles and services", () => {
  it.each(["gateway", "worker"] as const)("%s needs both shared services", (role) => {
    const error = failure({}, role);
    expect(error.issues.map((i) => i.message)).toEqual([
      `\`start:${role}\` runs the ${role} alone, which needs the shared services: set DATABASE_URL and REDIS_URL, or use \`npm start\` for the embedded mode.`,
    ]);
  });

  it.each(["gateway", "worker"] as const)("%s with only one service names the missing one", (role) => {
    expect(failure({ DATABASE_URL: SERVICES.DATABASE_URL }, role).issues[0]!.message).toBe(
      `REDIS_URL is not set but DATABASE_URL is: \`start:${role}\` runs the ${role} alone, which needs both; set REDIS_URL.`,
    );
    expect(failure({ REDIS_URL: SERVICES.REDIS_URL }, role).issues[0]!.message).toBe(
      `DATABASE_URL is not set but REDIS_URL is: \`start:${role}\` runs the ${role} alone, which needs both; set DATABASE_URL.`,
    );
  });

  it.each(["all", "gateway", "worker"] as const)("%s runs scaled with both services", (role) => {
    expect(load(SERVICES, role)).toMatchObject({ role, mode: "scaled" });
  });

  it("refuses an unknown role as a programming error", () => {
    expect(() => loadConfig({}, { role: "both" as Role })).toThrow(TypeError);
  });
});

describe("error reporting", () => {
  it("allows directories whose names merely start with dots", () => {
    expect(load({ TRANSMUTE_STORAGE_DIR: "/data/..files", TRANSMUTE_SCRATCH_DIR: "/data/.scratch" }).storageDir).toBe("/data/..files");
  });

  it("lists every problem at once, in one message", () => {
    const error = failure({ PORT: "x", LOG_LEVEL: "loud", TRANSMUTE_FOO: "1" });
    expect(error.issues.map((i) => i.variables[0])).toEqual(["TRANSMUTE_FOO", "PORT", "LOG_LEVEL"]);
    expect(error.message).toMatch(/^Invalid configuration \(3 problems\):\n {2}- TRANSMUTE_FOO/);
  });

  it("does not pile a combination error on a value that already failed", () => {
    // A bad heartbeat is not also "too close to the stale-after time"; a bad DATABASE_URL is not also "missing".
    const error = failure({ TRANSMUTE_HEARTBEAT_SECONDS: "zero", DATABASE_URL: "mysql://x", REDIS_URL: "redis://r" }, "gateway");
    expect(error.issues.map((i) => i.variables[0])).toEqual(["DATABASE_URL", "TRANSMUTE_HEARTBEAT_SECONDS"]);
  });

  it.each([
    ["TRANSMUTE_API_KEY", "tooShortKey!"],
    ["TRANSMUTE_SECRET", "tooShortSecret"],
    ["DATABASE_URL", "mysql://root:hunter2@db/x"],
  ])("never echoes the value of %s", (name, value) => {
    const error = failure({ ...SERVICES, [name]: value });
    expect(error.message).toContain(name);
    expect(error.message).not.toContain(value);
    expect(error.message).toContain("(value hidden)");
  });

  it("echoes ordinary values so the operator sees what was read", () => {
    expect(failure({ PORT: "80a" }).message).toContain('PORT="80a"');
  });
});

describe("file storage", () => {
  const S3 = { TRANSMUTE_STORAGE: "s3", TRANSMUTE_S3_BUCKET: "files", TRANSMUTE_S3_ACCESS_KEY_ID: "AKIAEXAMPLE", TRANSMUTE_S3_SECRET_ACCESS_KEY: "s3cr3t-value" };

  it("is the local disk by default", () => {
    expect(load({}).storage).toEqual({ driver: "local" });
  });

  it("reads the S3 store's settings, with defaults for region, prefix and part size", () => {
    expect(load(S3).storage).toEqual({
      driver: "s3",
      bucket: "files",
      prefix: "",
      endpoint: undefined,
      region: "us-east-1",
      accessKeyId: "AKIAEXAMPLE",
      secretAccessKey: "s3cr3t-value",
      partSize: 8 * 1024 * 1024,
    });
    const custom = load({ ...S3, TRANSMUTE_STORAGE: "S3", TRANSMUTE_S3_PREFIX: "prod/files", TRANSMUTE_S3_ENDPOINT: "http://minio:9000/", TRANSMUTE_S3_REGION: "eu-west-3", TRANSMUTE_S3_PART_SIZE: "16MiB" }).storage;
    expect(custom).toMatchObject({ prefix: "prod/files/", endpoint: "http://minio:9000", region: "eu-west-3", partSize: 16 * 1024 * 1024 });
  });

  it("needs the bucket and both halves of the credentials, and says which are missing", () => {
    const error = failure({ TRANSMUTE_STORAGE: "s3", TRANSMUTE_S3_ACCESS_KEY_ID: "AKIAEXAMPLE" });
    expect(error.issues.map((i) => i.variables[0])).toEqual(["TRANSMUTE_S3_BUCKET", "TRANSMUTE_S3_SECRET_ACCESS_KEY"]);
    expect(error.message).toContain("TRANSMUTE_S3_BUCKET is required with TRANSMUTE_STORAGE=s3");
  });

  it.each([
    [{ TRANSMUTE_STORAGE: "gcs" }, "TRANSMUTE_STORAGE"],
    [{ TRANSMUTE_S3_BUCKET: "Bad_Bucket" }, "TRANSMUTE_S3_BUCKET"],
    [{ TRANSMUTE_S3_PREFIX: "../up" }, "TRANSMUTE_S3_PREFIX"],
    [{ TRANSMUTE_S3_ENDPOINT: "ftp://minio" }, "TRANSMUTE_S3_ENDPOINT"],
    [{ TRANSMUTE_S3_PART_SIZE: "1MiB" }, "TRANSMUTE_S3_PART_SIZE"],
    [{ TRANSMUTE_S3_REGION: "EU West" }, "TRANSMUTE_S3_REGION"],
  ])("refuses %j", (env, variable) => {
    const error = failure({ ...S3, ...env });
    expect(error.issues.map((i) => i.variables[0])).toEqual([variable]);
  });

  it("refuses S3 settings without TRANSMUTE_STORAGE=s3 rather than ignoring them", () => {
    const error = failure({ TRANSMUTE_S3_BUCKET: "files", TRANSMUTE_S3_ENDPOINT: "http://minio:9000" });
    expect(error.issues).toHaveLength(1);
    expect(error.message).toContain("TRANSMUTE_S3_BUCKET, TRANSMUTE_S3_ENDPOINT are set but TRANSMUTE_STORAGE is local");
  });

  it("never echoes the secret access key in an error", () => {
    const error = failure({ ...S3, TRANSMUTE_S3_PART_SIZE: "tiny" });
    expect(error.message).not.toContain("s3cr3t-value");
  });
});
