/**
 * The /wait endpoints: answer when the job or task has ended, or with the current state after
 * the configured bound. Events wake the wait; the database is re-read each time (and on a slow
 * poll), so a missed event costs at most a poll interval, never a hung request.
 */
import type { DomainEvent } from "@transmute/queue";
import type { FastifyReply } from "fastify";
import type { GatewayDeps } from "./types.js";

/** Waits until `read()` returns a view `isDone` accepts, an event matching `matches` re-reads it. */
export async function waitForEnd<T>(
  deps: GatewayDeps,
  reply: FastifyReply,
  read: () => Promise<T>,
  isDone: (view: T) => boolean,
  matches: (event: DomainEvent) => boolean,
): Promise<T> {
  let view = await read();
  if (isDone(view) || deps.closing?.aborted) return view;
  return new Promise<T>((resolve, reject) => {
    let reading = false;
    let again = false;
    let settled = false;
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(bound);
      clearInterval(poll);
      unsubscribe();
      reply.raw.off("close", onClose);
      deps.closing?.removeEventListener("abort", onClose);
      if (err) reject(err);
      else resolve(view);
    };
    const check = async () => {
      if (reading) {
        again = true;
        return;
      }
      reading = true;
      try {
        do {
          again = false;
          view = await read();
          if (isDone(view)) return finish();
        } while (again && !settled);
      } catch (err) {
        finish(err);
      } finally {
        reading = false;
      }
    };
    const unsubscribe = deps.engine.events.subscribe((event) => {
      if (matches(event)) void check();
    });
    const poll = setInterval(() => void check(), 2000);
    const bound = setTimeout(() => finish(), deps.settings.waitTimeoutSeconds * 1000);
    const onClose = () => finish();
    // The response closes early when the client goes away.
    reply.raw.on("close", onClose);
    deps.closing?.addEventListener("abort", onClose, { once: true });
    // An event may have come between the first read and the subscription.
    void check();
  });
}
