/**
 * The operator's SFTP host-key policy: an OpenSSH known_hosts file (TRANSMUTE_SFTP_KNOWN_HOSTS)
 * read once at worker start and handed to `setKnownHosts`. With one set, a server must present a
 * key listed for its host; without, any key is accepted (trust on use) and its fingerprint is
 * recorded in the task result so the caller can check it afterwards.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/** One usable line of a known_hosts file. */
interface KnownHost {
  patterns: string[];
  /** `|1|salt|hash` entries (ssh-keygen -H): matched by HMAC-SHA1 of the host string. */
  hashed: { salt: Buffer; hash: Buffer } | null;
  keyType: string;
  key: Buffer;
  revoked: boolean;
}

let knownHosts: KnownHost[] | null = null;

/**
 * Sets the known hosts every SFTP connection of this process checks against (the text of an
 * OpenSSH known_hosts file), or null to trust any host key on use. Call once at worker start.
 * Supported: plain names and addresses, `[host]:port`, comma lists, `*`/`?` wildcards, `!`
 * negation, hashed `|1|` entries and `@revoked`; `@cert-authority` lines are skipped (host
 * certificates are not supported), as are comments and lines that do not parse.
 */
export function setKnownHosts(text: string | null): void {
  knownHosts = text === null ? null : parseKnownHosts(text);
}

/** Whether a known_hosts file is in force. */
export function knownHostsEnforced(): boolean {
  return knownHosts !== null;
}

/** Parses known_hosts text into its usable entries. */
export function parseKnownHosts(text: string): KnownHost[] {
  const entries: KnownHost[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === undefined || fields[0] === "" || fields[0].startsWith("#")) continue;
    let revoked = false;
    if (fields[0].startsWith("@")) {
      if (fields[0] !== "@revoked") continue;
      revoked = true;
      fields.shift();
    }
    const [hosts, keyType, keyText] = fields;
    if (!hosts || !keyType || !keyText) continue;
    const key = Buffer.from(keyText, "base64");
    if (key.length === 0) continue;
    let hashed: KnownHost["hashed"] = null;
    if (hosts.startsWith("|1|")) {
      const [, , salt, hash] = hosts.split("|");
      if (!salt || !hash) continue;
      hashed = { salt: Buffer.from(salt, "base64"), hash: Buffer.from(hash, "base64") };
    }
    entries.push({ patterns: hashed ? [] : hosts.toLowerCase().split(","), hashed, keyType, key, revoked });
  }
  return entries;
}

/** The name a known_hosts file lists a server under: `host`, or `[host]:port` off port 22. */
export function knownHostName(host: string, port: number): string {
  const bare = host.toLowerCase();
  return port === 22 ? bare : `[${bare}]:${port}`;
}

function globMatches(pattern: string, name: string): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${source}$`).test(name);
}

function entryMatches(entry: KnownHost, name: string): boolean {
  if (entry.hashed) {
    const digest = createHmac("sha1", entry.hashed.salt).update(name).digest();
    return digest.length === entry.hashed.hash.length && timingSafeEqual(digest, entry.hashed.hash);
  }
  let matched = false;
  for (const pattern of entry.patterns) {
    if (pattern.startsWith("!")) {
      if (globMatches(pattern.slice(1), name)) return false;
    } else if (globMatches(pattern, name)) matched = true;
  }
  return matched;
}

/** The entries that apply to a server (null when no known_hosts file is in force). */
export function knownKeysFor(host: string, port: number): KnownHost[] | null {
  if (knownHosts === null) return null;
  const name = knownHostName(host, port);
  return knownHosts.filter((e) => entryMatches(e, name));
}

/** Whether `key` (the SSH wire-format public key blob) is accepted by `entries`. */
export function keyIsKnown(entries: KnownHost[], key: Buffer): boolean {
  if (entries.some((e) => e.revoked && e.key.equals(key))) return false;
  return entries.some((e) => !e.revoked && e.key.equals(key));
}

/**
 * The host-key algorithms to offer for the listed key types, so the server presents the key
 * the file knows rather than its preferred one (an RSA key is signed with SHA-2 or SHA-1).
 */
export function hostKeyAlgorithmsFor(entries: KnownHost[]): string[] {
  const algorithms = new Set<string>();
  for (const e of entries) {
    if (e.revoked) continue;
    if (e.keyType === "ssh-rsa") ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"].forEach((a) => algorithms.add(a));
    else algorithms.add(e.keyType);
  }
  return [...algorithms];
}

/** The OpenSSH-style fingerprint of a host key blob: `SHA256:` and unpadded base64. */
export function fingerprintOf(key: Buffer): string {
  return `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}`;
}
