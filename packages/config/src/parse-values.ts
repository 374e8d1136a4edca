/**
 * Parsers of single environment values. Each returns the typed value or throws InvalidValue
 * whose message says what is accepted, phrased to follow "VARIABLE=value: ".
 */
import { isIP } from "node:net";

/** A value that does not parse; the message says what would. */
export class InvalidValue extends Error {
  override readonly name = "InvalidValue";
}

/** A network range from TRANSMUTE_OUTBOUND_ALLOW. */
export interface Cidr {
  /** Network address as written (IPv6 lowercased). */
  readonly address: string;
  /** Prefix length: 0-32 for IPv4, 0-128 for IPv6. */
  readonly prefix: number;
  /** IP version. */
  readonly family: 4 | 6;
}

/** Parsed TRANSMUTE_OUTBOUND_ALLOW. */
export interface OutboundAllow {
  /** Every entry, normalised, in the form `createOutboundPolicy({ allow })` takes. */
  readonly entries: readonly string[];
  /** The address entries; a bare address is a /32 or /128. */
  readonly cidrs: readonly Cidr[];
  /** The host name entries (lowercase, no trailing dot); `*.example.com` matches subdomains, not the apex. */
  readonly hosts: readonly string[];
}

/** Parses a whole number in `[min, max]`; `unit` names what it counts in the message. */
export function parseInteger(raw: string, min: number, max: number, unit = ""): number {
  const text = raw.trim();
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidValue(`must be a whole number${unit ? ` of ${unit}` : ""} from ${min} to ${max}`);
  }
  return value;
}

const BYTE_UNITS: Readonly<Record<string, number>> = {
  "": 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** Parses a byte count: `5368709120`, `100MB` (decimal units) or `1.5GiB` (binary units), case-insensitive. */
export function parseByteSize(raw: string, min: number, max: number): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(raw.trim());
  const unit = match ? BYTE_UNITS[match[2]!.toLowerCase()] : undefined;
  const value = match && unit !== undefined ? Math.floor(Number(match[1]) * unit) : Number.NaN;
  const exact = match !== null && (unit !== 1 || /^\d+$/.test(match[1]!));
  if (!exact || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidValue(
      `must be a size from ${min} to ${max} bytes: a whole number of bytes, or a number with KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), such as 100MB or 1GiB`,
    );
  }
  return value;
}

/** Parses an absolute http(s) URL for PUBLIC_URL; returns it without a trailing slash. */
export function parsePublicUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new InvalidValue("must be an absolute http:// or https:// URL, such as https://convert.example.com");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new InvalidValue(`must use http:// or https://, not ${url.protocol}//`);
  if (url.username || url.password) throw new InvalidValue("must not contain a user name or password");
  if (url.search || url.hash) throw new InvalidValue("must not contain a query (?) or fragment (#)");
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}

/** Parses a service URL whose scheme is one of `protocols` (such as `["postgres:", "postgresql:"]`). */
export function parseServiceUrl(raw: string, protocols: readonly string[]): string {
  const text = raw.trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidValue(`must be a URL starting with ${protocols.map((p) => `${p}//`).join(" or ")}`);
  }
  if (!protocols.includes(url.protocol)) throw new InvalidValue(`must start with ${protocols.map((p) => `${p}//`).join(" or ")}, not ${url.protocol}//`);
  if (!url.hostname) throw new InvalidValue("must name a host");
  return text;
}

// RFC 1123 labels plus `_`, which container service names (docker compose) often carry.
const LABEL = "[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?";
const HOST_NAME = new RegExp(`^(?=.{1,253}$)${LABEL}(?:\\.${LABEL})*$`);

/** Parses a host name (lowercased, trailing dot dropped); throws InvalidValue when it is not one. */
export function parseHostName(raw: string): string {
  const name = raw.trim().toLowerCase().replace(/\.$/, "");
  if (!HOST_NAME.test(name)) throw new InvalidValue(`'${raw}' is not a host name (letters, digits, hyphens, underscores and dots)`);
  return name;
}

/** Parses HOST: an IP address or a host name. */
export function parseBindHost(raw: string): string {
  const text = raw.trim();
  if (isIP(text) !== 0) return text;
  try {
    return parseHostName(text);
  } catch {
    throw new InvalidValue("must be an IP address (127.0.0.1, 0.0.0.0, ::) or a host name");
  }
}

/** Parses one CIDR (`10.0.0.0/8`, `fd00::/8`) or bare IP address. */
export function parseCidr(raw: string): Cidr {
  const [address = "", prefixText, extra] = raw.trim().split("/");
  const family = isIP(address);
  if (family === 0 || extra !== undefined) throw new InvalidValue(`'${raw}' is not a CIDR such as 10.0.0.0/8 or fd00::/8`);
  const bits = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? bits : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
  if (!(prefix >= 0 && prefix <= bits)) throw new InvalidValue(`'${raw}' has a bad prefix length: IPv${family} allows /0 to /${bits}`);
  return { address: family === 6 ? address.toLowerCase() : address, prefix, family: family === 6 ? 6 : 4 };
}

/** Parses TRANSMUTE_OUTBOUND_ALLOW: comma-separated CIDRs, IP addresses and host names. */
export function parseOutboundAllow(raw: string): OutboundAllow {
  const entries: string[] = [];
  const cidrs: Cidr[] = [];
  const hosts: string[] = [];
  for (const entry of splitList(raw)) {
    // Anything with a slash, colon or only digits and dots is meant as an address, so a typo in
    // one is reported as a bad address rather than accepted as a strange host name.
    if (/[/:]/.test(entry) || /^[\d.]+$/.test(entry)) {
      const cidr = parseCidr(entry);
      cidrs.push(cidr);
      entries.push(entry.includes("/") ? `${cidr.address}/${cidr.prefix}` : cidr.address);
    } else {
      const wildcard = entry.startsWith("*.");
      const host = (wildcard ? "*." : "") + parseHostName(wildcard ? entry.slice(2) : entry);
      if (!hosts.includes(host)) hosts.push(host);
      if (!entries.includes(host)) entries.push(host);
    }
  }
  return { entries, cidrs, hosts };
}

/** Parses TRANSMUTE_ENGINES: comma-separated lowercase engine class names, deduplicated. */
export function parseEngineList(raw: string): string[] {
  const names = splitList(raw);
  if (names.length === 0) throw new InvalidValue("must list at least one engine class, such as image,io (or be unset for all)");
  for (const name of names) {
    if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new InvalidValue(`'${name}' is not an engine class name (lowercase letters, digits, hyphens)`);
  }
  return [...new Set(names)];
}

/** Parses one of a fixed list of words. */
export function parseChoice<T extends string>(raw: string, choices: readonly T[]): T {
  const text = raw.trim().toLowerCase();
  if (!(choices as readonly string[]).includes(text)) throw new InvalidValue(`must be one of ${choices.join(", ")}`);
  return text as T;
}

function splitList(raw: string): string[] {
  return raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}
