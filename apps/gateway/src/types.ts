/** What the gateway needs, wired by the server app. */
import type { EngineDeps, FilewallSettings } from "@transmute/jobs";
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
  /** GET downloads of one exported file before its link answers 410 overuse (0: unlimited). */
  maxDownloads: number;
  /** Proxies whose X-Forwarded-* headers are believed (addresses or CIDRs); empty: none. */
  trustProxy: readonly string[];
  /** Requests a minute: per API key (read, write) and per client address without a key (0: no limit). */
  rateLimits: RateLimits;
  /** Redis shared by the gateways (scaled out), or null: limits are counted in this process. */
  redis: { url: string; prefix: string } | null;
  /** The Filewall facade's limits (config.filewall). */
  filewall: FilewallSettings;
}

/** Requests a minute each limited class allows (0: no limit). */
export interface RateLimits {
  /** GET and HEAD with an API key. */
  read: number;
  /** POST, PUT, PATCH and DELETE with an API key. */
  write: number;
  /** The public query endpoints without a key, per client address. */
  anonymous: number;
}

/** Checks a URL before any connection (the outbound policy's checkUrl). */
export interface UrlChecker {
  checkUrl(url: string | URL): { allowed: true } | { allowed: false; rule: string };
}

/** The gateway's dependencies. */
export interface GatewayDeps {
  engine: EngineDeps;
  storage: BlobStore;
  settings: GatewaySettings;
  logger: FastifyBaseLogger;
  /** The outbound policy webhook URLs are checked against when given (TRANSMUTE_OUTBOUND_ALLOW). */
  outbound?: UrlChecker;
  /** Aborted when the gateway starts closing: waits answer at once with the current state. */
  closing?: AbortSignal;
}

declare module "fastify" {
  interface FastifyRequest {
    /** The account of the request's API key (set by the auth hook on authenticated routes). */
    accountId: string;
  }
}
