/**
 * Webhooks: management of an account's webhooks, the delivery rows written in the transaction
 * of each state change (so there is exactly one per event and webhook, whoever commits it, and
 * none is lost while nothing runs), and the claim/record steps the delivery loop uses.
 */
import { AppError } from "@transmute/core";
import type { PrismaClient } from "@transmute/db";
import { randomBytes, randomUUID } from "node:crypto";
import { buildPageEnvelope, pageWindow, type PageEnvelope } from "./paging.js";
import type { Tx } from "./tx.js";

/** The event names a webhook may subscribe to; job.finished is the reference's other name for job.success. */
export const WEBHOOK_EVENTS = ["job.created", "job.success", "job.finished", "job.failed", "task.completed", "task.failed"] as const;

/** Which subscriber names each engine event is delivered under. */
const SUBSCRIBED_NAMES: Record<string, readonly string[]> = {
  "job.created": ["job.created"],
  "job.completed": ["job.success", "job.finished"],
  "job.failed": ["job.failed"],
  "task.completed": ["task.completed"],
  "task.failed": ["task.failed"],
};

/** Attempts per delivery: the first and 3 retries, as the reference says. */
export const WEBHOOK_MAX_ATTEMPTS = 4;

/** A webhook as the API shows it (the reference's Webhook object). */
export interface WebhookView {
  id: string;
  name: string;
  status: string;
  events: string[];
  url: string;
  signingSecret: string;
  createdAt: string;
  updatedAt: string;
  lastErrorAt: string | null;
  lastResponseCode: string | null;
  links: { self: string };
}

interface WebhookRow {
  id: string;
  name: string;
  status: string;
  events: string[];
  url: string;
  signingSecret: string;
  createdAt: Date;
  updatedAt: Date;
  lastErrorAt: Date | null;
  lastResponseCode: string | null;
}

/** Serialises a webhook row. */
export function toWebhookView(publicUrl: string, row: WebhookRow): WebhookView {
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    events: row.events,
    url: row.url,
    signingSecret: row.signingSecret,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    lastErrorAt: row.lastErrorAt?.toISOString() ?? null,
    lastResponseCode: row.lastResponseCode,
    links: { self: `${publicUrl}/v1/webhooks/${row.id}` },
  };
}

/** Checks an `events` field: a non-empty array of known names; returns them deduplicated, in the given order. */
export function parseWebhookEvents(value: unknown, field = "events"): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.some((v) => typeof v !== "string")) {
    throw new AppError("invalid_request", `"${field}" must be a non-empty array of event names; valid: ${WEBHOOK_EVENTS.join(", ")}.`);
  }
  const unknown = value.filter((v) => !(WEBHOOK_EVENTS as readonly string[]).includes(v));
  if (unknown.length > 0) {
    throw new AppError("invalid_request", `"${field}" holds unknown event names: ${unknown.join(", ")}; valid: ${WEBHOOK_EVENTS.join(", ")}.`);
  }
  return [...new Set(value as string[])];
}

/** The subscriber's name for an engine event, or null when the webhook does not want it. */
export function pickSubscribedName(eventType: string, events: readonly string[]): string | null {
  const names = SUBSCRIBED_NAMES[eventType];
  if (!names) return null;
  return events.find((e) => names.includes(e)) ?? null;
}

/**
 * Writes the deliveries of one engine event, inside the transaction that emits it: one per
 * matching active webhook of the account, and one to the job's own webhook_url for its end.
 */
export async function queueWebhookDeliveries(tx: Tx, type: string, ids: { accountId: string; jobId: string }): Promise<void> {
  if (!SUBSCRIBED_NAMES[type]) return;
  const hooks = await tx.webhook.findMany({ where: { accountId: ids.accountId, status: "active" }, select: { id: true, events: true } });
  const rows: Array<{ id: string; webhookId: string | null; url: string | null; accountId: string; event: string; jobId: string }> = [];
  for (const hook of hooks) {
    const event = pickSubscribedName(type, hook.events);
    if (event) rows.push({ id: randomUUID(), webhookId: hook.id, url: null, accountId: ids.accountId, event, jobId: ids.jobId });
  }
  if (type === "job.completed" || type === "job.failed") {
    const job = await tx.job.findUnique({ where: { id: ids.jobId }, select: { webhookUrl: true } });
    if (job?.webhookUrl) {
      rows.push({ id: randomUUID(), webhookId: null, url: job.webhookUrl, accountId: ids.accountId, event: type === "job.completed" ? "job.finished" : "job.failed", jobId: ids.jobId });
    }
  }
  if (rows.length > 0) await tx.webhookDelivery.createMany({ data: rows });
}

/** Lists an account's webhooks, optionally only those with exactly `url`, in the reference's page envelope. */
export async function listWebhooks(
  prisma: PrismaClient,
  publicUrl: string,
  accountId: string,
  opts: { url?: string; page: number; perPage: number },
): Promise<PageEnvelope<WebhookView>> {
  const where = { accountId, ...(opts.url !== undefined ? { url: opts.url } : {}) };
  const total = await prisma.webhook.count({ where });
  const window = pageWindow(opts.page, opts.perPage, total);
  const rows = window ? await prisma.webhook.findMany({ where, orderBy: [{ createdAt: "asc" }, { id: "asc" }], ...window }) : [];
  return buildPageEnvelope(rows.map((r) => toWebhookView(publicUrl, r)), total, opts.page, opts.perPage);
}

/** Creates a webhook with a fresh signing secret. The URL must already be checked. */
export async function createWebhook(
  prisma: PrismaClient,
  publicUrl: string,
  accountId: string,
  input: { url: string; events: string[]; name?: string },
): Promise<WebhookView> {
  const row = await prisma.webhook.create({
    data: { id: randomUUID(), accountId, url: input.url, events: input.events, name: input.name ?? "", signingSecret: randomBytes(24).toString("hex") },
  });
  return toWebhookView(publicUrl, row);
}

/** Loads one of the account's webhooks; another account's is not_found. */
async function findOwnWebhook(prisma: PrismaClient, accountId: string, id: string): Promise<WebhookRow> {
  const row = /^[0-9a-f-]{36}$/i.test(id) ? await prisma.webhook.findFirst({ where: { id, accountId } }) : null;
  if (!row) throw new AppError("not_found", `No webhook with id "${id}".`);
  return row;
}

/** Shows one webhook. */
export async function getWebhook(prisma: PrismaClient, publicUrl: string, accountId: string, id: string): Promise<WebhookView> {
  return toWebhookView(publicUrl, await findOwnWebhook(prisma, accountId, id));
}

/** Changes a webhook: url, events, name, status (active re-enables a disabled webhook). */
export async function updateWebhook(
  prisma: PrismaClient,
  publicUrl: string,
  accountId: string,
  id: string,
  input: { url?: string; events?: string[]; name?: string; status?: "active" | "inactive" },
): Promise<WebhookView> {
  await findOwnWebhook(prisma, accountId, id);
  const row = await prisma.webhook.update({ where: { id }, data: input });
  return toWebhookView(publicUrl, row);
}

/** Deletes a webhook with its pending deliveries and attempt log. */
export async function deleteWebhook(prisma: PrismaClient, accountId: string, id: string): Promise<void> {
  await findOwnWebhook(prisma, accountId, id);
  await prisma.webhook.delete({ where: { id } });
}

/** One entry of a webhook's attempt log. */
export interface WebhookAttemptView {
  id: string;
  deliveryId: string;
  event: string;
  at: string;
  responseCode: string;
  durationMs: number;
}

/** A webhook's attempts, newest first, in the page envelope. */
export async function listWebhookAttempts(
  prisma: PrismaClient,
  accountId: string,
  id: string,
  opts: { page: number; perPage: number },
): Promise<PageEnvelope<WebhookAttemptView>> {
  await findOwnWebhook(prisma, accountId, id);
  const where = { webhookId: id };
  const total = await prisma.webhookAttempt.count({ where });
  const window = pageWindow(opts.page, opts.perPage, total);
  const rows = window ? await prisma.webhookAttempt.findMany({ where, orderBy: [{ at: "desc" }, { id: "desc" }], ...window }) : [];
  const docs = rows.map((r) => ({ id: String(r.id), deliveryId: r.deliveryId, event: r.event, at: r.at.toISOString(), responseCode: r.responseCode, durationMs: r.durationMs }));
  return buildPageEnvelope(docs, total, opts.page, opts.perPage);
}

/** A delivery claimed for one attempt. */
export interface ClaimedDelivery {
  id: string;
  webhookId: string | null;
  /** The webhook's URL, or the job's webhook_url. */
  url: string;
  /** Null for a job's webhook_url: there is no secret to sign with. */
  signingSecret: string | null;
  accountId: string;
  event: string;
  jobId: string;
  /** This attempt's number, from 1. */
  attempts: number;
}

/**
 * Claims up to `limit` due deliveries for one attempt each. The claim pushes nextAttemptAt
 * past the attempt's lease in the same statement (SKIP LOCKED), so no other process sends the
 * same delivery meanwhile, and one whose sender died becomes due again when the lease ends.
 */
export async function claimDueDeliveries(prisma: PrismaClient, leaseSeconds: number, limit = 20): Promise<ClaimedDelivery[]> {
  const rows = await prisma.$queryRaw<ClaimedRow[]>`
    WITH due AS (
      SELECT id FROM "WebhookDelivery"
      WHERE status = 'pending' AND "nextAttemptAt" <= now()
      ORDER BY "nextAttemptAt" LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    )
    UPDATE "WebhookDelivery" d
    SET "nextAttemptAt" = now() + make_interval(secs => ${leaseSeconds}::double precision), attempts = d.attempts + 1, "updatedAt" = now()
    FROM due
    WHERE d.id = due.id
    RETURNING d.id, d."webhookId", d.url, d."accountId", d.event, d."jobId", d.attempts,
      (SELECT w.url FROM "Webhook" w WHERE w.id = d."webhookId") AS "hookUrl",
      (SELECT w."signingSecret" FROM "Webhook" w WHERE w.id = d."webhookId") AS "hookSecret",
      (SELECT w.status FROM "Webhook" w WHERE w.id = d."webhookId") AS "hookStatus"`;
  return settleClaimed(prisma, rows);
}

/**
 * Claims one delivery by id (a queue message), if it is still pending and due: the same lease
 * as claimDueDeliveries, so a duplicate or stale message claims nothing.
 */
export async function claimDelivery(prisma: PrismaClient, id: string, leaseSeconds: number): Promise<ClaimedDelivery | null> {
  const rows = await prisma.$queryRaw<ClaimedRow[]>`
    UPDATE "WebhookDelivery" d
    SET "nextAttemptAt" = now() + make_interval(secs => ${leaseSeconds}::double precision), attempts = d.attempts + 1, "updatedAt" = now()
    WHERE d.id = ${id}::uuid AND d.status = 'pending' AND d."nextAttemptAt" <= now()
    RETURNING d.id, d."webhookId", d.url, d."accountId", d.event, d."jobId", d.attempts,
      (SELECT w.url FROM "Webhook" w WHERE w.id = d."webhookId") AS "hookUrl",
      (SELECT w."signingSecret" FROM "Webhook" w WHERE w.id = d."webhookId") AS "hookSecret",
      (SELECT w.status FROM "Webhook" w WHERE w.id = d."webhookId") AS "hookStatus"`;
  return (await settleClaimed(prisma, rows))[0] ?? null;
}

/** Due deliveries (not claimed), to hand to a queue; `attempts` makes each attempt's dedupe key. */
export async function listDueDeliveries(prisma: PrismaClient, limit = 200): Promise<Array<{ id: string; attempts: number }>> {
  return prisma.webhookDelivery.findMany({
    where: { status: "pending", nextAttemptAt: { lte: new Date() } },
    select: { id: true, attempts: true },
    orderBy: { nextAttemptAt: "asc" },
    take: limit,
  });
}

type ClaimedRow = Omit<ClaimedDelivery, "url" | "signingSecret"> & { url: string | null; hookUrl: string | null; hookSecret: string | null; hookStatus: string | null };

/** Turns claimed rows into deliveries, ending those whose webhook was disabled meanwhile. */
async function settleClaimed(prisma: PrismaClient, rows: ClaimedRow[]): Promise<ClaimedDelivery[]> {
  const out: ClaimedDelivery[] = [];
  for (const r of rows) {
    // A webhook disabled after the event was queued gets nothing more.
    if (r.webhookId && r.hookStatus !== "active") {
      await prisma.webhookDelivery.update({ where: { id: r.id }, data: { status: "failed" } });
      continue;
    }
    out.push({ id: r.id, webhookId: r.webhookId, url: r.hookUrl ?? r.url ?? "", signingSecret: r.hookSecret, accountId: r.accountId, event: r.event, jobId: r.jobId, attempts: r.attempts });
  }
  return out;
}

/** How long ended deliveries (and their attempt log) are kept. */
export const WEBHOOK_LOG_RETENTION_DAYS = 7;

/** Deletes deliveries that ended more than WEBHOOK_LOG_RETENTION_DAYS ago, with their attempts; returns how many. */
export async function pruneWebhookDeliveries(prisma: PrismaClient, now = new Date()): Promise<number> {
  const before = new Date(now.getTime() - WEBHOOK_LOG_RETENTION_DAYS * 86_400_000);
  const { count } = await prisma.webhookDelivery.deleteMany({ where: { status: { in: ["delivered", "failed"] }, updatedAt: { lt: before } } });
  return count;
}

/** The outcome of one attempt: an HTTP status, or NETWORK_ERROR / TIMEOUT. */
export interface AttemptOutcome {
  responseCode: string;
  durationMs: number;
}

/**
 * Records an attempt: a 2xx delivers; a 410 disables the webhook; anything else is retried
 * after `retrySeconds` until WEBHOOK_MAX_ATTEMPTS. Returns the delivery's new status.
 */
export async function recordDeliveryAttempt(
  prisma: PrismaClient,
  delivery: ClaimedDelivery,
  outcome: AttemptOutcome,
  retrySeconds: number,
): Promise<"delivered" | "pending" | "failed"> {
  const ok = /^2\d\d$/.test(outcome.responseCode);
  const gone = outcome.responseCode === "410";
  const status = ok ? "delivered" : gone || delivery.attempts >= WEBHOOK_MAX_ATTEMPTS ? "failed" : "pending";
  const now = new Date();
  await prisma.$transaction(async (tx) => {
    await tx.webhookAttempt.create({
      data: { webhookId: delivery.webhookId, deliveryId: delivery.id, event: delivery.event, at: now, responseCode: outcome.responseCode, durationMs: outcome.durationMs },
    });
    await tx.webhookDelivery.update({
      where: { id: delivery.id },
      data: { status, ...(status === "pending" ? { nextAttemptAt: new Date(now.getTime() + retrySeconds * 1000) } : {}) },
    });
    if (delivery.webhookId && !ok) {
      await tx.webhook.updateMany({
        where: { id: delivery.webhookId },
        data: { lastErrorAt: now, lastResponseCode: outcome.responseCode, ...(gone ? { status: "inactive" } : {}) },
      });
    }
  });
  return status;
}
