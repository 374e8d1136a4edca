/**
 * Socket.io realtime updates on the gateway's own HTTP server (path /socket.io), as FreeConvert's
 * notification service offers them. One path: every gateway subscribes to the event bus (which
 * hands every event to every subscriber once) and relays it to its own sockets only; sockets
 * are never shared between gateways, so each socket gets each event once.
 */
import { AppError, type ErrorCode } from "@transmute/core";
import { authenticateKey, getJobView, getTaskView } from "@transmute/jobs";
import type { DomainEvent } from "@transmute/queue";
import type { FastifyInstance } from "fastify";
import { Server, type Socket } from "socket.io";
import { parseAuthorization } from "./auth.js";
import { CHANNEL_FORMS, finalEventOf, isFinalEvent, looksLikeId, parseChannel, toSocketRelay, type Channel } from "./realtime-channels.js";
import type { GatewayDeps } from "./types.js";

/** The event a refused subscribe or unsubscribe answers with. */
export const SUBSCRIBE_ERROR_EVENT = "subscribe_error";

/** What a subscribe or unsubscribe acknowledges (when the client asked for an ack). */
export type SubscribeAnswer = { ok: true; channel: string } | { ok: false; channel: unknown; error: { code: ErrorCode; message: string } };

interface SocketData {
  accountId: string;
  /** Final events already sent to this socket (`event:id`), so a late subscribe never doubles one. */
  finals: Set<string>;
}

// Bounds the per-socket memory of sent final events; older entries only matter within a race window.
const MAX_FINALS_REMEMBERED = 2000;
// The bus is at most once (Redis pub/sub drops what a reconnecting subscriber misses): every
// SWEEP_MS the gateway looks for followed jobs and tasks that ended more than SWEEP_GRACE_MS ago
// without their final event reaching a socket, so a lost event costs seconds, never a hang. The
// grace leaves the live events, which normally arrive within milliseconds, to come first and in order.
const SWEEP_MS = 2000;
const SWEEP_GRACE_MS = 2000;
// Ids per sweep query.
const SWEEP_BATCH = 500;

/** Attaches socket.io to the gateway's HTTP server; closes with the gateway. */
export function attachRealtime(app: FastifyInstance, deps: GatewayDeps): Server {
  const io = new Server(app.server, {
    path: "/socket.io",
    serveClient: false,
    // Auth is the token in the handshake, never a cookie: any page may connect with its key.
    cors: { origin: "*" },
  });
  const { prisma } = deps.engine;
  const settings = deps.engine.settings;

  // A bad key is refused at connect: the client gets connect_error with `data.code`.
  io.use((socket, next) => {
    const auth = socket.handshake.auth as { token?: unknown } | undefined;
    const raw = typeof auth?.token === "string" ? auth.token : socket.handshake.headers.authorization;
    const key = parseAuthorization(raw);
    if (!key) return next(refusal("unauthorized", 'Missing API key: connect with auth {token: "Bearer <key>"}.'));
    authenticateKey(prisma, key).then(
      (accountId) => {
        if (!accountId) return next(refusal("unauthorized", "Invalid API key."));
        const data = socket.data as SocketData;
        data.accountId = accountId;
        data.finals = new Set();
        next();
      },
      (err: unknown) => {
        app.log.warn({ err }, "realtime authentication failed");
        next(refusal("service_unavailable", "Could not check the API key; try again."));
      },
    );
  });

  io.on("connection", (socket) => {
    socket.on("subscribe", (channel: unknown, ack?: unknown) => {
      void subscribe(socket, channel).then((answer) => answerTo(socket, answer, ack));
    });
    socket.on("unsubscribe", (channel: unknown, ack?: unknown) => {
      const parsed = parseChannel(channel);
      const answer: SubscribeAnswer = parsed
        ? { ok: true, channel: channel as string }
        : { ok: false, channel, error: badChannel(channel) };
      if (parsed) {
        void socket.leave(channel as string);
        // A later subscribe to an ended job or task must send its final event again.
        if (parsed.kind === "job" || parsed.kind === "task") {
          const { finals } = socket.data as SocketData;
          finals.delete(`${parsed.kind}_completed:${parsed.id}`);
          finals.delete(`${parsed.kind}_failed:${parsed.id}`);
        }
      }
      answerTo(socket, answer, ack);
    });
  });

  /** Joins a channel the socket's account owns; a job or task that already ended sends its final event. */
  async function subscribe(socket: Socket, name: unknown): Promise<SubscribeAnswer> {
    const parsed = parseChannel(name);
    if (!parsed) return { ok: false, channel: name, error: badChannel(name) };
    const channel = name as string;
    const { accountId } = socket.data as SocketData;
    try {
      if (!(await owns(accountId, parsed))) return { ok: false, channel, error: notYours(parsed) };
      // Join first, then read: an end committed in between comes either as the live event or
      // from this read, and the per-socket memory of finals drops the second copy.
      await socket.join(channel);
      if (parsed.kind === "job" || parsed.kind === "task") {
        const view = parsed.kind === "job" ? await getJobView(prisma, settings, accountId, parsed.id) : await getTaskView(prisma, settings, accountId, parsed.id);
        const final = finalEventOf(parsed.kind, String(view.status));
        if (final) sendOnce(socket, final, parsed.id, view);
      }
      return { ok: true, channel };
    } catch (err) {
      if (err instanceof AppError && err.code === "not_found") return { ok: false, channel, error: notYours(parsed) };
      app.log.warn({ err, channel }, "realtime subscribe failed");
      return { ok: false, channel, error: { code: "service_unavailable", message: "Could not subscribe now; try again." } };
    }
  }

  /** Whether the account may follow the channel. An unknown id answers as another account's. */
  async function owns(accountId: string, channel: Channel): Promise<boolean> {
    if (channel.kind === "user-jobs" || channel.kind === "user-tasks") return channel.id === accountId;
    if (!looksLikeId(channel.id)) return false;
    const where = { id: channel.id, accountId };
    const found = channel.kind === "job" ? await prisma.job.findFirst({ where, select: { id: true } }) : await prisma.task.findFirst({ where, select: { id: true } });
    return found !== null;
  }

  /** Relays bus events to this gateway's sockets; one chain per job keeps each job's events in order. */
  const chains = new Map<string, Promise<void>>();
  const unsubscribe = deps.engine.events.subscribe((event: DomainEvent) => {
    const relay = toSocketRelay(event);
    if (!relay) return;
    const previous = chains.get(event.jobId) ?? Promise.resolve();
    const next = previous
      .then(() => relayEvent(event, relay))
      .catch((err: unknown) => app.log.warn({ err, event: event.type }, "realtime relay failed"))
      .finally(() => {
        if (chains.get(event.jobId) === next) chains.delete(event.jobId);
      });
    chains.set(event.jobId, next);
  });

  async function relayEvent(event: DomainEvent, relay: NonNullable<ReturnType<typeof toSocketRelay>>): Promise<void> {
    const sockets = socketsIn(relay.rooms);
    // Nobody here listens: no database read.
    if (sockets.length === 0) return;
    let view: Record<string, unknown>;
    try {
      view = relay.object === "job" ? await getJobView(prisma, settings, event.accountId, relay.id) : await getTaskView(prisma, settings, event.accountId, relay.id);
    } catch (err) {
      // Deleted since: nothing left to show.
      if (err instanceof AppError && err.code === "not_found") return;
      throw err;
    }
    // Progress carries the percent of the event: the row may lag behind it.
    if (relay.event === "task_min_update" && typeof event.percent === "number") view = { ...view, percent: event.percent };
    for (const socket of socketsIn(relay.rooms)) {
      if (isFinalEvent(relay.event)) sendOnce(socket, relay.event, relay.id, view);
      else socket.emit(relay.event, view);
    }
  }

  /** The local sockets in any of `rooms`, each once (a socket in two matching rooms gets one copy). */
  function socketsIn(rooms: string[]): Socket[] {
    const ids = new Set<string>();
    for (const room of rooms) for (const id of io.of("/").adapter.rooms.get(room) ?? []) ids.add(id);
    const out: Socket[] = [];
    for (const id of ids) {
      const socket = io.of("/").sockets.get(id);
      if (socket) out.push(socket);
    }
    return out;
  }

  /** Sends the final event to sockets following a job or task that ended without it reaching them. */
  async function sendMissedFinals(): Promise<void> {
    const jobIds: string[] = [];
    const taskIds: string[] = [];
    for (const room of io.of("/").adapter.rooms.keys()) {
      const channel = parseChannel(room);
      if (channel?.kind === "job" && looksLikeId(channel.id)) jobIds.push(channel.id);
      else if (channel?.kind === "task" && looksLikeId(channel.id)) taskIds.push(channel.id);
    }
    const endedBefore = new Date(Date.now() - SWEEP_GRACE_MS);
    for (let i = 0; i < jobIds.length; i += SWEEP_BATCH) {
      const ended = await prisma.job.findMany({
        where: { id: { in: jobIds.slice(i, i + SWEEP_BATCH) }, status: { in: ["completed", "failed"] }, endedAt: { lt: endedBefore } },
        select: { id: true, accountId: true, status: true },
      });
      for (const job of ended) await sendFinalIfMissing("job", job.id, job.id, job.accountId, job.status);
    }
    for (let i = 0; i < taskIds.length; i += SWEEP_BATCH) {
      const ended = await prisma.task.findMany({
        where: { id: { in: taskIds.slice(i, i + SWEEP_BATCH) }, status: { in: ["completed", "failed", "canceled"] }, endedAt: { lt: endedBefore } },
        select: { id: true, jobId: true, accountId: true, status: true },
      });
      for (const task of ended) await sendFinalIfMissing("task", task.id, task.jobId, task.accountId, task.status);
    }
  }

  async function sendFinalIfMissing(object: "job" | "task", id: string, jobId: string, accountId: string, status: string): Promise<void> {
    const final = finalEventOf(object, status);
    // A job whose events are being relayed gets its final from the relay, in order.
    if (!final || chains.has(jobId)) return;
    const missing = socketsIn([`${object}.${id}`]).filter((s) => !(s.data as SocketData).finals.has(`${final}:${id}`));
    if (missing.length === 0) return;
    const view = object === "job" ? await getJobView(prisma, settings, accountId, id) : await getTaskView(prisma, settings, accountId, id);
    app.log.info({ object, id, event: final }, "realtime: final event sent by the sweep (its bus event was not seen)");
    for (const socket of missing) sendOnce(socket, final, id, view);
  }
  let sweeping = false;
  const sweep = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    sendMissedFinals()
      .catch((err: unknown) => app.log.warn({ err }, "realtime sweep failed"))
      .finally(() => {
        sweeping = false;
      });
  }, SWEEP_MS);
  sweep.unref();

  // Closes with the gateway, after the /wait abort hook: sockets are disconnected at once so
  // the HTTP server's close is not held by them. io.close also closes the HTTP server, which
  // Fastify closes right after anyway (it ignores "not running"); not awaited, so that the
  // in-flight HTTP requests it would wait for do not hold up other preClose hooks.
  app.addHook("preClose", async () => {
    unsubscribe();
    clearInterval(sweep);
    io.of("/").disconnectSockets(true);
    void io.close();
  });
  return io;
}

/** Sends a final event once per socket. */
function sendOnce(socket: Socket, event: string, id: string, view: Record<string, unknown>): void {
  const { finals } = socket.data as SocketData;
  const key = `${event}:${id}`;
  if (finals.has(key)) return;
  finals.add(key);
  if (finals.size > MAX_FINALS_REMEMBERED) finals.delete(finals.values().next().value!);
  socket.emit(event, view);
}

/** Answers a subscribe or unsubscribe: the ack when asked for, and subscribe_error when refused. */
function answerTo(socket: Socket, answer: SubscribeAnswer, ack: unknown): void {
  if (!answer.ok) socket.emit(SUBSCRIBE_ERROR_EVENT, { channel: answer.channel, ...answer.error });
  if (typeof ack === "function") (ack as (a: SubscribeAnswer) => void)(answer);
}

/** The connect_error a refused handshake gets: `message`, and `data: {code, message}`. */
function refusal(code: ErrorCode, message: string): Error & { data: { code: ErrorCode; message: string } } {
  return Object.assign(new Error(message), { data: { code, message } });
}

function badChannel(name: unknown): { code: ErrorCode; message: string } {
  return { code: "invalid_request", message: `Unknown channel ${JSON.stringify(name)}: valid channels are ${CHANNEL_FORMS.join(", ")}.` };
}

function notYours(channel: Channel): { code: ErrorCode; message: string } {
  if (channel.kind === "job") return { code: "not_found", message: `No job with id "${channel.id}".` };
  if (channel.kind === "task") return { code: "not_found", message: `No task with id "${channel.id}".` };
  return { code: "forbidden", message: `Channel user.${channel.id}.${channel.kind === "user-jobs" ? "jobs" : "tasks"} is not yours: subscribe to user.{your account id}.jobs or .tasks (GET /v1/account/me).` };
}
