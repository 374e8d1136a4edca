import ipaddr from "ipaddr.js";

type IPv4 = ipaddr.IPv4;
type IPv6 = ipaddr.IPv6;

/** One refused range: the CIDR and the human name used in refusal messages. */
export interface RefusedRange<T extends IPv4 | IPv6> {
  readonly name: string;
  readonly cidr: string;
  readonly range: [T, number];
}

function defineV4(name: string, cidr: string): RefusedRange<IPv4> {
  return { name, cidr, range: ipaddr.IPv4.parseCIDR(cidr) };
}

function defineV6(name: string, cidr: string): RefusedRange<IPv6> {
  return { name, cidr, range: ipaddr.IPv6.parseCIDR(cidr) };
}

/**
 * IPv4 ranges refused by default: everything that is not ordinary public unicast.
 * Broadcast comes before the 240/4 block it sits in so it gets its own, clearer name.
 */
export const REFUSED_V4: readonly RefusedRange<IPv4>[] = [
  defineV4("unspecified", "0.0.0.0/8"),
  defineV4("private", "10.0.0.0/8"),
  defineV4("carrier-grade NAT", "100.64.0.0/10"),
  defineV4("loopback", "127.0.0.0/8"),
  defineV4("link-local", "169.254.0.0/16"),
  defineV4("private", "172.16.0.0/12"),
  defineV4("IETF protocol assignments", "192.0.0.0/24"),
  defineV4("documentation", "192.0.2.0/24"),
  defineV4("6to4 relay anycast", "192.88.99.0/24"),
  defineV4("private", "192.168.0.0/16"),
  defineV4("benchmarking", "198.18.0.0/15"),
  defineV4("documentation", "198.51.100.0/24"),
  defineV4("documentation", "203.0.113.0/24"),
  defineV4("multicast", "224.0.0.0/4"),
  defineV4("broadcast", "255.255.255.255/32"),
  defineV4("reserved", "240.0.0.0/4"),
];

/** IPv6 ranges refused outright (the forms that embed an IPv4 address are handled apart). */
export const REFUSED_V6: readonly RefusedRange<IPv6>[] = [
  defineV6("unspecified", "::/128"),
  defineV6("loopback", "::1/128"),
  defineV6("local-use NAT64", "64:ff9b:1::/48"),
  defineV6("discard-only", "100::/64"),
  defineV6("benchmarking", "2001:2::/48"),
  defineV6("ORCHID", "2001:10::/28"),
  defineV6("ORCHIDv2", "2001:20::/28"),
  defineV6("documentation", "2001:db8::/32"),
  defineV6("documentation", "3fff::/20"),
  defineV6("unique-local", "fc00::/7"),
  defineV6("link-local", "fe80::/10"),
  defineV6("site-local", "fec0::/10"),
  defineV6("multicast", "ff00::/8"),
];

/** Everything outside global unicast 2000::/3 is unassigned or special-purpose. */
export const GLOBAL_UNICAST_V6: [IPv6, number] = ipaddr.IPv6.parseCIDR("2000::/3");

/** A way an IPv6 address can carry an IPv4 one; `final` ones are routed to that IPv4 address. */
export interface EmbeddedV4 {
  readonly v4: IPv4;
  /** Describes the carrying form for refusal messages, e.g. "IPv4-mapped IPv6 ::ffff:0:0/96". */
  readonly via: string;
  /**
   * True when the IPv6 address is nothing but a way to reach the IPv4 one (mapped,
   * translated, NAT64), so a public embedded address makes the whole address allowed.
   */
  readonly final: boolean;
}

function v4FromWords(high: number, low: number): IPv4 {
  return new ipaddr.IPv4([(high >> 8) & 0xff, high & 0xff, (low >> 8) & 0xff, low & 0xff]);
}

/**
 * The IPv4 addresses an IPv6 address embeds. Checking these matters because the kernel (for
 * mapped forms) or a translator (NAT64, 6to4, Teredo) delivers the packets to that IPv4 host.
 */
export function extractEmbeddedV4(addr: IPv6): EmbeddedV4[] {
  const p = addr.parts;
  const w = (i: number): number => p[i] ?? 0;
  const zeroUpTo = (n: number): boolean => p.slice(0, n).every((x) => x === 0);

  if (zeroUpTo(5) && w(5) === 0xffff) {
    return [{ v4: v4FromWords(w(6), w(7)), via: "IPv4-mapped IPv6 ::ffff:0:0/96", final: true }];
  }
  if (zeroUpTo(4) && w(4) === 0xffff && w(5) === 0) {
    return [{ v4: v4FromWords(w(6), w(7)), via: "IPv4-translated IPv6 ::ffff:0:0:0/96", final: true }];
  }
  if (zeroUpTo(6)) {
    // IPv4-compatible (deprecated); :: and ::1 are caught by the plain IPv6 rules first.
    return [{ v4: v4FromWords(w(6), w(7)), via: "IPv4-compatible IPv6 ::/96", final: false }];
  }
  if (w(0) === 0x64 && w(1) === 0xff9b && w(2) === 0 && w(3) === 0 && w(4) === 0 && w(5) === 0) {
    return [{ v4: v4FromWords(w(6), w(7)), via: "NAT64 64:ff9b::/96", final: true }];
  }
  if (w(0) === 0x2002) {
    return [{ v4: v4FromWords(w(1), w(2)), via: "6to4 2002::/16", final: false }];
  }
  if (w(0) === 0x2001 && w(1) === 0) {
    // Teredo: the server address is in clear, the client (the real destination) is inverted.
    return [
      { v4: v4FromWords(w(2), w(3)), via: "Teredo 2001::/32 (server)", final: false },
      { v4: v4FromWords(~w(6) & 0xffff, ~w(7) & 0xffff), via: "Teredo 2001::/32 (client)", final: false },
    ];
  }
  return [];
}
