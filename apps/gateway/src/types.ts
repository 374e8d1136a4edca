/** What the gateway needs, wired by the server app. */
import type { EngineDeps } from "@transmute/jobs";
import type { BlobStore } from "@transmute/storage";
import type { FastifyBaseLogger } from "fastify";

/** Gateway settings from the typed config. */
export interface GatewaySettings {
  publicUrl: string;
  /** Bound of the /wait endpoints, seconds. */
  waitTimeoutSeconds: number;
  /** Body limit of the routes that may carry base64 files, bytes. */
  base64BodyLimit: number;
  /** Largest upload, bytes. */
  uploadSizeLimit: number;
}

/** The gateway's dependencies. */
export interface GatewayDeps {
  engine: EngineDeps;
  storage: BlobStore;
  settings: GatewaySettings;
  logger: FastifyBaseLogger;
  /** Aborted when the gateway starts closing: waits answer at once with the current state. */
  closing?: AbortSignal;
}

declare module "fastify" {
  interface FastifyRequest {
    /** The account of the request's API key (set by the auth hook on authenticated routes). */
    accountId: string;
  }
}
