/** Shared types of the job engine. */
import type { StoredFile } from "@transmute/core";
import type { PrismaClient } from "@transmute/db";
import type { EventBus, TaskQueue } from "@transmute/queue";

/** The logger the engine writes to (pino's shape). */
export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

/** Settings of the job engine, from the typed config. */
export interface EngineSettings {
  /** Base of every link the API returns, without a trailing slash. */
  publicUrl: string;
  /** The secret that signs upload and download links. */
  secret: string;
  uploadSizeLimit: number;
  uploadExpiresSeconds: number;
  fileRetentionSeconds: number;
  /** A claimed task whose heartbeat is older than this is taken back. */
  staleAfterSeconds: number;
  /** Attempts after which a task whose worker keeps disappearing fails with worker_lost. */
  maxAttempts: number;
  /** Largest `timeout` a task may ask for, seconds (absent: any; the worker clamps it anyway). */
  taskTimeoutMaxSeconds?: number;
}

/** Everything the job engine needs. */
export interface EngineDeps {
  prisma: PrismaClient;
  queue: TaskQueue;
  events: EventBus;
  log: Logger;
  settings: EngineSettings;
  /** Called after every commit that may have written outbox rows (kicks the relay). */
  onCommit?: () => void;
}

/** A file to record for a task (already committed to storage). */
export type NewFile = StoredFile;
