import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import type { LookupFunction } from "node:net";
import { promises as dns } from "node:dns";
import type { LookupAddress } from "node:dns";
import type { Duplex } from "node:stream";
import type { OutboundPolicy } from "./policy.js";
import { createRefusalError } from "./policy.js";

/**
 * Resolves a host name to addresses. The default asks the operating system (getaddrinfo, so
 * /etc/hosts counts); tests inject their own to model DNS answers that change between calls.
 */
export type Resolver = (hostname: string, options: { family: 0 | 4 | 6; hints?: number }) => Promise<LookupAddress[]>;

/** Options of a guarded lookup or agent. */
export interface GuardedLookupOptions {
  /** Replaces the system resolver (tests, or a custom DNS client). */
  resolve?: Resolver;
}

/** The system resolver: every address getaddrinfo returns, in its order. */
export const resolveWithSystem: Resolver = (hostname, options) =>
  dns.lookup(hostname, { all: true, family: options.family, hints: options.hints ?? 0 });

function toFamily(value: unknown): 0 | 4 | 6 {
  if (value === 4 || value === "IPv4") return 4;
  if (value === 6 || value === "IPv6") return 6;
  return 0;
}

function createNotFoundError(hostname: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
  err.code = "ENOTFOUND";
  err.syscall = "getaddrinfo";
  return err;
}

/**
 * A `lookup` for node:net, node:http and node:https that resolves, then checks EVERY address
 * against the policy before handing any back. Because node connects only to what lookup
 * returns, the address checked is the address connected to: a DNS answer that changes
 * between an early check and the connection (rebinding) cannot slip past. If any answer is
 * refused the whole lookup fails with an `outbound_refused` AppError, since a name that mixes
 * public and private answers is either misconfigured or an attack.
 */
export function createGuardedLookup(policy: OutboundPolicy, options: GuardedLookupOptions = {}): LookupFunction {
  const resolve = options.resolve ?? resolveWithSystem;
  return (hostname, lookupOptions, callback) => {
    // Older callers use lookup(hostname, callback) or pass the family as a bare number.
    let opts: { family?: unknown; hints?: number; all?: boolean } = {};
    let cb = callback;
    if (typeof lookupOptions === "function") cb = lookupOptions as unknown as typeof callback;
    else if (typeof lookupOptions === "number") opts = { family: lookupOptions };
    else if (lookupOptions) opts = lookupOptions;
    const family = toFamily(opts.family);

    resolve(hostname, { family, hints: opts.hints ?? 0 }).then(
      (answers) => {
        const addresses: LookupAddress[] = answers
          .map((a) => ({ address: a.address, family: a.family === 4 || a.family === 6 ? a.family : isIP(a.address) }))
          .filter((a) => a.family !== 0 && (family === 0 || a.family === family));
        if (addresses.length === 0) return cb(createNotFoundError(hostname), "", 0);
        for (const a of addresses) {
          const result = policy.checkAddress(a.address, { hostname });
          if (!result.allowed) return cb(createRefusalError(a.address, result.rule, hostname), "", 0);
        }
        if (opts.all) return cb(null, addresses);
        const first = addresses[0]!;
        return cb(null, first.address, first.family);
      },
      (err: unknown) => cb(err as NodeJS.ErrnoException, "", 0),
    );
  };
}

type ConnectionCallback = (err: Error | null, stream: Duplex) => void;

/**
 * Checks an IP-literal host before a connection: node:net skips `lookup` entirely for IP
 * literals, so the guarded lookup alone would never see them. Unix sockets are refused too.
 */
function checkConnectTarget(policy: OutboundPolicy, options: { host?: string | null; hostname?: string | null; socketPath?: string }): Error | undefined {
  if (options.socketPath) return createRefusalError(options.socketPath, "unix socket");
  const rawHost = options.host ?? options.hostname ?? "localhost";
  const host = rawHost.startsWith("[") && rawHost.endsWith("]") ? rawHost.slice(1, -1) : rawHost;
  if (isIP(host) === 0) return undefined;
  const result = policy.checkAddress(host, { hostname: host });
  return result.allowed ? undefined : createRefusalError(host, result.rule);
}

function refuseConnection(err: Error, callback?: ConnectionCallback): undefined {
  // The agent turns a callback error into the request's 'error' event; without a callback
  // (a direct caller) throwing is the only way to refuse.
  if (!callback) throw err;
  process.nextTick(callback, err, undefined as unknown as Duplex);
  return undefined;
}

class GuardedHttpAgent extends http.Agent {
  readonly #policy: OutboundPolicy;
  readonly #lookup: LookupFunction;

  constructor(policy: OutboundPolicy, lookup: LookupFunction, agentOptions: http.AgentOptions) {
    super(agentOptions);
    this.#policy = policy;
    this.#lookup = lookup;
  }

  override createConnection(options: http.ClientRequestArgs, callback?: ConnectionCallback): Duplex | null | undefined {
    const refusal = checkConnectTarget(this.#policy, options);
    if (refusal) return refuseConnection(refusal, callback);
    return super.createConnection({ ...options, lookup: this.#lookup }, callback);
  }
}

class GuardedHttpsAgent extends https.Agent {
  readonly #policy: OutboundPolicy;
  readonly #lookup: LookupFunction;

  constructor(policy: OutboundPolicy, lookup: LookupFunction, agentOptions: https.AgentOptions) {
    super(agentOptions);
    this.#policy = policy;
    this.#lookup = lookup;
  }

  override createConnection(options: https.RequestOptions, callback?: ConnectionCallback): Duplex | null | undefined {
    const refusal = checkConnectTarget(this.#policy, options);
    if (refusal) return refuseConnection(refusal, callback);
    return super.createConnection({ ...options, lookup: this.#lookup }, callback);
  }
}

/** Options of a guarded agent. */
export interface GuardedAgentOptions extends GuardedLookupOptions {
  /** An https.Agent instead of an http.Agent. */
  https?: boolean;
  /** Passed to the agent's constructor (keepAlive, maxSockets, TLS options...). */
  agentOptions?: https.AgentOptions;
}

/**
 * An http.Agent (or https.Agent) whose every connection is checked against the policy: host
 * names through the guarded lookup, IP literals before the socket is created. Hand it to any
 * client that accepts an agent (webhook senders, SDKs); it does not follow redirects or limit
 * sizes, that is the client's job (or use safeFetch).
 */
export function createGuardedAgent(policy: OutboundPolicy, options: GuardedAgentOptions & { https: true }): https.Agent;
export function createGuardedAgent(policy: OutboundPolicy, options?: GuardedAgentOptions & { https?: false }): http.Agent;
export function createGuardedAgent(policy: OutboundPolicy, options?: GuardedAgentOptions): http.Agent | https.Agent;
export function createGuardedAgent(policy: OutboundPolicy, options: GuardedAgentOptions = {}): http.Agent | https.Agent {
  const lookup = createGuardedLookup(policy, options.resolve ? { resolve: options.resolve } : {});
  const agentOptions = options.agentOptions ?? {};
  return options.https
    ? new GuardedHttpsAgent(policy, lookup, agentOptions)
    : new GuardedHttpAgent(policy, lookup, agentOptions);
}
