/**
 * The one way an S3 client is made here, for the S3 BlobStore and for import/s3 and export/s3:
 * the caller's HTTP agents (the store's own, or the connectors' guarded ones), timeouts,
 * retries, checksum settings S3-compatible stores accept, and no SDK logging.
 */
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { S3Client } from "@aws-sdk/client-s3";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import type { S3StoreOptions } from "./s3-store.js";

/** Longest wait for a TCP (and TLS) connection to the store. */
export const S3_CONNECT_TIMEOUT_MS = 15_000;
/** Longest silence of an open connection (no byte either way) before the request fails. */
export const S3_IDLE_TIMEOUT_MS = 60_000;

/** Where, as whom and through which agents an S3 client connects. */
export interface S3ClientSettings {
  region: string;
  /** An S3-compatible store's URL (default: AWS's endpoint for `region`). */
  endpoint?: string | undefined;
  /** Address the bucket in the path rather than the host name (default: false). */
  forcePathStyle?: boolean;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
  httpAgent: HttpAgent;
  httpsAgent: HttpsAgent;
}

/** An S3 client on `settings`; the caller owns the agents and closes them with the client. */
export function createS3Client(settings: S3ClientSettings): S3Client {
  return new S3Client({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    forcePathStyle: settings.forcePathStyle ?? false,
    credentials: {
      accessKeyId: settings.accessKeyId,
      secretAccessKey: settings.secretAccessKey,
      ...(settings.sessionToken ? { sessionToken: settings.sessionToken } : {}),
    },
    requestHandler: new NodeHttpHandler({
      httpAgent: settings.httpAgent,
      httpsAgent: settings.httpsAgent,
      connectionTimeout: S3_CONNECT_TIMEOUT_MS,
      requestTimeout: S3_IDLE_TIMEOUT_MS,
    }),
    maxAttempts: 3,
    // The SDK's default CRC checksums (aws-chunked trailers) are refused by many S3-compatible
    // stores; MD5/ETag integrity still applies where the API requires a checksum.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    // Never the SDK's console logger: its debug output could carry signed headers.
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {} },
  });
}

/**
 * The S3 BlobStore's client, on keep-alive agents of its own; `close` releases every
 * connection. Path-style addressing is the default with a custom endpoint: most S3-compatible
 * stores have no per-bucket host names.
 */
export function createStoreClient(options: S3StoreOptions): { client: S3Client; close(): void } {
  const agentOptions = { keepAlive: true, maxSockets: 32 };
  const httpAgent = new HttpAgent(agentOptions);
  const httpsAgent = new HttpsAgent(agentOptions);
  const client = createS3Client({ ...options, forcePathStyle: options.forcePathStyle ?? Boolean(options.endpoint), httpAgent, httpsAgent });
  return {
    client,
    close() {
      client.destroy();
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
