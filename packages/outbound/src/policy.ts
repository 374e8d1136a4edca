import { isIP } from "node:net";
import ipaddr from "ipaddr.js";
import { AppError } from "@transmute/core";
import { REFUSED_V4, REFUSED_V6, GLOBAL_UNICAST_V6, extractEmbeddedV4 } from "./address-ranges.js";

type IPv4 = ipaddr.IPv4;
type IPv6 = ipaddr.IPv6;

/** The setting an operator uses to allow refused destinations; named in every refusal. */
export const OUTBOUND_ALLOW_SETTING = "TRANSMUTE_OUTBOUND_ALLOW";

/** The outcome of a policy check; `rule` names what refused it, e.g. "loopback 127.0.0.0/8". */
export type CheckResult = { allowed: true } | { allowed: false; rule: string };

/** Settings of an outbound policy. */
export interface OutboundPolicyOptions {
  /**
   * Destinations allowed even though they fall in a refused range: CIDRs ("10.1.0.0/16",
   * "fd00::/8"), single addresses ("127.0.0.1"), exact host names ("minio") or suffix
   * patterns ("*.corp.example", which matches subdomains, not the apex).
   */
  allow?: readonly string[];
}

/** Decides which destinations Transmute may connect to on a caller's behalf. */
export interface OutboundPolicy {
  /** The allow list as given (trimmed, empty entries dropped). */
  readonly allow: readonly string[];
  /**
   * Checks one IP address. `hostname` is the name it was resolved from, if any: a host name
   * on the allow list allows whatever address it resolves to.
   */
  checkAddress(ip: string, context?: { hostname?: string }): CheckResult;
  /**
   * Checks a URL before any connection: the scheme (http and https only) and, when the host
   * is an IP literal, the address. Host names pass here; their addresses are checked at
   * connect time by the guarded lookup.
   */
  checkUrl(url: string | URL): CheckResult;
  /** True when `hostname` matches an allowed host name or `*.suffix` entry. */
  isHostnameAllowed(hostname: string): boolean;
}

type AllowedCidr = [IPv4 | IPv6, number];

interface ParsedAllowList {
  cidrsV4: [IPv4, number][];
  cidrsV6: [IPv6, number][];
  exactHosts: Set<string>;
  hostSuffixes: string[];
}

const HOSTNAME_PATTERN = /^(?:\*\.)?(?:[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$/;

/** Lower-cases a host name and drops a trailing dot and IPv6 brackets, so spellings compare equal. */
function normalizeHostname(hostname: string): string {
  let h = hostname.trim().toLowerCase();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  if (h.endsWith(".")) h = h.slice(0, -1);
  return h;
}

/**
 * True for hosts that are (or that a resolver would read as) numeric IPv4 forms: no real
 * top-level domain is numeric, and "127.1" or "0x7f.1" reach getaddrinfo as addresses.
 */
function looksNumeric(host: string): boolean {
  if (isIP(host) !== 0) return true;
  const last = host.split(".").pop() ?? "";
  return /^(?:0x[0-9a-f]*|[0-9]+)$/i.test(last);
}

function parseAllowList(entries: readonly string[]): ParsedAllowList {
  const parsed: ParsedAllowList = { cidrsV4: [], cidrsV6: [], exactHosts: new Set(), hostSuffixes: [] };
  const addCidr = ([addr, bits]: AllowedCidr): void => {
    if (addr.kind() === "ipv4") parsed.cidrsV4.push([addr as IPv4, bits]);
    else parsed.cidrsV6.push([addr as IPv6, bits]);
  };
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry === "") continue;
    const bare = entry.startsWith("[") && entry.endsWith("]") ? entry.slice(1, -1) : entry;
    if (bare.includes("/")) {
      if (!ipaddr.isValidCIDR(bare)) throw invalidAllowEntry(entry, "not a valid CIDR");
      addCidr(ipaddr.parseCIDR(bare));
      continue;
    }
    // Only canonical address spellings: "127.1" in a setting is more likely a typo than intent.
    if (isIP(bare) !== 0) {
      const addr = ipaddr.parse(bare);
      addCidr([addr, addr.kind() === "ipv4" ? 32 : 128]);
      continue;
    }
    const host = normalizeHostname(entry);
    if (!HOSTNAME_PATTERN.test(host) || looksNumeric(host)) {
      throw invalidAllowEntry(entry, "expected a CIDR, an IP address, a host name or *.domain");
    }
    if (host.startsWith("*.")) parsed.hostSuffixes.push(host.slice(1));
    else parsed.exactHosts.add(host);
  }
  return parsed;
}

function invalidAllowEntry(entry: string, why: string): Error {
  return new Error(`Invalid ${OUTBOUND_ALLOW_SETTING} entry "${entry}": ${why}`);
}

function describe(name: string, cidr: string): string {
  return `${name} ${cidr}`;
}

/**
 * Builds the outbound policy. Throws a plain Error naming the bad entry when `allow` holds
 * something that is neither a CIDR, an address nor a host name pattern, so a typo in the
 * setting stops startup instead of silently allowing or refusing.
 */
export function createOutboundPolicy(options: OutboundPolicyOptions = {}): OutboundPolicy {
  const allow = (options.allow ?? []).map((e) => e.trim()).filter((e) => e !== "");
  const list = parseAllowList(allow);

  const isHostnameAllowed = (hostname: string): boolean => {
    const host = normalizeHostname(hostname);
    // Host-name entries are about names; addresses go through the CIDR entries only.
    if (host === "" || looksNumeric(host)) return false;
    if (list.exactHosts.has(host)) return true;
    return list.hostSuffixes.some((suffix) => host.length > suffix.length && host.endsWith(suffix));
  };

  const checkV4 = (addr: IPv4): CheckResult => {
    if (list.cidrsV4.some((cidr) => addr.match(cidr))) return { allowed: true };
    const hit = REFUSED_V4.find((r) => addr.match(r.range));
    return hit ? { allowed: false, rule: describe(hit.name, hit.cidr) } : { allowed: true };
  };

  const checkV6 = (addr: IPv6): CheckResult => {
    if (list.cidrsV6.some((cidr) => addr.match(cidr))) return { allowed: true };
    // Plain rules first so "::" and "::1" are named as such, not as IPv4-compatible forms.
    const plain = REFUSED_V6.find((r) => addr.match(r.range));
    if (plain && (plain.name === "unspecified" || plain.name === "loopback")) {
      return { allowed: false, rule: describe(plain.name, plain.cidr) };
    }
    const embedded = extractEmbeddedV4(addr);
    for (const e of embedded) {
      const inner = checkV4(e.v4);
      if (!inner.allowed) return { allowed: false, rule: `${inner.rule} via ${e.via}` };
    }
    if (embedded.length > 0 && embedded.every((e) => e.final)) return { allowed: true };
    if (plain) return { allowed: false, rule: describe(plain.name, plain.cidr) };
    if (embedded.some((e) => e.via.startsWith("IPv4-compatible"))) {
      return { allowed: false, rule: "IPv4-compatible IPv6 ::/96 (deprecated)" };
    }
    if (!addr.match(GLOBAL_UNICAST_V6)) return { allowed: false, rule: "reserved (outside global unicast 2000::/3)" };
    return { allowed: true };
  };

  const checkAddress = (ip: string, context: { hostname?: string } = {}): CheckResult => {
    const bare = ip.startsWith("[") && ip.endsWith("]") ? ip.slice(1, -1) : ip;
    let addr: IPv4 | IPv6;
    try {
      addr = ipaddr.parse(bare);
    } catch {
      return { allowed: false, rule: "not an IP address" };
    }
    if (context.hostname !== undefined && isHostnameAllowed(context.hostname)) return { allowed: true };
    return addr.kind() === "ipv4" ? checkV4(addr as IPv4) : checkV6(addr as IPv6);
  };

  const checkUrl = (url: string | URL): CheckResult => {
    const inspected = inspectUrl(url);
    switch (inspected.kind) {
      case "invalid":
        return { allowed: false, rule: "invalid URL" };
      case "scheme":
        return { allowed: false, rule: `scheme ${inspected.url.protocol}` };
      case "ip":
        return checkAddress(inspected.ip, { hostname: inspected.ip });
      case "hostname":
        return { allowed: true };
    }
  };

  return { allow, checkAddress, checkUrl, isHostnameAllowed };
}

type InspectedUrl =
  | { kind: "invalid" }
  | { kind: "scheme"; url: URL }
  | { kind: "ip"; url: URL; ip: string }
  | { kind: "hostname"; url: URL; hostname: string };

/** The host of a URL as node:net wants it: IPv6 literals without their brackets. */
export function getConnectHost(url: URL): string {
  const h = url.hostname;
  return h.startsWith("[") && h.endsWith("]") ? h.slice(1, -1) : h;
}

function inspectUrl(input: string | URL): InspectedUrl {
  let url: URL;
  try {
    url = typeof input === "string" ? new URL(input) : new URL(input.href);
  } catch {
    return { kind: "invalid" };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return { kind: "scheme", url };
  const host = getConnectHost(url);
  if (host === "") return { kind: "invalid" };
  // WHATWG URL has already turned "2130706433", "0x7f000001", "0177.0.0.1" and "127.1" into
  // dotted quads, so a canonical-form test is enough to tell literals from names.
  if (isIP(host) !== 0) return { kind: "ip", url, ip: host };
  return { kind: "hostname", url, hostname: host };
}

/** The URL without user name and password, safe for messages, logs and `finalUrl`. */
export function redactUrl(url: URL): string {
  if (url.username === "" && url.password === "") return url.href;
  const copy = new URL(url.href);
  copy.username = "";
  copy.password = "";
  return copy.href;
}

/**
 * The error for a refused address. The message names the address, the rule and the setting
 * that would allow it, so whoever reads it (caller or operator) knows why and what to change.
 */
export function createRefusalError(address: string, rule: string, hostname?: string): AppError {
  const target = hostname && normalizeHostname(hostname) !== normalizeHostname(address) ? `${hostname} at ${address}` : address;
  return new AppError(
    "outbound_refused",
    `Refused to connect to ${target} (${rule}): the outbound policy refuses private and local addresses; an operator can allow it with ${OUTBOUND_ALLOW_SETTING}`,
    {
      detail: `Add the address, a CIDR that contains it, or the host name to ${OUTBOUND_ALLOW_SETTING} (comma-separated) to allow it.`,
      retryable: false,
    },
  );
}

/**
 * Parses `url` and throws unless the policy allows it up front: `invalid_payload` for a URL
 * that does not parse, `outbound_refused` for another scheme or a refused IP literal.
 * Host names still need the connect-time check (use safeFetch or a guarded agent).
 */
export function assertUrlAllowed(policy: OutboundPolicy, input: string | URL): URL {
  const inspected = inspectUrl(input);
  switch (inspected.kind) {
    case "invalid":
      throw new AppError("invalid_payload", "The URL is not a valid absolute http or https URL");
    case "scheme":
      throw new AppError(
        "outbound_refused",
        `Refused to fetch a ${inspected.url.protocol} URL: only http and https URLs are allowed`,
      );
    case "ip": {
      const result = policy.checkAddress(inspected.ip, { hostname: inspected.ip });
      if (!result.allowed) throw createRefusalError(inspected.ip, result.rule);
      return inspected.url;
    }
    case "hostname":
      return inspected.url;
  }
}
