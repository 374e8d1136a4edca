/**
 * The webhook delivery loop, run by every worker process. Embedded, it claims due delivery rows
 * (SKIP LOCKED with a lease, so no two senders take the same one) and sends them. Scaled out,
 * it hands each due delivery to the BullMQ queue `webhook` (one message per attempt, deduplicated
 * by delivery id and attempt number) and every worker consumes that queue, claiming the delivery
 * by id before sending, so a duplicate or stale message sends nothing. Either way: POST the
 * signed body, record the attempt. Woken by job and task events after their commit, polling as a
 * fallback; no job ever waits for it. The rows (and the Redis messages) survive restarts.
 */
import { createHmac } from "node:crypto";
import type { EngineDeps } from "@transmute/jobs";
import { startKickLoop, claimDelivery, claimDueDeliveries, getJobView, listDueDeliveries, pruneWebhookDeliveries, recordDeliveryAttempt, type AttemptOutcome, type ClaimedDelivery } from "@transmute/jobs";
import { safeFetch, type OutboundPolicy } from "@transmute/outbound";

/** Settings of the delivery loop. */
export interface WebhookDeliverySettings {
  /** Longest an attempt may take, headers and the read of the answer included. */
  timeoutSeconds: number;
  /** Wait before a failed attempt is retried. */
  retrySeconds: number;
  /** Fallback poll interval, ms (default 1000). */
  pollMs?: number;
}

/** A running delivery loop. */
export interface WebhookDelivery {
  /** Asks for a pass now. */
  kick(): void;
  close(): Promise<void>;
}

/** Most of a receiver's answer that is read before the connection is dropped. */
export const WEBHOOK_RESPONSE_READ_LIMIT = 64 * 1024;

/** The queue (engine class) that carries webhook deliveries; a message's taskId is the delivery id. */
export const WEBHOOK_QUEUE = "webhook";

/** Deliveries sent at once per worker process from the queue. */
const QUEUE_CONCURRENCY = 8;

/** The hex HMAC-SHA256 of the raw body with the signing secret (the FreeConvert-Signature header). */
export function signWebhookBody(body: string, secret: string): string {
  return createHmac("sha256", secret).update(body).digest("hex");
}

/** Starts the loop. */
export function startWebhookDelivery(engine: EngineDeps, outbound: OutboundPolicy, settings: WebhookDeliverySettings): WebhookDelivery {
  const inFlight = new Set<Promise<void>>();
  let closed = false;
  // The lease outlives the attempt's own timeout, so a live sender always finishes first.
  const leaseSeconds = settings.timeoutSeconds + 30;
  const queued = engine.queue.kind === "bullmq";

  const work = async (): Promise<void> => {
    if (queued) {
      for (const due of await listDueDeliveries(engine.prisma)) {
        await engine.queue.enqueue(WEBHOOK_QUEUE, { taskId: due.id }, `webhook-${due.id}-${due.attempts}`);
      }
      return;
    }
    for (;;) {
      const claimed = await claimDueDeliveries(engine.prisma, leaseSeconds);
      if (claimed.length === 0) break;
      // Sent side by side, so one hanging receiver does not hold the others up.
      await Promise.all(claimed.map((d) => track(deliver(d))));
      if (closed) break;
    }
  };
  const track = (p: Promise<void>): Promise<void> => {
    inFlight.add(p);
    return p.finally(() => inFlight.delete(p));
  };

  const deliver = async (delivery: ClaimedDelivery): Promise<void> => {
    const body = JSON.stringify({ event: delivery.event, job: await loadJob(engine, delivery) });
    const outcome = await postWebhook(delivery, body, outbound, settings.timeoutSeconds * 1000);
    const status = await recordDeliveryAttempt(engine.prisma, delivery, outcome, settings.retrySeconds);
    engine.log.info({ delivery: delivery.id, event: delivery.event, attempt: delivery.attempts, responseCode: outcome.responseCode, status }, "webhook attempt");
  };

  const consumer = queued
    ? engine.queue.consume(
        [WEBHOOK_QUEUE],
        async ({ taskId }) => {
          const delivery = await claimDelivery(engine.prisma, taskId, leaseSeconds);
          if (delivery) await track(deliver(delivery));
        },
        { concurrency: QUEUE_CONCURRENCY },
      )
    : null;

  const loop = startKickLoop(work, {
    pollMs: settings.pollMs ?? 1000,
    onError: (err) => engine.log.warn({ err }, "webhook delivery pass failed; will retry"),
  });
  const kick = loop.kick;
  // The attempt log is kept a week; any worker may prune (deleting twice is harmless).
  const pruner = setInterval(() => {
    pruneWebhookDeliveries(engine.prisma).catch((err) => engine.log.warn({ err }, "pruning webhook deliveries failed"));
  }, 600_000);
  pruner.unref();
  // Job and task events arrive after their commit: the deliveries they wrote are due now.
  const unsubscribe = engine.events.subscribe((event) => {
    if (event.type.startsWith("job.") || event.type.startsWith("task.")) kick();
  });
  kick();
  return {
    kick,
    async close() {
      closed = true;
      await loop.close();
      clearInterval(pruner);
      unsubscribe();
      await consumer?.close();
      await Promise.allSettled([...inFlight]);
    },
  };
}

/** The job as GET /v1/process/jobs/{id} shows it now; a deleted job is just its id. */
async function loadJob(engine: EngineDeps, delivery: ClaimedDelivery): Promise<unknown> {
  try {
    return await getJobView(engine.prisma, engine.settings, delivery.accountId, delivery.jobId);
  } catch {
    return { id: delivery.jobId, status: "deleted" };
  }
}

/** One POST; never throws: a failure is a response code. */
export async function postWebhook(delivery: ClaimedDelivery, body: string, outbound: OutboundPolicy, timeoutMs: number): Promise<AttemptOutcome> {
  const started = Date.now();
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "user-agent": "Transmute-Webhooks",
    "x-transmute-delivery": delivery.id,
    "x-transmute-event": delivery.event,
  };
  if (delivery.signingSecret) headers["freeconvert-signature"] = signWebhookBody(body, delivery.signingSecret);
  try {
    const res = await safeFetch(delivery.url, { policy: outbound, method: "POST", headers, body, timeoutMs, followRedirects: false });
    await readSome(res.body, WEBHOOK_RESPONSE_READ_LIMIT);
    return { responseCode: String(res.status), durationMs: Date.now() - started };
  } catch (err) {
    const timedOut = /timed out/i.test(String((err as Error)?.message));
    return { responseCode: timedOut ? "TIMEOUT" : "NETWORK_ERROR", durationMs: Date.now() - started };
  }
}

/** Reads up to `limit` bytes of an answer, then drops the connection. */
async function readSome(body: NodeJS.ReadableStream & { destroy(): void }, limit: number): Promise<void> {
  let read = 0;
  try {
    for await (const chunk of body) {
      read += (chunk as Buffer).length;
      if (read >= limit) break;
    }
  } catch {
    // The status is what counts; a broken answer body does not change it.
  } finally {
    body.destroy();
  }
}
