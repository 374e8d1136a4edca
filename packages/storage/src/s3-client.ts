/** The S3 client of the S3 BlobStore: its own keep-alive agents, timeouts and quiet logger. */
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { S3Client } from "@aws-sdk/client-s3";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import type { S3StoreOptions } from "./s3-store.js";

/** Longest wait for a TCP (and TLS) connection to the store. */
const CONNECT_TIMEOUT_MS = 15_000;
/** Longest silence of an open connection before the request fails. */
const IDLE_TIMEOUT_MS = 60_000;

/**
 * A client for the store's bucket; `close` releases every connection. Path-style addressing is
 * the default with a custom endpoint: most S3-compatible stores have no per-bucket host names.
 */
export function createStoreClient(options: S3StoreOptions): { client: S3Client; close(): void } {
  const agentOptions = { keepAlive: true, maxSockets: 32 };
  const httpAgent = new HttpAgent(agentOptions);
  const httpsAgent = new HttpsAgent(agentOptions);
  const client = new S3Client({
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    forcePathStyle: options.forcePathStyle ?? Boolean(options.endpoint),
    credentials: {
      accessKeyId: options.accessKeyId,
      secretAccessKey: options.secretAccessKey,
      ...(options.sessionToken ? { sessionToken: options.sessionToken } : {}),
    },
    requestHandler: new NodeHttpHandler({ httpAgent, httpsAgent, connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: IDLE_TIMEOUT_MS }),
    maxAttempts: 3,
    // The SDK's default CRC trailers (aws-chunked) are refused by many S3-compatible stores.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    // Never the SDK's console logger: its debug output could carry signed headers.
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {} },
  });
  return {
    client,
    close() {
      client.destroy();
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
