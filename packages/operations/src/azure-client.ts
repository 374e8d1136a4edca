/**
 * The Azure Blob Storage client of import/azureblob and export/azureblob (@azure/storage-blob):
 * every connection through an agent of the outbound policy, no proxy from the environment, a
 * short retry budget, and one mapping of the SDK's errors to our codes with messages that never
 * carry a credential (account keys, SAS tokens, and SAS signatures inside URLs).
 *
 * How the agent is forced: StoragePipelineOptions are handed on to core-rest-pipeline's
 * createPipelineFromOptions, which, given `agent`, puts its agentPolicy before the proxyPolicy;
 * the proxy policy leaves a request that already has an agent alone (HTTPS_PROXY, HTTP_PROXY,
 * ALL_PROXY are never used), and the node HTTP client uses `request.agent` when set. The
 * endpoint's scheme is fixed per session, so one agent of that scheme serves every request; a
 * redirect is never followed (the blob service does not redirect), so no request can reach
 * another scheme or host with an agent of the wrong kind.
 */
import type { Agent as HttpAgent, ClientRequestArgs } from "node:http";
import { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { AnonymousCredential, ContainerClient, StorageSharedKeyCredential, newPipeline, type StoragePipelineOptions } from "@azure/storage-blob";
import { AppError, isAppError, redactAppError, redactSecrets, type ErrorCode } from "@transmute/core";
import { createGuardedAgent, isUnreachableCode, retireAgent, type OutboundPolicy } from "@transmute/outbound";

/** Longest silence of a connection in use (no byte either way) before its request fails. */
export const AZURE_IDLE_TIMEOUT_MS = 60_000;
/** Tries of one request on a network error or a 500/503 (the SDK's default is 4 with delays up to 2 minutes). */
const MAX_TRIES = 3;

/** Where and as whom to connect, from the task's payload. */
export interface AzureConnection {
  account: string;
  container: string;
  /** The service URL (no trailing slash): `endpoint` or https://<account>.blob.core.windows.net. */
  serviceUrl: string;
  accountKey: string | undefined;
  /** Without its leading "?". */
  sasToken: string | undefined;
}

/** The connection fields of an import/azureblob or export/azureblob payload (validated at job creation). */
export function azureConnectionOf(payload: Record<string, unknown>): AzureConnection {
  const account = String(payload.storage_account);
  const endpoint = typeof payload.endpoint === "string" ? payload.endpoint : `https://${account}.blob.core.windows.net`;
  return {
    account,
    container: String(payload.container),
    serviceUrl: endpoint.replace(/\/+$/, ""),
    accountKey: typeof payload.storage_access_key === "string" ? payload.storage_access_key : undefined,
    sasToken: typeof payload.sas_token === "string" ? payload.sas_token.replace(/^\?/, "") : undefined,
  };
}

/** A container client, a signal for its calls, and what to release once the operation ends. */
export interface AzureSession {
  container: ContainerClient;
  /** The task's signal (or the handler's own limit); when it fires, the connections are closed. */
  signal: AbortSignal;
  /** Closes every connection and refuses new ones (idempotent). */
  close(): void;
}

/**
 * A session on `conn`'s container whose every connection is checked against `outbound` (an
 * endpoint on a refused address fails with outbound_refused before any byte is sent). A socket
 * in use that sees no byte either way for AZURE_IDLE_TIMEOUT_MS fails its request (ETIMEDOUT,
 * which the SDK retries within its small budget). When `signal` fires, the connections are
 * closed and no new one is opened: stageBlock calls of uploadStream take no abort signal, so
 * closing their sockets is what stops them.
 */
export function createAzureSession(conn: AzureConnection, outbound: OutboundPolicy, signal: AbortSignal): AzureSession {
  const https = conn.serviceUrl.startsWith("https:");
  // `timeout` here too: the agent resets a pooled socket's timeout to its own on every release.
  const agent: HttpAgent = createGuardedAgent(outbound, { https, agentOptions: { keepAlive: true, maxSockets: 8, timeout: AZURE_IDLE_TIMEOUT_MS } });
  let closed = false;
  const watched = new WeakSet<Duplex>();
  const watch = (socket: Duplex | null | undefined) => {
    if (!socket || watched.has(socket) || !(socket instanceof Socket)) return;
    watched.add(socket);
    socket.setTimeout(AZURE_IDLE_TIMEOUT_MS, () => {
      // A kept-alive socket waiting in the pool is just dropped; one in use fails its request.
      const free = Object.values(agent.freeSockets).some((list) => list?.includes(socket));
      socket.destroy(free ? undefined : Object.assign(new Error(`No byte in ${AZURE_IDLE_TIMEOUT_MS / 1000} s.`), { code: "ETIMEDOUT" }));
    });
  };
  const connect = agent.createConnection.bind(agent) as (options: ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void) => Duplex | null | undefined;
  (agent as { createConnection: typeof connect }).createConnection = (options, callback) => {
    const socket = connect(options, (err, stream) => {
      watch(stream);
      callback?.(err, stream);
    });
    watch(socket);
    return socket;
  };
  const options = {
    retryOptions: { maxTries: MAX_TRIES, retryDelayInMs: 800, maxRetryDelayInMs: 5000 },
    userAgentOptions: { userAgentPrefix: "transmute" },
    // Not in StoragePipelineOptions' type, but passed through to createPipelineFromOptions.
    agent,
    redirectOptions: { maxRetries: 0 },
  } as StoragePipelineOptions;
  const credential = conn.accountKey !== undefined ? new StorageSharedKeyCredential(conn.account, conn.accountKey) : new AnonymousCredential();
  const url = `${conn.serviceUrl}/${conn.container}${conn.sasToken !== undefined ? `?${conn.sasToken}` : ""}`;
  const container = new ContainerClient(url, newPipeline(credential, options));
  try {
    assertAgentPolicy(container);
  } catch (err) {
    agent.destroy();
    throw err;
  }
  const close = () => {
    if (closed) return;
    closed = true;
    signal.removeEventListener("abort", close);
    // Retired, not just destroyed: a retry of the SDK must not open a fresh connection.
    retireAgent(agent, "The Azure session");
  };
  signal.addEventListener("abort", close, { once: true });
  return { container, signal, close };
}

/**
 * Fails closed when the SDK did not install our agent ahead of its proxy policy (the `agent`
 * option is passed through SDK internals, which a future version could change): without it,
 * requests would bypass the outbound policy. Reads the client's pipeline, also an internal, so
 * a change there fails closed too.
 */
function assertAgentPolicy(container: ContainerClient): void {
  type Policies = { getOrderedPolicies?(): Array<{ name: string }> };
  const pipeline = (container as unknown as { storageClientContext?: { pipeline?: Policies } }).storageClientContext?.pipeline;
  const names = pipeline?.getOrderedPolicies?.().map((policy) => policy.name) ?? [];
  const agentAt = names.indexOf("agentPolicy");
  const proxyAt = names.indexOf("proxyPolicy");
  if (agentAt < 0 || (proxyAt >= 0 && proxyAt < agentAt)) {
    throw new AppError("internal_error", "The Azure client could not be bound to the outbound policy (an unexpected @azure/storage-blob pipeline); no request was sent.");
  }
}

/** What the failing call was doing, to name it in the message. */
export interface AzureFailure {
  direction: "import" | "export";
  conn: AzureConnection;
  blob?: string;
  /** The task's signal: aborted means canceled (or the task's own time limit). */
  signal: AbortSignal;
}

/** Service error codes of a refused credential (wrong key, bad or expired SAS, missing permission). */
const CREDENTIAL_ERRORS = new Set([
  "AuthenticationFailed",
  "AuthorizationFailure",
  "AuthorizationPermissionMismatch",
  "AuthorizationResourceTypeMismatch",
  "AuthorizationServiceMismatch",
  "AuthorizationProtocolMismatch",
  "AuthorizationSourceIPMismatch",
  "InvalidAuthenticationInfo",
  "NoAuthenticationInformation",
  "InsufficientAccountPermissions",
  "KeyBasedAuthenticationNotPermitted",
]);

/**
 * Maps an error of the SDK (or of the guarded agent) to an AppError whose message names the
 * account, container and blob but no credential; the service's own message goes to `detail`,
 * scrubbed. The SDK error is never attached as `cause`: it holds the request, whose URL carries
 * a SAS and whose headers a signature.
 */
export function toAzureAppError(err: unknown, failure: AzureFailure): AppError {
  const { conn, blob, direction } = failure;
  const scrub = (text: string) => scrubAzureSecrets(text, conn);
  const e = (err ?? {}) as { name?: string; code?: string; message?: string; statusCode?: number };
  // The guarded agent's refusal comes back wrapped in a RestError that kept its code and message.
  if (e.code === "outbound_refused") return new AppError("outbound_refused", scrub(e.message ?? "The outbound policy refused the connection."));
  if (isAppError(err)) return redactAppError(err, scrub);
  if (failure.signal.aborted) return new AppError("canceled", "The task was stopped before the Azure transfer finished.");
  // A RestError without a service code (an answer without an error body) is named by its status.
  const code = e.code ?? (e.statusCode !== undefined ? `HTTP ${e.statusCode}` : (e.name ?? "Error"));
  const status = e.statusCode;
  const detail = scrub(`${code}${status && e.code ? ` (HTTP ${status})` : ""}: ${e.message ?? ""}`);
  const failCode: ErrorCode = direction === "import" ? "download_failed" : "processing_failed";
  const where = `container "${conn.container}" of storage account "${conn.account}"`;
  if (e.name === "AbortError") return new AppError("canceled", "The Azure transfer was stopped.", { detail });
  if (CREDENTIAL_ERRORS.has(code) || status === 403 || status === 401) {
    const kind = conn.sasToken !== undefined ? "SAS token" : "account key";
    return new AppError(failCode, `Azure Storage refused the ${kind} for ${where} (${code}).`, { detail });
  }
  if (code === "ContainerNotFound") return new AppError(failCode, `There is no ${where}.`, { detail });
  if (code === "BlobNotFound") return new AppError(failCode, `There is no blob "${blob ?? ""}" in ${where}.`, { detail });
  // Another 404 is the account or the endpoint's path (an emulator's account segment).
  if (status === 404) return new AppError(failCode, `Azure Storage found no ${where} at ${hostOf(conn)} (${code}).`, { detail });
  if (code === "ETIMEDOUT" || code === "ESOCKETTIMEDOUT") {
    return new AppError("engine_timeout", `Azure Storage at ${hostOf(conn)} sent nothing for ${AZURE_IDLE_TIMEOUT_MS / 1000} s.`, { detail, retryable: true });
  }
  if (isUnreachableCode(code)) return new AppError(failCode, `Azure Storage at ${hostOf(conn)} could not be reached (${code}).`, { detail, retryable: true });
  if (status !== undefined && status >= 300 && status < 400) {
    return new AppError(failCode, `Azure Storage at ${hostOf(conn)} answered with a redirect (HTTP ${status}), which is not followed.`, { detail });
  }
  const answered = status ? `answered ${e.code ? `${code} (HTTP ${status})` : code}` : `failed (${code})`;
  return new AppError(failCode, `The Azure transfer of ${where} ${answered}.`, { detail, retryable: status !== undefined && status >= 500 });
}

/** The endpoint's host (no path, no credential), to name it in messages. */
function hostOf(conn: AzureConnection): string {
  try {
    return new URL(conn.serviceUrl).host;
  } catch {
    return "the endpoint";
  }
}

/**
 * `text` with the account key, the SAS token (as given and URL-encoded) and any SAS signature
 * (`sig=...`, as SDK messages show request URLs) replaced by "*****".
 */
export function scrubAzureSecrets(text: string, conn: Pick<AzureConnection, "accountKey" | "sasToken">): string {
  const secrets = [conn.accountKey, conn.sasToken, conn.sasToken ? safeDecode(conn.sasToken) : undefined].filter((s): s is string => s !== undefined && s.length >= 4);
  const out = redactSecrets(text, new Set(secrets.flatMap((secret) => [secret, encodeURIComponent(secret)])));
  return out.replace(/(^|[?&;\s])sig=[^&\s"'<]+/gi, "$1sig=*****");
}

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}
