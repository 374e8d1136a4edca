/**
 * A real S3-compatible server for tests: s3rver on a free loopback port, its data in a temp
 * directory, with the given buckets. Every request it receives is recorded (method and URL),
 * so a test can see what the client sent (multipart parts, for one). s3rver knows one
 * account, S3RVER / S3RVER.
 */
import { mkdtemp, rm } from "node:fs/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { S3Client } from "@aws-sdk/client-s3";
// @ts-expect-error s3rver ships no types.
import S3rver from "s3rver";

/** The access key id and secret s3rver accepts. */
export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

/** A running s3rver. */
export interface TestS3Server {
  /** http://127.0.0.1:port */
  endpoint: string;
  /** Requests received, in order: "PUT /bucket/key?partNumber=1&uploadId=...". */
  requests: string[];
  /** A client of this server (path-style, us-east-1, the default credentials). */
  client: S3Client;
  close(): Promise<void>;
}

/** Starts s3rver on 127.0.0.1 with `buckets` created. */
export async function startS3Server(buckets: string[]): Promise<TestS3Server> {
  const directory = await mkdtemp(join(tmpdir(), "transmute-s3rver-"));
  const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory, configureBuckets: buckets.map((name) => ({ name })) });
  const address = (await server.run()) as AddressInfo;
  const requests: string[] = [];
  (server.httpServer as Server).prependListener("request", (req) => requests.push(`${req.method} ${req.url}`));
  const endpoint = `http://127.0.0.1:${address.port}`;
  const client = new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  return {
    endpoint,
    requests,
    client,
    async close() {
      client.destroy();
      (server.httpServer as Server).closeAllConnections();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
