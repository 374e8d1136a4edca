import { describe, expect, it } from "vitest";
import { assertUrlAllowed, createOutboundPolicy, createRefusalError } from "../src/index.js";

const policy = createOutboundPolicy({ allow: [] });

// [address, expected rule] — every refused range, its edges, and the IPv6 forms that smuggle
// an IPv4 address (mapped, translated, compatible, NAT64, 6to4, Teredo).
const REFUSED: [string, string][] = [
  ["0.0.0.0", "unspecified 0.0.0.0/8"],
  ["0.255.255.255", "unspecified 0.0.0.0/8"],
  ["10.0.0.1", "private 10.0.0.0/8"],
  ["10.255.255.255", "private 10.0.0.0/8"],
  ["100.64.0.1", "carrier-grade NAT 100.64.0.0/10"],
  ["100.127.255.255", "carrier-grade NAT 100.64.0.0/10"],
  ["127.0.0.1", "loopback 127.0.0.0/8"],
  ["127.255.255.254", "loopback 127.0.0.0/8"],
  ["169.254.169.254", "link-local 169.254.0.0/16"],
  ["172.16.0.1", "private 172.16.0.0/12"],
  ["172.31.255.255", "private 172.16.0.0/12"],
  ["192.0.0.170", "IETF protocol assignments 192.0.0.0/24"],
  ["192.0.2.1", "documentation 192.0.2.0/24"],
  ["192.88.99.1", "6to4 relay anycast 192.88.99.0/24"],
  ["192.168.0.1", "private 192.168.0.0/16"],
  ["192.168.255.255", "private 192.168.0.0/16"],
  ["198.18.0.1", "benchmarking 198.18.0.0/15"],
  ["198.19.255.255", "benchmarking 198.18.0.0/15"],
  ["198.51.100.7", "documentation 198.51.100.0/24"],
  ["203.0.113.9", "documentation 203.0.113.0/24"],
  ["224.0.0.1", "multicast 224.0.0.0/4"],
  ["239.255.255.250", "multicast 224.0.0.0/4"],
  ["240.0.0.1", "reserved 240.0.0.0/4"],
  ["255.255.255.254", "reserved 240.0.0.0/4"],
  ["255.255.255.255", "broadcast 255.255.255.255/32"],
  // Non-canonical IPv4 spellings that inet_aton (and so some resolvers) accept.
  ["127.1", "loopback 127.0.0.0/8"],
  ["2130706433", "loopback 127.0.0.0/8"],
  ["0x7f000001", "loopback 127.0.0.0/8"],
  ["0177.0.0.1", "loopback 127.0.0.0/8"],
  // IPv6.
  ["::", "unspecified ::/128"],
  ["::1", "loopback ::1/128"],
  ["0:0:0:0:0:0:0:1", "loopback ::1/128"],
  ["[::1]", "loopback ::1/128"],
  ["fe80::1", "link-local fe80::/10"],
  ["fe80::1%eth0", "link-local fe80::/10"],
  ["febf:ffff::1", "link-local fe80::/10"],
  ["fec0::1", "site-local fec0::/10"],
  ["fc00::1", "unique-local fc00::/7"],
  ["fd00::2", "unique-local fc00::/7"],
  ["ff02::1", "multicast ff00::/8"],
  ["ff05::1:3", "multicast ff00::/8"],
  ["100::1", "discard-only 100::/64"],
  ["2001:db8::1", "documentation 2001:db8::/32"],
  ["3fff::1", "documentation 3fff::/20"],
  ["2001:2::1", "benchmarking 2001:2::/48"],
  ["2001:10::1", "ORCHID 2001:10::/28"],
  ["2001:20::1", "ORCHIDv2 2001:20::/28"],
  ["64:ff9b:1::1", "local-use NAT64 64:ff9b:1::/48"],
  ["1::1", "reserved (outside global unicast 2000::/3)"],
  ["4000::1", "reserved (outside global unicast 2000::/3)"],
  ["e000::1", "reserved (outside global unicast 2000::/3)"],
  // IPv4-mapped and -translated.
  ["::ffff:127.0.0.1", "loopback 127.0.0.0/8 via IPv4-mapped IPv6 ::ffff:0:0/96"],
  ["::ffff:7f00:1", "loopback 127.0.0.0/8 via IPv4-mapped IPv6 ::ffff:0:0/96"],
  ["0:0:0:0:0:ffff:7f00:1", "loopback 127.0.0.0/8 via IPv4-mapped IPv6 ::ffff:0:0/96"],
  ["::ffff:10.1.2.3", "private 10.0.0.0/8 via IPv4-mapped IPv6 ::ffff:0:0/96"],
  ["::ffff:169.254.169.254", "link-local 169.254.0.0/16 via IPv4-mapped IPv6 ::ffff:0:0/96"],
  ["::ffff:0.0.0.0", "unspecified 0.0.0.0/8 via IPv4-mapped IPv6 ::ffff:0:0/96"],
  ["::ffff:0:7f00:1", "loopback 127.0.0.0/8 via IPv4-translated IPv6 ::ffff:0:0:0/96"],
  // IPv4-compatible (deprecated).
  ["::7f00:1", "loopback 127.0.0.0/8 via IPv4-compatible IPv6 ::/96"],
  ["::a00:1", "private 10.0.0.0/8 via IPv4-compatible IPv6 ::/96"],
  ["::808:808", "IPv4-compatible IPv6 ::/96 (deprecated)"],
  // NAT64, 6to4, Teredo embedding a refused IPv4 address.
  ["64:ff9b::7f00:1", "loopback 127.0.0.0/8 via NAT64 64:ff9b::/96"],
  ["64:ff9b::127.0.0.1", "loopback 127.0.0.0/8 via NAT64 64:ff9b::/96"],
  ["64:ff9b::a9fe:a9fe", "link-local 169.254.0.0/16 via NAT64 64:ff9b::/96"],
  ["2002:7f00:1::1", "loopback 127.0.0.0/8 via 6to4 2002::/16"],
  ["2002:c0a8:101::1", "private 192.168.0.0/16 via 6to4 2002::/16"],
  // Teredo client 127.0.0.1 is stored inverted: ~7f00:0001 = 80ff:fffe.
  ["2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback 127.0.0.0/8 via Teredo 2001::/32 (client)"],
  ["2001:0:a00:1::1", "private 10.0.0.0/8 via Teredo 2001::/32 (server)"],
];

const ALLOWED: string[] = [
  "8.8.8.8",
  "1.1.1.1",
  "11.0.0.1",
  "93.184.216.34",
  "100.63.255.255",
  "100.128.0.0",
  "126.255.255.255",
  "128.0.0.1",
  "169.253.255.255",
  "172.15.255.255",
  "172.32.0.0",
  "192.167.255.255",
  "192.169.0.0",
  "223.255.255.255",
  "2606:4700:4700::1111",
  "2001:4860:4860::8888",
  "2a00:1450:4001:80b::200e",
  "::ffff:8.8.8.8",
  "::ffff:808:808",
  "64:ff9b::808:808",
  "2002:808:808::1",
  "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
];

describe("checkAddress with the default policy", () => {
  it.each(REFUSED)("refuses %s as %s", (ip, rule) => {
    expect(policy.checkAddress(ip)).toEqual({ allowed: false, rule });
  });

  it.each(ALLOWED)("allows public %s", (ip) => {
    expect(policy.checkAddress(ip)).toEqual({ allowed: true });
  });

  it.each(["", "localhost", "example.com", "999.1.1.1", " 127.0.0.1", "1.2.3.4.5"])("refuses %j as not an IP address", (ip) => {
    expect(policy.checkAddress(ip)).toEqual({ allowed: false, rule: "not an IP address" });
  });

  it("ignores host names when nothing is on the allow list", () => {
    expect(policy.checkAddress("127.0.0.1", { hostname: "localhost" })).toEqual({ allowed: false, rule: "loopback 127.0.0.0/8" });
  });
});

describe("checkAddress with an allow list", () => {
  it("allows a single v4 address and its IPv4-mapped form, nothing next to it", () => {
    const p = createOutboundPolicy({ allow: ["127.0.0.1/32"] });
    expect(p.checkAddress("127.0.0.1").allowed).toBe(true);
    expect(p.checkAddress("::ffff:127.0.0.1").allowed).toBe(true);
    expect(p.checkAddress("127.0.0.2")).toEqual({ allowed: false, rule: "loopback 127.0.0.0/8" });
    expect(p.checkAddress("::1")).toEqual({ allowed: false, rule: "loopback ::1/128" });
  });

  it("allows v4 and v6 CIDRs, bare addresses, and v4 reached through NAT64", () => {
    const p = createOutboundPolicy({ allow: ["10.0.0.0/8", " fd00::/8 ", "::1", "[fe80::1]", ""] });
    expect(p.allow).toEqual(["10.0.0.0/8", "fd00::/8", "::1", "[fe80::1]"]);
    expect(p.checkAddress("10.1.2.3").allowed).toBe(true);
    expect(p.checkAddress("64:ff9b::10.9.9.9").allowed).toBe(true);
    expect(p.checkAddress("fd12:3456::1").allowed).toBe(true);
    expect(p.checkAddress("fc00::1").allowed).toBe(false);
    expect(p.checkAddress("::1").allowed).toBe(true);
    expect(p.checkAddress("fe80::1").allowed).toBe(true);
    expect(p.checkAddress("fe80::2").allowed).toBe(false);
    expect(p.checkAddress("192.168.1.1").allowed).toBe(false);
  });

  it("allows host names exactly or by *.suffix, whatever they resolve to", () => {
    const p = createOutboundPolicy({ allow: ["localhost", "*.corp.example", "MinIO"] });
    const at = (hostname: string) => p.checkAddress("10.0.0.5", { hostname }).allowed;
    expect(at("localhost")).toBe(true);
    expect(at("LOCALHOST.")).toBe(true);
    expect(at("minio")).toBe(true);
    expect(at("files.corp.example")).toBe(true);
    expect(at("a.b.corp.example")).toBe(true);
    expect(at("corp.example")).toBe(false);
    expect(at("evilcorp.example")).toBe(false);
    expect(at("corp.example.evil.test")).toBe(false);
    expect(at("localhost.evil.test")).toBe(false);
    expect(p.checkAddress("10.0.0.5").allowed).toBe(false);
    expect(p.isHostnameAllowed("x.corp.example")).toBe(true);
    expect(p.isHostnameAllowed("")).toBe(false);
  });

  it("never lets a host-name entry match an address", () => {
    const p = createOutboundPolicy({ allow: ["*.example"] });
    expect(p.isHostnameAllowed("127.0.0.1")).toBe(false);
    expect(p.checkAddress("127.0.0.1", { hostname: "127.0.0.1" }).allowed).toBe(false);
    expect(p.checkAddress("127.0.0.1", { hostname: "0x7f.1" }).allowed).toBe(false);
  });

  it("can be opened entirely by an operator", () => {
    const p = createOutboundPolicy({ allow: ["0.0.0.0/0", "::/0"] });
    for (const [ip] of REFUSED) expect(p.checkAddress(ip).allowed, ip).toBe(true);
  });

  it.each(["10.0.0.0/33", "fd00::/129", "127.1", "not a host!", "*", "http://example.com", "*.", "a..b", "1.2.3.4/", "*.0.1", "*.1", "host.0x7f"])(
    "rejects the bad entry %j, naming the setting",
    (entry) => {
      expect(() => createOutboundPolicy({ allow: [entry] })).toThrow(/TRANSMUTE_OUTBOUND_ALLOW entry/);
    },
  );
});

describe("checkUrl", () => {
  it.each([
    "http://example.com/",
    "https://example.com/file.pdf?x=1",
    "HTTPS://EXAMPLE.COM/",
    "http://user:secret@example.com/",
    "http://8.8.8.8:8080/",
    "http://[2606:4700:4700::1111]/",
  ])("allows %s", (url) => {
    expect(policy.checkUrl(url)).toEqual({ allowed: true });
    expect(policy.checkUrl(new URL(url))).toEqual({ allowed: true });
  });

  it.each([
    ["data:text/plain,hello", "scheme data:"],
    ["file:///etc/passwd", "scheme file:"],
    ["ftp://example.com/file", "scheme ftp:"],
    ["gopher://example.com/", "scheme gopher:"],
    ["javascript:alert(1)", "scheme javascript:"],
    ["ws://example.com/", "scheme ws:"],
    ["blob:https://example.com/uuid", "scheme blob:"],
    ["not a url", "invalid URL"],
    ["/relative/path", "invalid URL"],
    ["http://", "invalid URL"],
  ])("refuses %s (%s)", (url, rule) => {
    expect(policy.checkUrl(url)).toEqual({ allowed: false, rule });
  });

  // WHATWG URL normalises every one of these to a dotted quad or compressed IPv6 literal;
  // the point is that none of them reaches a connection.
  it.each([
    ["http://127.0.0.1/", "loopback 127.0.0.0/8"],
    ["http://2130706433/", "loopback 127.0.0.0/8"],
    ["http://0x7f000001/", "loopback 127.0.0.0/8"],
    ["http://0177.0.0.1/", "loopback 127.0.0.0/8"],
    ["http://127.1/", "loopback 127.0.0.0/8"],
    ["http://0x7f.1/", "loopback 127.0.0.0/8"],
    ["http://017700000001/", "loopback 127.0.0.0/8"],
    ["http://0/", "unspecified 0.0.0.0/8"],
    ["http://0.0.0.0:8080/", "unspecified 0.0.0.0/8"],
    ["http://169.254.169.254/latest/meta-data/", "link-local 169.254.0.0/16"],
    ["http://10.0.0.1:9000/", "private 10.0.0.0/8"],
    ["http://[::]/", "unspecified ::/128"],
    ["http://[::1]:8080/", "loopback ::1/128"],
    ["http://[::ffff:127.0.0.1]/", "loopback 127.0.0.0/8 via IPv4-mapped IPv6 ::ffff:0:0/96"],
    ["http://[::ffff:7f00:1]/", "loopback 127.0.0.0/8 via IPv4-mapped IPv6 ::ffff:0:0/96"],
    ["http://[64:ff9b::7f00:1]/", "loopback 127.0.0.0/8 via NAT64 64:ff9b::/96"],
    ["http://[fd00::1]/", "unique-local fc00::/7"],
    ["https://user:pw@192.168.1.1/", "private 192.168.0.0/16"],
  ])("refuses the IP-literal URL %s (%s)", (url, rule) => {
    expect(policy.checkUrl(url)).toEqual({ allowed: false, rule });
  });

  it("allows an IP literal that is on the allow list, whatever its spelling", () => {
    const p = createOutboundPolicy({ allow: ["127.0.0.1/32"] });
    for (const url of ["http://2130706433/", "http://0x7f000001/", "http://0177.0.0.1/", "http://127.1/", "http://[::ffff:127.0.0.1]/"]) {
      expect(p.checkUrl(url), url).toEqual({ allowed: true });
    }
    expect(p.checkUrl("http://127.0.0.2/").allowed).toBe(false);
  });
});

describe("assertUrlAllowed and refusal errors", () => {
  it("says which address, which rule and which setting, in the documented words", () => {
    const err = createRefusalError("127.0.0.1", "loopback 127.0.0.0/8");
    expect(err.code).toBe("outbound_refused");
    expect(err.status).toBe(422);
    expect(err.retryable).toBe(false);
    expect(err.message).toBe(
      "Refused to connect to 127.0.0.1 (loopback 127.0.0.0/8): the outbound policy refuses private and local addresses; an operator can allow it with TRANSMUTE_OUTBOUND_ALLOW",
    );
    expect(createRefusalError("127.0.0.1", "loopback 127.0.0.0/8", "localhost").message).toMatch(/^Refused to connect to localhost at 127\.0\.0\.1 \(loopback/);
  });

  it("returns the parsed URL when allowed, and throws the right code otherwise", () => {
    expect(assertUrlAllowed(policy, "https://example.com/a?b=c").href).toBe("https://example.com/a?b=c");
    expect(() => assertUrlAllowed(policy, "http://0x7f000001/")).toThrowError(
      expect.objectContaining({ code: "outbound_refused", message: expect.stringContaining("127.0.0.1 (loopback 127.0.0.0/8)") }),
    );
    expect(() => assertUrlAllowed(policy, "file:///etc/passwd")).toThrowError(
      expect.objectContaining({ code: "outbound_refused", message: "Refused to fetch a file: URL: only http and https URLs are allowed" }),
    );
    expect(() => assertUrlAllowed(policy, "nope")).toThrowError(expect.objectContaining({ code: "invalid_payload" }));
  });
});
