/**
 * A Google Cloud Storage stand-in for tests: a loopback HTTP server speaking the parts of the
 * GCS JSON API that @google-cloud/storage uses for import/googlecloud and export/googlecloud,
 * and an OAuth 2.0 token endpoint for service accounts. npm has no GCS emulator that runs here
 * (firebase-tools' needs Java 21; fake-gcs-server and gcp-storage-emulator are not on npm).
 *
 * What it does, as GCS does:
 * - POST /token: the JWT bearer grant (urn:ietf:params:oauth:grant-type:jwt-bearer). The
 *   assertion is VERIFIED: RS256 signature with the registered public key of `iss` (the
 *   client_email), `aud` equal to this token URI, `iat`/`exp` within an hour and a few minutes
 *   of clock skew, a `scope`. Errors are Google's shapes ({"error":"invalid_grant",
 *   "error_description":"Invalid JWT Signature."}). It issues an opaque access token (an hour).
 * - Every storage call needs `Authorization: Bearer <token>` from here (401 "Invalid
 *   Credentials" / "required", reason authError/required) and a scope that allows it; a bucket
 *   can name its readers and writers (others get 403 forbidden).
 * - GET /storage/v1/b/B/o/O: object metadata (size, generation, md5Hash, crc32c...);
 *   with alt=media the content, with x-goog-hash (crc32c, md5), x-goog-generation,
 *   x-goog-stored-content-encoding, and Range (206) support; `generation` selects a generation.
 * - GET /storage/v1/b/B/o: list with prefix, delimiter (prefixes), maxResults and pageToken
 *   paging (pages can be capped smaller than asked, as GCS may return fewer).
 * - DELETE /storage/v1/b/B/o/O (204).
 * - POST /upload/storage/v1/b/B/o?uploadType=media|multipart (one request) and
 *   uploadType=resumable (a session URI in Location), then PUTs with Content-Range: chunks must
 *   be multiples of 256 KiB except the last, 308 with Range for an incomplete upload, a status
 *   query (bytes * /N), X-Goog-Hash checked on the final chunk, the object created only then;
 *   DELETE on the session URI cancels it (499).
 * - Errors: {"error":{"code","message","errors":[{"message","domain","reason"}]}}, 404
 *   notFound for a missing bucket ("The specified bucket does not exist.") or object ("No such
 *   object: B/O").
 * Every request is recorded (method, URL, Content-Range, whether it was authorized).
 *
 * What it does NOT cover versus real GCS: buckets are fixed at start (no bucket API, projects,
 * IAM policies or ACL objects: access is only the readers/writers lists); no XML API, signed
 * URLs, HMAC keys, compose/copy/rewrite, object metadata updates, preconditions
 * (ifGenerationMatch...), versioning history beyond the current generation, gzip transcoding,
 * customer-supplied encryption keys, retention or holds; no HTTPS (loopback http only); token
 * scopes are checked coarsely (read vs write); access tokens are never revoked; no rate limits
 * or 429/503 injection; multipart bodies are read into memory (resumable chunks stream to disk);
 * resumable sessions never expire; no quota, storage classes or lifecycle.
 */
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, verify, type KeyObject } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";

/** A service account of the stand-in: its email and its key pair (PEM). */
export interface ServiceAccount {
  clientEmail: string;
  privateKey: string;
  publicKey: string;
}

/** A new RSA service account (2048 bits, PKCS#8 private key as in a JSON key file). */
export function makeServiceAccount(clientEmail = `sa-${randomBytes(3).toString("hex")}@test-project.iam.gserviceaccount.com`): ServiceAccount {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return {
    clientEmail,
    privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicKey: publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}

/** A bucket at start: a name, or a name with who may read and write (default: every account). */
export type BucketSpec = string | { name: string; readers?: string[]; writers?: string[] };

/** One request received. */
export interface RecordedRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  contentRange: string | undefined;
  /** Whether it carried a valid access token. */
  authorized: boolean;
}

/** An object as stored. */
export interface StoredObject {
  name: string;
  size: number;
  contentType: string;
  generation: string;
  md5Hash: string;
  crc32c: string;
  path: string;
  updated: string;
}

/** A running stand-in. */
export interface TestGcsServer {
  /** http://127.0.0.1:port (the `endpoint` of a task). */
  endpoint: string;
  /** http://127.0.0.1:port/token (the `token_uri` of a task). */
  tokenUri: string;
  requests: RecordedRequest[];
  /** Registers a service account whose assertions the token endpoint accepts. */
  addServiceAccount(account: Pick<ServiceAccount, "clientEmail" | "publicKey">): void;
  putObject(bucket: string, name: string, data: Buffer, contentType?: string): Promise<void>;
  /** An object's content and metadata, or null. */
  getObject(bucket: string, name: string): Promise<{ data: Buffer; object: StoredObject } | null>;
  objectNames(bucket: string, prefix?: string): string[];
  /** Resumable upload sessions neither finished nor cancelled. */
  openUploads(): number;
  /** Caps list pages to `n` objects (GCS may return fewer than maxResults). */
  setMaxPageSize(n: number): void;
  /** Holds each resumable chunk's answer `ms` (a slow store), so a test can stop an upload midway. */
  setChunkDelay(ms: number): void;
  close(): Promise<void>;
}

const READ_SCOPES = ["https://www.googleapis.com/auth/devstorage.read_only", "https://www.googleapis.com/auth/devstorage.read_write", "https://www.googleapis.com/auth/devstorage.full_control", "https://www.googleapis.com/auth/cloud-platform", "https://www.googleapis.com/auth/cloud-platform.read-only"];
const WRITE_SCOPES = ["https://www.googleapis.com/auth/devstorage.read_write", "https://www.googleapis.com/auth/devstorage.full_control", "https://www.googleapis.com/auth/cloud-platform"];
/** GCS's unit of resumable chunks. */
const CHUNK_UNIT = 256 * 1024;
/** Largest multipart body read into memory. */
const MAX_MULTIPART = 64 * 1024 * 1024;
/** Clock skew allowed on iat and exp, and the longest assertion life. */
const SKEW_S = 300;
const MAX_ASSERTION_S = 3600;

class GcsError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason: string,
    readonly extra: Record<string, string> = {},
  ) {
    super(message);
  }
}

interface Bucket {
  name: string;
  readers: Set<string> | null;
  writers: Set<string> | null;
  objects: Map<string, StoredObject>;
}

interface UploadSession {
  bucket: string;
  name: string;
  contentType: string;
  committed: number;
  path: string;
  owner: string;
}

interface Token {
  email: string;
  scopes: string[];
  expires: number;
}

/** Starts the stand-in on 127.0.0.1 with `buckets`. */
export async function startGcsServer(buckets: BucketSpec[]): Promise<TestGcsServer> {
  const dir = await mkdtemp(join(tmpdir(), "transmute-gcs-"));
  const accounts = new Map<string, KeyObject>();
  const tokens = new Map<string, Token>();
  const uploads = new Map<string, UploadSession>();
  const store = new Map<string, Bucket>();
  for (const spec of buckets) {
    const b = typeof spec === "string" ? { name: spec } : spec;
    store.set(b.name, { name: b.name, readers: b.readers ? new Set(b.readers) : null, writers: b.writers ? new Set(b.writers) : null, objects: new Map() });
  }
  const requests: RecordedRequest[] = [];
  let generation = 1_700_000_000_000_000;
  let fileCount = 0;
  let maxPageSize = 1000;
  let chunkDelayMs = 0;
  let endpoint = "";

  async function saveObject(bucket: Bucket, name: string, path: string, contentType: string): Promise<StoredObject> {
    const { md5, crc } = await digests(path);
    const object: StoredObject = {
      name,
      size: (await stat(path)).size,
      contentType,
      generation: String(++generation),
      md5Hash: md5,
      crc32c: crc,
      path,
      updated: new Date().toISOString(),
    };
    const old = bucket.objects.get(name);
    bucket.objects.set(name, object);
    if (old) await rm(old.path, { force: true });
    return object;
  }

  const resource = (bucket: string, o: StoredObject) => {
    const encoded = encodeURIComponent(o.name);
    return {
      kind: "storage#object",
      id: `${bucket}/${o.name}/${o.generation}`,
      selfLink: `${endpoint}/storage/v1/b/${bucket}/o/${encoded}`,
      mediaLink: `${endpoint}/download/storage/v1/b/${bucket}/o/${encoded}?generation=${o.generation}&alt=media`,
      name: o.name,
      bucket,
      generation: o.generation,
      metageneration: "1",
      contentType: o.contentType,
      storageClass: "STANDARD",
      size: String(o.size),
      md5Hash: o.md5Hash,
      crc32c: o.crc32c,
      etag: Buffer.from(o.generation).toString("base64"),
      timeCreated: o.updated,
      updated: o.updated,
    };
  };

  /** The caller's account, or a 401 as GCS answers. */
  function authenticate(req: IncomingMessage, permission: string): Token {
    const header = req.headers.authorization ?? "";
    if (!header) throw new GcsError(401, `Anonymous caller does not have ${permission} access to the Google Cloud Storage object. Permission '${permission}' denied on resource (or it may not exist).`, "required", { locationType: "header", location: "Authorization" });
    const token = tokens.get(header.replace(/^Bearer\s+/i, ""));
    if (!token || token.expires < Date.now()) throw new GcsError(401, "Invalid Credentials", "authError", { locationType: "header", location: "Authorization" });
    return token;
  }

  function authorize(req: IncomingMessage, bucketName: string, access: "read" | "write", permission: string): Bucket {
    const token = authenticate(req, permission);
    const allowed = access === "read" ? READ_SCOPES : WRITE_SCOPES;
    const denied = () => new GcsError(403, `${token.email} does not have ${permission} access to the Google Cloud Storage ${permission.startsWith("storage.objects.list") ? "bucket" : "object"}. Permission '${permission}' denied on resource (or it may not exist).`, "forbidden");
    if (!token.scopes.some((s) => allowed.includes(s))) throw new GcsError(403, "Request had insufficient authentication scopes.", "insufficientPermissions");
    const bucket = store.get(bucketName);
    if (!bucket) throw new GcsError(404, "The specified bucket does not exist.", "notFound");
    const list = access === "read" ? bucket.readers : bucket.writers;
    if (list && !list.has(token.email)) throw denied();
    return bucket;
  }

  function objectOf(bucket: Bucket, name: string, generationParam: string | null): StoredObject {
    const o = bucket.objects.get(name);
    if (!o || (generationParam !== null && generationParam !== o.generation)) throw new GcsError(404, `No such object: ${bucket.name}/${name}`, "notFound");
    return o;
  }

  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = new URLSearchParams((await readBody(req, 64 * 1024)).toString("utf8"));
    const oauthError = (error: string, description: string, status = 400) => json(res, status, { error, error_description: description });
    if (form.get("grant_type") !== "urn:ietf:params:oauth:grant-type:jwt-bearer") return oauthError("unsupported_grant_type", `Invalid grant_type: ${form.get("grant_type") ?? ""}`);
    const parts = (form.get("assertion") ?? "").split(".");
    if (parts.length !== 3) return oauthError("invalid_request", "Invalid JWT: the assertion is not a JWS.");
    let header: { alg?: string };
    let claims: { iss?: string; aud?: string; iat?: number; exp?: number; scope?: string };
    try {
      header = JSON.parse(Buffer.from(parts[0]!, "base64url").toString("utf8"));
      claims = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8"));
    } catch {
      return oauthError("invalid_request", "Invalid JWT: the header or claims are not JSON.");
    }
    if (header.alg !== "RS256") return oauthError("invalid_grant", "Invalid JWT: only RS256 is accepted.");
    const key = accounts.get(String(claims.iss));
    if (!key) return oauthError("invalid_grant", "Invalid grant: account not found");
    if (!verify("RSA-SHA256", Buffer.from(`${parts[0]}.${parts[1]}`), key, Buffer.from(parts[2]!, "base64url"))) return oauthError("invalid_grant", "Invalid JWT Signature.");
    if (claims.aud !== `${endpoint}/token`) return oauthError("invalid_grant", `Invalid JWT: Failed audience check. The right audience is ${endpoint}/token`);
    const now = Math.floor(Date.now() / 1000);
    const { iat, exp } = claims;
    if (typeof iat !== "number" || typeof exp !== "number" || iat > now + SKEW_S || exp < now - SKEW_S || exp <= iat || exp - iat > MAX_ASSERTION_S) {
      return oauthError("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.");
    }
    if (!claims.scope) return oauthError("invalid_scope", "Invalid OAuth scope or ID token audience provided.");
    const accessToken = `ya29.test-${randomBytes(24).toString("base64url")}`;
    tokens.set(accessToken, { email: String(claims.iss), scopes: claims.scope.split(/\s+/), expires: Date.now() + 3600_000 });
    json(res, 200, { access_token: accessToken, expires_in: 3599, token_type: "Bearer" });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", endpoint);
    const method = req.method ?? "GET";
    const path = url.pathname;
    if (method === "POST" && path === "/token") return token(req, res);

    // Resumable session URIs: PUT (chunks, status) and DELETE (cancel).
    const uploadId = url.searchParams.get("upload_id");
    if (uploadId !== null && path.startsWith("/upload/storage/v1/b/")) {
      const session = uploads.get(uploadId);
      if (!session) throw new GcsError(404, "No such upload session (it was finished or cancelled).", "notFound");
      if (method === "DELETE") {
        uploads.delete(uploadId);
        await rm(session.path, { force: true });
        res.writeHead(499, { "content-type": "text/plain" }).end("Client Closed Request");
        return;
      }
      if (method !== "PUT") throw new GcsError(405, `Method ${method} is not allowed on an upload session.`, "methodNotAllowed");
      return putChunk(req, res, uploadId, session);
    }

    const upload = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(path);
    if (upload && method === "POST") return startUpload(req, res, decodeURIComponent(upload[1]!), url);

    const list = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(path);
    if (list && method === "GET") {
      const bucket = authorize(req, decodeURIComponent(list[1]!), "read", "storage.objects.list");
      const prefix = url.searchParams.get("prefix") ?? "";
      const delimiter = url.searchParams.get("delimiter");
      const max = Math.min(Number(url.searchParams.get("maxResults") ?? 1000) || 1000, 1000, maxPageSize);
      const after = url.searchParams.get("pageToken") ? Buffer.from(url.searchParams.get("pageToken")!, "base64url").toString("utf8") : null;
      const names = [...bucket.objects.keys()].filter((n) => n.startsWith(prefix)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      const items: StoredObject[] = [];
      const prefixes = new Set<string>();
      let next: string | undefined;
      for (const name of names) {
        if (after !== null && Buffer.compare(Buffer.from(name), Buffer.from(after)) <= 0) continue;
        if (items.length + prefixes.size >= max) {
          next = Buffer.from(items.at(-1)?.name ?? name).toString("base64url");
          break;
        }
        const rest = name.slice(prefix.length);
        if (delimiter && rest.includes(delimiter)) prefixes.add(prefix + rest.slice(0, rest.indexOf(delimiter) + delimiter.length));
        else items.push(bucket.objects.get(name)!);
      }
      return json(res, 200, {
        kind: "storage#objects",
        ...(items.length ? { items: items.map((o) => resource(bucket.name, o)) } : {}),
        ...(prefixes.size ? { prefixes: [...prefixes] } : {}),
        ...(next ? { nextPageToken: next } : {}),
      });
    }

    const one = /^\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(path);
    if (one) {
      const bucketName = decodeURIComponent(one[1]!);
      const name = decodeURIComponent(one[2]!);
      if (method === "DELETE") {
        const bucket = authorize(req, bucketName, "write", "storage.objects.delete");
        const o = objectOf(bucket, name, url.searchParams.get("generation"));
        bucket.objects.delete(name);
        await rm(o.path, { force: true });
        res.writeHead(204).end();
        return;
      }
      if (method === "GET") {
        const bucket = authorize(req, bucketName, "read", "storage.objects.get");
        const o = objectOf(bucket, name, url.searchParams.get("generation"));
        if (url.searchParams.get("alt") !== "media") return json(res, 200, resource(bucket.name, o));
        return sendMedia(req, res, o);
      }
    }
    throw new GcsError(404, `Not Found: ${method} ${path}`, "notFound");
  }

  function sendMedia(req: IncomingMessage, res: ServerResponse, o: StoredObject): void {
    const headers: Record<string, string> = {
      "content-type": o.contentType,
      "x-goog-generation": o.generation,
      "x-goog-metageneration": "1",
      "x-goog-stored-content-encoding": "identity",
      "x-goog-stored-content-length": String(o.size),
      "x-goog-hash": `crc32c=${o.crc32c},md5=${o.md5Hash}`,
      "accept-ranges": "bytes",
      etag: Buffer.from(o.generation).toString("base64"),
    };
    const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? "");
    if (range && o.size > 0) {
      let start = range[1] ? Number(range[1]) : Math.max(0, o.size - Number(range[2]));
      let end = range[1] && range[2] ? Math.min(Number(range[2]), o.size - 1) : o.size - 1;
      if (!range[1]) end = o.size - 1;
      if (start >= o.size || start > end) {
        res.writeHead(416, { "content-range": `bytes */${o.size}` }).end();
        return;
      }
      start = Math.max(0, start);
      res.writeHead(206, { ...headers, "content-length": String(end - start + 1), "content-range": `bytes ${start}-${end}/${o.size}` });
      createReadStream(o.path, { start, end }).pipe(res);
      return;
    }
    res.writeHead(200, { ...headers, "content-length": String(o.size) });
    createReadStream(o.path).pipe(res);
  }

  async function startUpload(req: IncomingMessage, res: ServerResponse, bucketName: string, url: URL): Promise<void> {
    const bucket = authorize(req, bucketName, "write", "storage.objects.create");
    const type = url.searchParams.get("uploadType");
    if (type === "media") {
      const name = url.searchParams.get("name");
      if (!name) throw new GcsError(400, "Required parameter: name", "required");
      const path = join(dir, `obj-${++fileCount}`);
      await pipeline(req, createWriteStream(path));
      const o = await saveObject(bucket, name, path, req.headers["content-type"] ?? "application/octet-stream");
      return json(res, 200, resource(bucket.name, o));
    }
    if (type === "multipart") {
      const boundary = /boundary="?([^";]+)"?/.exec(req.headers["content-type"] ?? "")?.[1];
      if (!/^multipart\/related/i.test(req.headers["content-type"] ?? "") || !boundary) throw new GcsError(400, "Content-Type must be multipart/related with a boundary.", "invalid");
      const parts = splitMultipart(await readBody(req, MAX_MULTIPART), boundary);
      if (parts.length !== 2) throw new GcsError(400, `A multipart upload has 2 parts (metadata, media), not ${parts.length}.`, "invalid");
      const metadata = JSON.parse(parts[0]!.body.toString("utf8") || "{}") as { name?: string; contentType?: string };
      const name = metadata.name ?? url.searchParams.get("name");
      if (!name) throw new GcsError(400, "Required parameter: name", "required");
      const path = join(dir, `obj-${++fileCount}`);
      await writeFile(path, parts[1]!.body);
      checkHashes(req, (await digests(path)));
      const o = await saveObject(bucket, name, path, metadata.contentType ?? parts[1]!.contentType ?? "application/octet-stream");
      return json(res, 200, resource(bucket.name, o));
    }
    if (type === "resumable") {
      const metadata = JSON.parse((await readBody(req, 64 * 1024)).toString("utf8") || "{}") as { name?: string; contentType?: string };
      const name = url.searchParams.get("name") ?? metadata.name;
      if (!name) throw new GcsError(400, "Required parameter: name", "required");
      const id = randomBytes(16).toString("base64url");
      const path = join(dir, `upload-${id}`);
      await writeFile(path, "");
      const contentType = String(req.headers["x-upload-content-type"] ?? metadata.contentType ?? "application/octet-stream");
      uploads.set(id, { bucket: bucket.name, name, contentType, committed: 0, path, owner: authenticate(req, "storage.objects.create").email });
      const location = `${endpoint}/upload/storage/v1/b/${encodeURIComponent(bucket.name)}/o?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${id}`;
      res.writeHead(200, { location, "x-guploader-uploadid": id, "content-length": "0" }).end();
      return;
    }
    throw new GcsError(400, `Invalid uploadType: ${type ?? "(none)"}`, "invalidParameter");
  }

  async function putChunk(req: IncomingMessage, res: ServerResponse, id: string, session: UploadSession): Promise<void> {
    const range = String(req.headers["content-range"] ?? "");
    const incomplete = () => {
      const headers: Record<string, string> = { "content-length": "0" };
      if (session.committed > 0) headers.range = `bytes=0-${session.committed - 1}`;
      res.writeHead(308, headers).end();
    };
    const status = /^bytes \*\/(\d+|\*)$/.exec(range);
    if (status) {
      req.resume();
      return incomplete();
    }
    const m = /^bytes (\d+)-(\d+|\*)\/(\d+|\*)$/.exec(range);
    if (!m) {
      req.resume();
      throw new GcsError(400, `Invalid Content-Range: "${range}"`, "invalid");
    }
    const start = Number(m[1]);
    const total = m[3] === "*" ? null : Number(m[3]);
    if (start > session.committed) {
      req.resume();
      throw new GcsError(400, `Content-Range starts at ${start} but ${session.committed} bytes are committed.`, "invalid");
    }
    // Bytes before `committed` were received already (a retried chunk): skipped.
    let skip = session.committed - start;
    let received = 0;
    const out = createWriteStream(session.path, { flags: "a" });
    await pipeline(
      req,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          received += chunk.length;
          if (skip >= chunk.length) {
            skip -= chunk.length;
            continue;
          }
          yield skip > 0 ? chunk.subarray(skip) : chunk;
          skip = 0;
        }
      },
      out,
    );
    const end = start + received;
    if (m[2] !== "*" && Number(m[2]) + 1 !== end) throw new GcsError(400, `Content-Range ends at ${m[2]} but ${received} bytes were sent.`, "invalid");
    const isLast = total !== null && end === total;
    if (!isLast && received % CHUNK_UNIT !== 0) {
      throw new GcsError(400, `Invalid request. The number of bytes uploaded is required to be equal or greater than 262144, except for the final request (it's recommended to be the exact multiple of 262144). The received request contained ${received} bytes, which does not meet this requirement.`, "invalid");
    }
    if (chunkDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, chunkDelayMs));
    if (!uploads.has(id)) throw new GcsError(404, "No such upload session (it was finished or cancelled).", "notFound");
    session.committed = Math.max(session.committed, end);
    if (!isLast) return incomplete();
    const size = (await stat(session.path)).size;
    if (total !== size) throw new GcsError(400, `The upload declared ${total} bytes but ${size} arrived.`, "invalid");
    checkHashes(req, await digests(session.path));
    const bucket = store.get(session.bucket);
    if (!bucket) throw new GcsError(404, "The specified bucket does not exist.", "notFound");
    uploads.delete(id);
    const path = join(dir, `obj-${++fileCount}`);
    await rename(session.path, path);
    const o = await saveObject(bucket, session.name, path, session.contentType);
    json(res, 200, resource(bucket.name, o));
  }

  const server: Server = createServer((req, res) => {
    const record: RecordedRequest = { method: req.method ?? "GET", url: req.url ?? "/", contentRange: req.headers["content-range"], authorized: false };
    const bearer = (req.headers.authorization ?? "").replace(/^Bearer\s+/i, "");
    record.authorized = tokens.has(bearer);
    requests.push(record);
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) return void res.destroy();
      req.resume();
      if (err instanceof GcsError) {
        return json(res, err.status, { error: { code: err.status, message: err.message, errors: [{ message: err.message, domain: "global", reason: err.reason, ...err.extra }] } });
      }
      json(res, 500, { error: { code: 500, message: `Internal error: ${(err as Error).message}`, errors: [{ message: "Internal error", domain: "global", reason: "backendError" }] } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    endpoint,
    tokenUri: `${endpoint}/token`,
    requests,
    addServiceAccount(account) {
      accounts.set(account.clientEmail, createPublicKey(account.publicKey));
    },
    async putObject(bucketName, name, data, contentType = "application/octet-stream") {
      const bucket = store.get(bucketName);
      if (!bucket) throw new Error(`no bucket ${bucketName}`);
      const path = join(dir, `obj-${++fileCount}`);
      await writeFile(path, data);
      await saveObject(bucket, name, path, contentType);
    },
    async getObject(bucketName, name) {
      const o = store.get(bucketName)?.objects.get(name);
      return o ? { data: await readFile(o.path), object: { ...o } } : null;
    },
    objectNames(bucketName, prefix = "") {
      return [...(store.get(bucketName)?.objects.keys() ?? [])].filter((n) => n.startsWith(prefix)).sort();
    },
    openUploads: () => uploads.size,
    setMaxPageSize(n) {
      maxPageSize = n;
    },
    setChunkDelay(ms) {
      chunkDelayMs = ms;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=UTF-8", "content-length": String(Buffer.byteLength(text)) }).end(text);
}

async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new GcsError(413, `The request body is larger than ${max} bytes (this stand-in's limit).`, "uploadTooLarge");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The parts of a multipart/related body: their Content-Type and bytes. */
function splitMultipart(body: Buffer, boundary: string): Array<{ contentType: string | undefined; body: Buffer }> {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Array<{ contentType: string | undefined; body: Buffer }> = [];
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === "--") break;
    const next = body.indexOf(delimiter, start);
    if (next < 0) break;
    const part = body.subarray(start + 2, next - 2); // after CRLF, before the CRLF of the next delimiter
    const headerEnd = part.indexOf("\r\n\r\n");
    const head = part.subarray(0, headerEnd).toString("utf8");
    parts.push({ contentType: /content-type:\s*([^\r\n]+)/i.exec(head)?.[1]?.trim(), body: part.subarray(headerEnd + 4) });
    at = next;
  }
  return parts;
}

/** Refuses an upload whose X-Goog-Hash (crc32c, md5) disagrees with the bytes received. */
function checkHashes(req: IncomingMessage, actual: { md5: string; crc: string }): void {
  const header = String(req.headers["x-goog-hash"] ?? "");
  for (const pair of header.split(",").filter(Boolean)) {
    const [kind, value] = [pair.slice(0, pair.indexOf("=")).trim(), pair.slice(pair.indexOf("=") + 1).trim()];
    if ((kind === "crc32c" && value !== actual.crc) || (kind === "md5" && value !== actual.md5)) {
      throw new GcsError(400, `Provided ${kind === "md5" ? "MD5" : "CRC32C"} hash "${value}" doesn't match calculated hash "${kind === "md5" ? actual.md5 : actual.crc}".`, "invalid");
    }
  }
}

/** MD5 and CRC32C (Castagnoli) of a file, base64 as GCS gives them; computed here, not by the client library. */
async function digests(path: string): Promise<{ md5: string; crc: string }> {
  const md5 = createHash("md5");
  let crc = 0xffffffff;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    md5.update(chunk);
    for (let i = 0; i < chunk.length; i++) crc = CRC_TABLE[(crc ^ chunk[i]!) & 0xff]! ^ (crc >>> 8);
  }
  const out = Buffer.alloc(4);
  out.writeUInt32BE((crc ^ 0xffffffff) >>> 0);
  return { md5: md5.digest("base64"), crc: out.toString("base64") };
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();
