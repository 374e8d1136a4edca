/**
 * The Google Cloud Storage client of import/googlecloud and export/googlecloud: the official
 * @google-cloud/storage with a service account's explicit key (never Application Default
 * Credentials, never the metadata server), every connection through agents of the outbound
 * policy, and one mapping of the client's errors to our codes with messages that never carry
 * a credential.
 *
 * How the connections are guarded. The client makes requests two ways:
 * - JSON API calls and downloads (metadata, list, delete, media GET) go through teeny-request,
 *   which takes no agent from its caller: it picks one from its own pool (or from HTTP(S)_PROXY).
 *   Its `getAgent` is looked up on its module at every request, so it is wrapped once: a request
 *   that carries this session's agents (put on every request by a Storage interceptor) gets
 *   them; any other caller of teeny-request keeps the library's own choice.
 * - The OAuth token request and resumable uploads go through gaxios, via the JWT client's
 *   transporter: ours sets the agents (a user-provided agent also overrides gaxios' proxies)
 *   and the task's signal on every request, and points the token request at `token_uri`.
 * The session's agents refuse every new connection once the session is closed, so a retry
 * scheduled by the library after a cancel cannot reach the store.
 */
import { createRequire } from "node:module";
import { request as httpRequest, type Agent as HttpAgent } from "node:http";
import { request as httpsRequest, type Agent as HttpsAgent } from "node:https";
import { Storage, type Bucket } from "@google-cloud/storage";
import { DefaultTransporter, JWT } from "google-auth-library";
import type { GaxiosPromise } from "gaxios";
import { AppError, isAppError, REDACTED, redactAppError, redactSecrets, type ErrorCode } from "@transmute/core";
import { createGuardedAgent, isUnreachableCode, type OutboundPolicy } from "@transmute/outbound";

/** Google's storage endpoint (what the client uses without `endpoint`). */
export const GOOGLE_STORAGE_ENDPOINT = "https://storage.googleapis.com";
/** Google's OAuth 2.0 token endpoint, as in a service-account key file's token_uri. */
export const GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token";
/** The OAuth grant of a service account's signed assertion. */
const JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/** Access the connector needs: read and write objects (not bucket administration). */
const SCOPES = ["https://www.googleapis.com/auth/devstorage.read_write"];
/** Attempts of a retryable failure (rate limits, 5xx, dropped connections), the first included. */
const MAX_ATTEMPTS = 3;

/** Where and as whom to connect, from the task's payload. */
export interface GcsConnection {
  projectId: string;
  bucket: string;
  clientEmail: string;
  privateKey: string;
  /** The storage endpoint (Google's unless the payload names one). */
  endpoint: string;
  /** The OAuth token endpoint, also the audience of the signed assertion. */
  tokenUri: string;
}

/** The connection fields of an import/googlecloud or export/googlecloud payload (validated at job creation). */
export function gcsConnectionOf(payload: Record<string, unknown>): GcsConnection {
  const text = (name: string) => (typeof payload[name] === "string" ? (payload[name] as string) : undefined);
  return {
    projectId: String(payload.project_id),
    bucket: String(payload.bucket),
    clientEmail: String(payload.client_email),
    // Keys pasted from a JSON key file's text often keep its "\n" escapes.
    privateKey: String(payload.private_key).replace(/\\n/g, "\n"),
    endpoint: (text("endpoint") ?? GOOGLE_STORAGE_ENDPOINT).replace(/\/+$/, ""),
    tokenUri: text("token_uri") ?? GOOGLE_TOKEN_URI,
  };
}

/** A bucket handle and what to release once the operation ends. */
export interface GcsSession {
  storage: Storage;
  bucket: Bucket;
  /**
   * Cancels an unfinished resumable upload session (DELETE on its URI, as GCS documents), so
   * no partial upload lingers; best effort, at most ABANDON_TIMEOUT_MS. Call before close().
   */
  abandonUpload(uri: string): Promise<void>;
  /** Closes every connection and refuses new ones (idempotent). */
  close(): void;
}

/** Longest wait for the cancel of an unfinished upload session. */
const ABANDON_TIMEOUT_MS = 10_000;

/** The property of a teeny-request options object that carries a session's agents. */
const AGENTS = Symbol.for("transmute.gcs.agents");

interface SessionAgents {
  http: HttpAgent;
  https: HttpsAgent;
}

type GetAgent = (uri: string, reqOpts: Record<PropertyKey, unknown>) => unknown;
let teenyPatched = false;

/**
 * Wraps teeny-request's agent choice (once per process) so a request carrying AGENTS uses
 * them. The teeny-request module is the one @google-cloud/storage itself resolves.
 */
function routeTeenyRequestAgents(): void {
  if (teenyPatched) return;
  const requireHere = createRequire(import.meta.url);
  const requireFromStorage = createRequire(requireHere.resolve("@google-cloud/storage"));
  const agents = requireFromStorage("teeny-request/build/src/agents.js") as { getAgent: GetAgent };
  const original = agents.getAgent;
  if (typeof original !== "function") throw new Error("teeny-request no longer exports getAgent: the Google Cloud Storage connector cannot guard its connections.");
  agents.getAgent = (uri, reqOpts) => {
    const own = reqOpts[AGENTS] as SessionAgents | undefined;
    if (own) return uri.startsWith("http://") ? own.http : own.https;
    return original(uri, reqOpts);
  };
  teenyPatched = true;
}

/** A gaxios transporter on the session's agents and signal, sending the token request to `tokenUri`. */
class GuardedTransporter extends DefaultTransporter {
  constructor(
    private readonly agents: SessionAgents,
    private readonly tokenUri: string,
    private readonly signal: AbortSignal,
  ) {
    super();
  }

  override request<T>(opts: Parameters<DefaultTransporter["request"]>[0]): GaxiosPromise<T> {
    // gtoken posts the JWT bearer grant to its own built-in URL (www.googleapis.com/oauth2/v4/token
    // in this version): whatever that is, the grant goes to token_uri.
    const grant = (opts.data as { grant_type?: unknown } | undefined)?.grant_type;
    const url = grant === JWT_BEARER_GRANT || opts.url === GOOGLE_TOKEN_URI ? this.tokenUri : opts.url;
    const agents = this.agents;
    return super.request<T>({
      ...opts,
      url,
      agent: (target: URL) => (target.protocol === "http:" ? agents.http : agents.https),
      signal: this.signal as never,
    });
  }
}

/**
 * A client for `conn` whose every connection is checked against `outbound` (an endpoint or
 * token_uri on a refused address fails with outbound_refused, before any byte is sent).
 * `signal` aborts the gaxios requests; close() ends the rest.
 */
export function createGcsSession(conn: GcsConnection, outbound: OutboundPolicy, signal: AbortSignal): GcsSession {
  // The client sends every JSON call to STORAGE_EMULATOR_HOST when it is set, whatever the
  // task's endpoint says: refused rather than followed (the task's `endpoint` serves emulators).
  if (process.env.STORAGE_EMULATOR_HOST !== undefined) {
    throw new AppError("internal_error", "The worker's environment sets STORAGE_EMULATOR_HOST, which would send the Google Cloud Storage requests elsewhere than the task's endpoint; the operator must unset it.", {
      detail: "STORAGE_EMULATOR_HOST is set in the worker's environment; give an emulator's URL in the task's endpoint field instead",
    });
  }
  routeTeenyRequestAgents();
  let closed = false;
  // Once closed, nothing connects any more (a retry the library scheduled meets a refusal).
  const policy: OutboundPolicy = {
    allow: outbound.allow,
    checkAddress: (ip, context) => (closed ? { allowed: false, rule: "the task has ended" } : outbound.checkAddress(ip, context)),
    checkUrl: (url) => outbound.checkUrl(url),
    isHostnameAllowed: (hostname) => !closed && outbound.isHostnameAllowed(hostname),
  };
  const agentOptions = { keepAlive: true, maxSockets: 8 };
  const agents: SessionAgents = {
    http: createGuardedAgent(policy, { agentOptions }),
    https: createGuardedAgent(policy, { https: true, agentOptions }),
  };
  const authClient = new JWT({
    email: conn.clientEmail,
    key: conn.privateKey,
    scopes: SCOPES,
    // The assertion's audience is the token endpoint it is sent to (gtoken would sign Google's).
    additionalClaims: { aud: conn.tokenUri },
    transporter: new GuardedTransporter(agents, conn.tokenUri, signal),
  });
  const storage = new Storage({
    projectId: conn.projectId,
    apiEndpoint: conn.endpoint,
    // A custom endpoint still gets the service account's token (the library skips auth otherwise).
    useAuthWithCustomEndpoint: true,
    authClient,
    retryOptions: { autoRetry: true, maxRetries: MAX_ATTEMPTS - 1 },
  });
  // createWriteStream's resumable path does not pass useAuthWithCustomEndpoint on (7.22), so
  // for an endpoint outside the universe it would upload with a bare, unauthenticated gaxios
  // (and its default agent). An endpoint's own host counts as inside the universe: the
  // session's authenticated, guarded client is kept. The universe is otherwise used only for
  // signed URLs and notifications, which the connector does not make.
  if (conn.endpoint !== GOOGLE_STORAGE_ENDPOINT) storage.universeDomain = new URL(conn.endpoint).hostname;
  const gaxiosAgent = (target: URL) => (target.protocol === "http:" ? agents.http : agents.https);
  storage.interceptors.push({
    request: (reqOpts) => {
      (reqOpts as unknown as Record<PropertyKey, unknown>)[AGENTS] = agents;
      // Also the options every resumable request is built on: should the library ever send
      // one through another gaxios than our transporter, it still connects through the guard.
      (reqOpts as unknown as Record<string, unknown>).agent = gaxiosAgent;
      return reqOpts as Parameters<typeof storage.request>[0];
    },
  });
  return {
    storage,
    bucket: storage.bucket(conn.bucket),
    async abandonUpload(uri) {
      if (closed) return;
      // The cached access token (no new token request: the task's signal may be aborted).
      const token = (authClient.credentials.access_token ?? "") as string;
      const target = new URL(uri);
      if (!token || (target.protocol !== "http:" && target.protocol !== "https:")) return;
      await new Promise<void>((resolve) => {
        const send = target.protocol === "http:" ? httpRequest : httpsRequest;
        const req = send(target, {
          method: "DELETE",
          agent: target.protocol === "http:" ? agents.http : agents.https,
          headers: { authorization: `Bearer ${token}`, "content-length": "0" },
          timeout: ABANDON_TIMEOUT_MS,
        }, (res) => {
          res.resume();
          res.on("end", resolve).on("error", () => resolve());
        });
        req.on("timeout", () => req.destroy()).on("error", () => resolve()).on("close", () => resolve());
        req.end();
      });
    },
    close() {
      if (closed) return;
      closed = true;
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

/** What the failing call was doing, to name it in the message. */
export interface GcsFailure {
  direction: "import" | "export";
  conn: GcsConnection;
  object?: string;
  /** The task's signal: aborted means canceled (or the task's own time limit). */
  signal: AbortSignal;
}


/** The parts of the client's errors we read (ApiError, GaxiosError, node-fetch's FetchError). */
interface ClientError {
  name?: string;
  code?: unknown;
  status?: unknown;
  message?: string;
  errors?: Array<{ reason?: string; message?: string }>;
  response?: { status?: number; data?: unknown; config?: { url?: unknown } };
  config?: { url?: unknown };
}

/**
 * Maps an error of the client (or of the guarded agents) to an AppError whose message names
 * the bucket and object but no credential; the store's own message goes to `detail`, with any
 * credential scrubbed from it. The client's error is never attached as `cause`: it holds the
 * request (with the signed assertion or the access token).
 */
export function toGcsAppError(err: unknown, failure: GcsFailure): AppError {
  const { conn, object, direction } = failure;
  const scrub = (text: string) => scrubGcsSecrets(text, conn);
  if (isAppError(err)) return redactAppError(err, scrub);
  if (failure.signal.aborted) return new AppError("canceled", "The task was stopped before the Google Cloud Storage transfer finished.");
  const e = (err ?? {}) as ClientError;
  const message = typeof e.message === "string" ? e.message : String(err);
  const status = typeof e.code === "number" ? e.code : typeof e.status === "number" ? e.status : e.response?.status;
  const code = typeof e.code === "string" ? e.code : undefined;
  const body = parseErrorBody(message);
  const reason = e.errors?.[0]?.reason ?? body.reason;
  const storeMessage = body.message ?? e.errors?.[0]?.message ?? message;
  const url = String(e.config?.url ?? e.response?.config?.url ?? "");
  const fromTokenEndpoint = url === conn.tokenUri || /invalid_grant|invalid_client|unauthorized_client|invalid_scope/.test(message);
  const detail = scrub(`${e.name ?? "Error"}${status ? ` (HTTP ${status})` : ""}${reason ? ` ${reason}` : ""}: ${storeMessage}`).slice(0, 2000);
  const failCode: ErrorCode = direction === "import" ? "download_failed" : "processing_failed";
  const bucket = `"${conn.bucket}"`;

  if (code === "outbound_refused") {
    // node-fetch and gaxios wrap the guarded agent's refusal; its own words follow "reason: ".
    const refusal = message.includes("reason: ") ? message.slice(message.indexOf("reason: ") + 8) : message;
    return new AppError("outbound_refused", scrub(refusal));
  }
  if (code === "ABORT_ERR" || e.name === "AbortError") return new AppError("canceled", "The Google Cloud Storage transfer was stopped.", { detail });
  if (fromTokenEndpoint) {
    return new AppError(failCode, `The OAuth token endpoint refused the service account's credentials (${body.reason ?? (message.split(":")[0] || "refused")}); check client_email and private_key.`, { detail });
  }
  if (status === 401 || reason === "authError") {
    return new AppError(failCode, `Google Cloud Storage refused the service account's credentials for bucket ${bucket}.`, { detail });
  }
  if (status === 403 || reason === "forbidden") {
    const what = object !== undefined ? `object "${object}" in bucket ${bucket}` : `bucket ${bucket}`;
    return new AppError(failCode, `The service account may not ${direction === "import" ? "read" : "write"} ${what} (access denied).`, { detail });
  }
  if (status === 404 || reason === "notFound") {
    if (/bucket/i.test(storeMessage) || object === undefined) return new AppError(failCode, `The bucket ${bucket} does not exist.`, { detail });
    return new AppError(failCode, `There is no object "${object}" in bucket ${bucket}.`, { detail });
  }
  if (code === "CONTENT_DOWNLOAD_MISMATCH" || code === "FILE_NO_UPLOAD" || /checksum|mismatch/i.test(message)) {
    return new AppError(failCode, `The content of "${object ?? ""}" in bucket ${bucket} failed its checksum check in transit.`, { detail, retryable: true });
  }
  if (code === "ETIMEDOUT" || isUnreachableCode(code)) {
    return new AppError(failCode, `Google Cloud Storage could not be reached (${code}).`, { detail, retryable: true });
  }
  if (code === "ERR_OSSL_UNSUPPORTED" || /DECODER|PEM|private key/i.test(message)) {
    return new AppError(failCode, `The private_key could not sign the service account's token request; give the PEM key of the service account's JSON key file.`, { detail: "the key could not be read" });
  }
  const answered = typeof status === "number" ? `answered HTTP ${status}${reason ? ` (${reason})` : ""}` : "failed";
  return new AppError(failCode, `The Google Cloud Storage transfer of bucket ${bucket} ${answered}.`, { detail, retryable: typeof status === "number" && status >= 500 });
}

/** The `error` of a JSON error body, when `text` is one (downloads carry the body as the message). */
function parseErrorBody(text: string): { reason?: string; message?: string } {
  const start = text.indexOf("{");
  if (start < 0) return {};
  try {
    const parsed = JSON.parse(text.slice(start)) as { error?: unknown; error_description?: unknown };
    if (typeof parsed.error === "string") return { reason: parsed.error, ...(typeof parsed.error_description === "string" ? { message: parsed.error_description } : {}) };
    const inner = parsed.error as { message?: unknown; errors?: Array<{ reason?: unknown }> } | undefined;
    if (!inner || typeof inner !== "object") return {};
    const reason = inner.errors?.[0]?.reason;
    return { ...(typeof reason === "string" ? { reason } : {}), ...(typeof inner.message === "string" ? { message: inner.message } : {}) };
  } catch {
    return {};
  }
}

/** JWTs (signed assertions), bearer tokens and PEM blocks, wherever they show up. */
const TOKEN_PATTERNS = [/-----BEGIN [A-Z ]+-----[\s\S]*?(-----END [A-Z ]+-----|$)/g, /eyJ[\w-]+\.[\w-]+\.[\w-]+/g, /Bearer\s+[\w.~+/=-]+/gi, /ya29\.[\w.-]+/g];

/** `text` with the private key (whole or any line of it) and any token replaced by "*****". */
export function scrubGcsSecrets(text: string, conn: GcsConnection): string {
  let out = text;
  for (const pattern of TOKEN_PATTERNS) out = out.replace(pattern, REDACTED);
  return redactSecrets(out, [conn.privateKey, ...conn.privateKey.split("\n").filter((line) => line.length >= 16 && !line.startsWith("-----"))]);
}
