/**
 * A socket.io-client connection to a gateway's realtime endpoint for tests: records every event
 * it receives, subscribes with an acknowledgement, and waits for events.
 */
import { io, type Socket } from "socket.io-client";

/** An event received by a test socket. */
export interface Received {
  event: string;
  data: any;
}

/** A connected test socket. */
export interface RealtimeClient {
  socket: Socket;
  /** Every event received so far, in order. */
  events: Received[];
  /** Subscribes and returns the acknowledgement. */
  subscribe(channel: string): Promise<any>;
  unsubscribe(channel: string): Promise<any>;
  /** Waits for an event matching `event` (and `id` when given); returns it. */
  waitFor(event: string, id?: string, ms?: number): Promise<Received>;
  close(): void;
}

/** Connects as FreeConvert's sample does (websocket transport, auth token); rejects with the connect_error. */
export function connectRealtime(url: string, token: string | undefined, opts: { bearer?: boolean } = {}): Promise<RealtimeClient> {
  const auth = token === undefined ? {} : { token: opts.bearer === false ? token : `Bearer ${token}` };
  const socket = io(url, { path: "/socket.io", transports: ["websocket"], auth, reconnection: false, forceNew: true });
  const events: Received[] = [];
  const waiters = new Set<() => void>();
  socket.onAny((event: string, data: unknown) => {
    events.push({ event, data });
    for (const wake of [...waiters]) wake();
  });
  const client: RealtimeClient = {
    socket,
    events,
    subscribe: (channel) => socket.timeout(10_000).emitWithAck("subscribe", channel),
    unsubscribe: (channel) => socket.timeout(10_000).emitWithAck("unsubscribe", channel),
    waitFor(event, id, ms = 20_000) {
      const find = () => events.find((e) => e.event === event && (id === undefined || e.data?.id === id));
      return new Promise<Received>((resolve, reject) => {
        const check = () => {
          const found = find();
          if (!found) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${event}${id ? ` for ${id}` : ""} within ${ms} ms; got ${JSON.stringify(events.map((e) => [e.event, e.data?.id]))}`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
    close: () => void socket.disconnect(),
  };
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(client));
    socket.once("connect_error", (err) => {
      socket.disconnect();
      reject(err);
    });
  });
}

/** Waits `ms` (to show that nothing more arrives). */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
