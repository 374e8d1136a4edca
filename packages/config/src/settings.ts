/**
 * Every environment variable Transmute reads: name, default and doc. This table is the single
 * source for the defaults of plain settings (parsed by the same code as a set value), for the
 * list of known `TRANSMUTE_*` variables, and for the README and `--help`.
 */

/** One setting as `describeSettings` shows it. */
export interface SettingDescription {
  /** The environment variable. */
  readonly name: string;
  /** The default, as text: a value, or how it is derived when it depends on other settings. */
  readonly default: string;
  /** One sentence on what it does and what it accepts. */
  readonly doc: string;
}

interface SettingEntry extends SettingDescription {
  /** The default is derived in code (`default` only describes it), or there is none. */
  readonly derived?: true;
  /** The value is never echoed in an error message (it may be a credential). */
  readonly secret?: true;
}

const MIB = 1024 * 1024;

const SETTINGS = [
  { name: "PORT", default: "3000", doc: "TCP port the HTTP server listens on (1-65535)." },
  { name: "HOST", default: "127.0.0.1", doc: "Address the HTTP server binds: an IP address or host name; 0.0.0.0 or :: to accept other machines." },
  { name: "PUBLIC_URL", default: "http://localhost:$PORT", derived: true, doc: "Absolute http(s) URL clients reach the server at, used in every link the API returns; a path prefix is kept, a trailing slash removed." },
  { name: "TRANSMUTE_DATA_DIR", default: "./data", doc: "Directory for the embedded database, stored files and scratch space; a relative path is resolved from the working directory." },
  { name: "TRANSMUTE_API_KEY", default: "(unset)", derived: true, secret: true, doc: "An API key valid for the default account, at least 16 printable characters without spaces; unset: only keys stored in the database work." },
  { name: "TRANSMUTE_SECRET", default: "(generated at first boot, kept in the database)", derived: true, secret: true, doc: "Secret that signs upload and download links, shared by every process, at least 32 characters." },
  { name: "TRANSMUTE_OUTBOUND_ALLOW", default: "(empty)", derived: true, doc: "Comma-separated CIDRs (10.0.0.0/8, fd00::/8), IP addresses, host names (minio) and subdomain patterns (*.corp.example) that outbound requests may reach although they are private, loopback or link-local." },
  { name: "DATABASE_URL", default: "(unset: embedded PGlite)", derived: true, secret: true, doc: "postgres:// or postgresql:// URL of the shared database; together with REDIS_URL it selects the scaled-out mode." },
  { name: "REDIS_URL", default: "(unset: in-process queue and events)", derived: true, secret: true, doc: "redis:// or rediss:// URL for the queue and events; together with DATABASE_URL it selects the scaled-out mode." },
  { name: "TRANSMUTE_REDIS_PREFIX", default: "transmute", doc: "Prefix of every Redis key and channel (queues, events), so several installations can share one Redis; letters, digits, _ . - (at most 64)." },
  { name: "TRANSMUTE_QUEUE_LOCK_SECONDS", default: "30", doc: "How long a worker's lock on a queue message lasts; a killed worker's message is redelivered after it expires (5-3600)." },
  { name: "TRANSMUTE_STORAGE_DIR", default: "$TRANSMUTE_DATA_DIR/files", derived: true, doc: "Root of the local-disk file store; in the scaled-out mode every process must see the same directory (a shared volume)." },
  { name: "TRANSMUTE_STORAGE", default: "local", doc: "Where stored files live: local (TRANSMUTE_STORAGE_DIR, one disk or a shared volume) or s3 (a bucket of any S3-compatible store, shared by every process on every machine; the TRANSMUTE_S3_* settings)." },
  { name: "TRANSMUTE_S3_BUCKET", default: "(unset; required with TRANSMUTE_STORAGE=s3)", derived: true, doc: "Bucket of the S3 file store; it must exist and be writable." },
  { name: "TRANSMUTE_S3_PREFIX", default: "(empty)", derived: true, doc: "Prefix of every object key in the bucket, such as transmute/ (letters, digits, _ . - segments, ending in /), so one bucket can hold several installations." },
  { name: "TRANSMUTE_S3_ENDPOINT", default: "(unset: AWS for TRANSMUTE_S3_REGION)", derived: true, doc: "http(s) URL of an S3-compatible store (MinIO, Ceph, Garage...), such as http://minio:9000; buckets are then addressed in the path." },
  { name: "TRANSMUTE_S3_REGION", default: "us-east-1", doc: "Region the S3 requests are signed for (S3-compatible stores usually accept us-east-1)." },
  { name: "TRANSMUTE_S3_ACCESS_KEY_ID", default: "(unset; required with TRANSMUTE_STORAGE=s3)", derived: true, secret: true, doc: "Access key id of the S3 file store." },
  { name: "TRANSMUTE_S3_SECRET_ACCESS_KEY", default: "(unset; required with TRANSMUTE_STORAGE=s3)", derived: true, secret: true, doc: "Secret access key of the S3 file store." },
  { name: "TRANSMUTE_S3_PART_SIZE", default: "8MiB", doc: "Part size of multipart uploads to the S3 file store (5 MiB to 5 GiB; memory per upload is about 3 parts); smaller files go in one request." },
  { name: "TRANSMUTE_SCRATCH_DIR", default: "$TRANSMUTE_DATA_DIR/scratch", derived: true, doc: "Where workers create per-task scratch directories; must not overlap the storage directory." },
  { name: "TRANSMUTE_WAIT_TIMEOUT_SECONDS", default: "240", doc: "Longest a /wait request is held open before it answers with the current state (1-3600)." },
  { name: "TRANSMUTE_UPLOAD_SIZE_LIMIT", default: "5368709120", doc: "Largest upload in bytes (default 5 GiB, as FreeConvert); accepts suffixes: 100MB (10^6), 1GiB (2^30), also KB, KiB, TB, TiB." },
  { name: "TRANSMUTE_UPLOAD_EXPIRES_SECONDS", default: "14400", doc: "How long an upload URL stays valid (1 s to 30 days)." },
  { name: "TRANSMUTE_BASE64_BODY_LIMIT", default: String(64 * MIB), doc: "Largest JSON body of an import/base64 request in bytes (default 64 MiB, at most 256 MiB: the body is held in memory); suffixes as for the upload limit." },
  { name: "TRANSMUTE_IMPORT_URL_MAX_BYTES", default: "$TRANSMUTE_UPLOAD_SIZE_LIMIT", derived: true, doc: "Largest file import/url downloads, in bytes; suffixes as for the upload limit." },
  { name: "TRANSMUTE_IMPORT_URL_TIMEOUT_SECONDS", default: "300", doc: "Longest an import/url download may take (1-86400)." },
  { name: "TRANSMUTE_WEBHOOK_TIMEOUT_SECONDS", default: "30", doc: "Longest a webhook delivery attempt may take before it counts as TIMEOUT and is retried (1-600)." },
  { name: "TRANSMUTE_WEBHOOK_RETRY_SECONDS", default: "1800", doc: "Wait before a failed webhook delivery is retried (1-86400; default 30 minutes, as FreeConvert); 3 retries at most." },
  { name: "TRANSMUTE_FILE_RETENTION_SECONDS", default: "14400", doc: "Files are deleted this long after their task was created (default 4 h, as FreeConvert; 1 s to 365 days)." },
  { name: "TRANSMUTE_TASK_RETENTION_SECONDS", default: "86400", doc: "Tasks and jobs are deleted this long after creation (default 24 h, as FreeConvert; 1 s to 365 days); not shorter than the file retention." },
  { name: "TRANSMUTE_SWEEP_SECONDS", default: "60", doc: "How often workers delete expired files, old tasks and jobs, and leftover scratch and temp files (1-3600); one worker at a time does the shared part." },
  { name: "TRANSMUTE_TRUST_PROXY", default: "(empty: none)", derived: true, doc: "Comma-separated addresses or CIDRs of the reverse proxies in front of the gateway; only requests from them have their X-Forwarded-For and X-Forwarded-Proto believed (the client address of the per-address rate limit, the logs). Empty: the connection's address is the client." },
  { name: "TRANSMUTE_MAX_DOWNLOADS", default: "0", doc: "Downloads (GET) of one exported file before its link answers 410 overuse (0-1000000000; 0: unlimited, as FreeConvert; api2convert allows 10); HEAD requests do not count." },
  { name: "TRANSMUTE_RATE_LIMIT_READ", default: "6000", doc: "Reading requests (GET: show, wait, lists, options) one API key may make per minute, in bursts up to the same number (0-1000000; 0: no limit)." },
  { name: "TRANSMUTE_RATE_LIMIT_WRITE", default: "1200", doc: "Writing requests (POST, DELETE: job and task creation, cancel, delete) one API key may make per minute, in bursts up to the same number (0-1000000; 0: no limit)." },
  { name: "TRANSMUTE_RATE_LIMIT_ANONYMOUS", default: "60", doc: "Requests without an API key to the public query endpoints (/v1/query/...) one client address may make per minute (0-1000000; 0: no limit)." },
  { name: "TRANSMUTE_WORKER_CONCURRENCY", default: "(number of CPU cores)", derived: true, doc: "Conversions a worker runs at once, across its engines (1-1024); imports and exports run beside them with a budget of the same size." },
  { name: "TRANSMUTE_WORKER_MEMORY_MB", default: "2048", doc: "Memory budget of one task in a worker, in MiB (128-1048576); the image pixel cap derives from it." },
  { name: "TRANSMUTE_MAX_PIXELS", default: "$TRANSMUTE_WORKER_MEMORY_MB * 1048576 / 16", derived: true, doc: "Largest image (width x height, a whole number) a worker decodes; the default budgets 16 bytes a pixel: 4 bytes of RGBA for each of the input, the output and one intermediate copy, plus headroom." },
  { name: "TRANSMUTE_TASK_TIMEOUT_SECONDS", default: "600", doc: "Wall-clock limit of a task that sets no timeout of its own (1-86400); not above the maximum." },
  { name: "TRANSMUTE_TASK_TIMEOUT_MAX_SECONDS", default: "3600", doc: "Largest timeout a task may ask for (1-86400)." },
  { name: "TRANSMUTE_MAX_PAGES", default: "1000", doc: "Most pages of a PDF or office document an engine renders, splits or converts (1-1000000); a longer document fails its task with limit_exceeded." },
  { name: "TRANSMUTE_MAX_MEDIA_SECONDS", default: "14400", doc: "Longest audio or video input, in seconds, that ffmpeg converts (1-604800); a longer one fails its task with limit_exceeded." },
  { name: "TRANSMUTE_ARCHIVE_MAX_ENTRIES", default: "10000", doc: "Most entries an archive may hold to be extracted or repacked (1-10000000)." },
  { name: "TRANSMUTE_ARCHIVE_MAX_BYTES", default: "2GiB", doc: "Largest total uncompressed size of an archive's entries, with a unit (B, KB, MB, GB, KiB, MiB, GiB)." },
  { name: "TRANSMUTE_ARCHIVE_MAX_RATIO", default: "200", doc: "Largest ratio of uncompressed to compressed size of an archive, or of one entry (1-100000): past it the archive is refused as a zip bomb." },
  { name: "TRANSMUTE_ARCHIVE_MAX_DEPTH", default: "3", doc: "How deep archives inside archives are opened and checked (1-32); deeper nesting is refused." },
  { name: "FFMPEG_PATH", default: "ffmpeg", doc: "The ffmpeg executable: a name looked up on PATH or an absolute path; ffprobe is looked for beside it." },
  { name: "TRANSMUTE_SOFFICE_PATH", default: "soffice", doc: "The LibreOffice executable (soffice): a name looked up on PATH or an absolute path." },
  { name: "TRANSMUTE_CHROMIUM_PATH", default: "chromium", doc: "The Chromium executable for web-page capture and HTML rendering: a name looked up on PATH or an absolute path." },
  { name: "TRANSMUTE_FILEWALL_QUOTA", default: "0", doc: "Most files an account may authorize through the Filewall API in a rolling 30 days (0: no quota); past it authorize answers 402 payment_required." },
  { name: "TRANSMUTE_FILEWALL_MAX_IN_PROGRESS", default: "10", doc: "Most Filewall files of one API key not yet finished or failed (1-100000); past it authorize answers 429 too_many_requests." },
  { name: "TRANSMUTE_FILEWALL_UPLOAD_SECONDS", default: "3600", doc: "How long a Filewall upload link is valid, in seconds (1-86400)." },
  { name: "TRANSMUTE_FILEWALL_TOMBSTONE_SECONDS", default: "604800", doc: "How long a Filewall file's status still answers (as archived) after its job and files are gone, in seconds (0-31536000)." },
  { name: "TRANSMUTE_SFTP_KNOWN_HOSTS", default: "(unset: any host key, its fingerprint kept in the task result)", derived: true, doc: "An OpenSSH known_hosts file: when set, import/sftp and export/sftp connect only to servers whose host key it lists." },
  { name: "TRANSMUTE_ENGINES", default: "(every engine the worker can run)", derived: true, doc: "Comma-separated engine classes this worker serves, such as image,io (lowercase names)." },
  { name: "TRANSMUTE_HEARTBEAT_SECONDS", default: "5", doc: "How often a worker renews its registration and the heartbeat of the tasks it runs (1-3600)." },
  { name: "TRANSMUTE_RECONCILE_SECONDS", default: "15", doc: "How often ready tasks that are neither queued nor running are re-enqueued (1-3600)." },
  { name: "TRANSMUTE_STALE_AFTER_SECONDS", default: "30", doc: "A claimed task whose heartbeat is older than this is taken back (2-86400); at least twice the heartbeat interval." },
  { name: "LOG_LEVEL", default: "info", doc: "Log level: fatal, error, warn, info, debug, trace or silent." },
] as const satisfies readonly SettingEntry[];

/** The name of a setting Transmute reads. */
export type SettingName = (typeof SETTINGS)[number]["name"];

const BY_NAME: ReadonlyMap<string, SettingEntry> = new Map(SETTINGS.map((s: SettingEntry) => [s.name, s]));

/** Every setting with its default and doc, in the order the README lists them. */
export function describeSettings(): readonly SettingDescription[] {
  return SETTINGS.map(({ name, default: value, doc }) => Object.freeze({ name, default: value, doc }));
}

/** The table entry of a setting. */
export function findSetting(name: SettingName): SettingEntry {
  return BY_NAME.get(name)!;
}

/** Every `TRANSMUTE_*` variable Transmute knows, for catching typos. */
export function listKnownPrefixedNames(): string[] {
  return SETTINGS.map((s) => s.name as string).filter((name) => name.startsWith("TRANSMUTE_"));
}
