import assert from "node:assert/strict";
import {
  type Addr,
  clientIpOf,
  formatAddr,
  parseListenAddress,
  parseUpstreamAddress,
} from "../../lib/net/address.ts";
import { formatIp, parseIp } from "../../lib/net/cidr.ts";

const tcp = (hostname: string, port: number): Addr => ({ transport: "tcp", hostname, port });
const FORMS = "expected host:port, :port, [ipv6]:port or unix:/path";

Deno.test("parseListenAddress accepts each form", () => {
  const cases: [string, string, Addr][] = [
    ["IPv4", "127.0.0.1:8020", tcp("127.0.0.1", 8020)],
    ["host name", "localhost:80", tcp("localhost", 80)],
    ["port only = all interfaces", ":8020", tcp("0.0.0.0", 8020)],
    ["IPv6", "[::1]:8020", tcp("::1", 8020)],
    ["IPv6 any", "[::]:443", tcp("::", 443)],
    ["ephemeral port", "127.0.0.1:0", tcp("127.0.0.1", 0)],
    ["highest port", ":65535", tcp("0.0.0.0", 65_535)],
    ["unix socket", "unix:/run/wsgate.sock", { transport: "unix", path: "/run/wsgate.sock" }],
  ];
  for (const [name, text, addr] of cases) assert.deepEqual(parseListenAddress(text), addr, name);
});

Deno.test("parseListenAddress rejects bad addresses with a reason", () => {
  const cases: [string, string, string][] = [
    ["empty", "", `empty address (${FORMS})`],
    ["no port", "127.0.0.1", `missing port (${FORMS})`],
    ["a bare port", "8020", 'missing port: "8020" is a host name; for port 8020, write ":8020"'],
    ["port too big", ":65536", 'invalid port "65536" (must be 0..65535)'],
    ["port not a number", "host:http", 'invalid port "http" (must be 0..65535)'],
    ["empty port", "host:", 'invalid port "" (must be 0..65535)'],
    ["negative port", "host:-1", 'invalid port "-1" (must be 0..65535)'],
    ["IPv6 without brackets", "::1:8020", "IPv6 addresses need brackets, like [::1]:8080"],
    ["unclosed bracket", "[::1:8020", 'missing "]" after the IPv6 address'],
    ["junk after bracket", "[::1]8020", 'unexpected "8020" after "]"'],
    ["bad IPv6", "[::g]:80", 'invalid IPv6 address "::g"'],
    ["IPv4 in brackets", "[127.0.0.1]:80", 'invalid IPv6 address "127.0.0.1"'],
    ["bad host", "a b:80", 'invalid host name "a b"'],
    ["URL", "ws://host:80", `a listen address has no scheme (${FORMS})`],
    ["relative unix path", "unix:run/x.sock", "unix socket path must be absolute, like unix:/run/app.sock"],
    ["empty unix path", "unix:", "unix socket path must be absolute, like unix:/run/app.sock"],
  ];
  for (const [name, text, error] of cases) assert.deepEqual(parseListenAddress(text), { error }, name);
});

Deno.test("parseUpstreamAddress accepts each form", () => {
  const cases: [string, string, { addr: Addr; tls: boolean; hostname: string }][] = [
    ["host:port", "127.0.0.1:8080", { addr: tcp("127.0.0.1", 8080), tls: false, hostname: "127.0.0.1" }],
    ["name:port", "app.internal:80", { addr: tcp("app.internal", 80), tls: false, hostname: "app.internal" }],
    ["IPv6", "[::1]:8080", { addr: tcp("::1", 8080), tls: false, hostname: "::1" }],
    ["unix", "unix:/run/app.sock", {
      addr: { transport: "unix", path: "/run/app.sock" },
      tls: false,
      hostname: "localhost",
    }],
    ["ws default port", "ws://app.internal", {
      addr: tcp("app.internal", 80),
      tls: false,
      hostname: "app.internal",
    }],
    ["ws with port", "ws://app:8080", { addr: tcp("app", 8080), tls: false, hostname: "app" }],
    ["ws trailing slash", "ws://app:8080/", { addr: tcp("app", 8080), tls: false, hostname: "app" }],
    ["wss default port", "wss://b.internal", {
      addr: tcp("b.internal", 443),
      tls: true,
      hostname: "b.internal",
    }],
    ["wss with port", "wss://b.internal:9443", {
      addr: tcp("b.internal", 9443),
      tls: true,
      hostname: "b.internal",
    }],
    ["wss IPv6", "wss://[::1]", { addr: tcp("::1", 443), tls: true, hostname: "::1" }],
    ["scheme in capitals", "WSS://b:1", { addr: tcp("b", 1), tls: true, hostname: "b" }],
  ];
  for (const [name, text, expected] of cases) assert.deepEqual(parseUpstreamAddress(text), expected, name);
});

Deno.test("parseUpstreamAddress rejects bad addresses with a reason", () => {
  const cases: [string, string, string][] = [
    ["empty", "", `empty address (${FORMS})`],
    ["no port", "app.internal", `missing port (${FORMS})`],
    ["port zero", "app:0", 'invalid port "0" (must be 1..65535)'],
    ["port only", ":8080", `missing host (${FORMS})`],
    ["URL without host", "ws://:80", `missing host (${FORMS})`],
    ["http scheme", "http://app:80", 'unsupported scheme "http://"; use ws:// or wss://'],
    [
      "path",
      "ws://app/chat",
      'upstream URLs take no path, query or fragment (routes decide the path): "/chat"',
    ],
    [
      "query",
      "ws://app?x=1",
      'upstream URLs take no path, query or fragment (routes decide the path): "?x=1"',
    ],
    [
      "fragment",
      "ws://app#x",
      'upstream URLs take no path, query or fragment (routes decide the path): "#x"',
    ],
    ["user info", "wss://user:pw@app", "user info (user@) is not supported in upstream URLs"],
    ["bad URL port", "ws://app:99999", 'invalid port "99999" (must be 1..65535)'],
    ["relative unix path", "unix:app.sock", "unix socket path must be absolute, like unix:/run/app.sock"],
  ];
  for (const [name, text, error] of cases) assert.deepEqual(parseUpstreamAddress(text), { error }, name);
});

Deno.test("formatAddr writes addresses the way they are parsed", () => {
  const cases: [Addr, string][] = [
    [tcp("127.0.0.1", 8020), "127.0.0.1:8020"],
    [tcp("::1", 8020), "[::1]:8020"],
    [{ transport: "unix", path: "/run/x.sock" }, "unix:/run/x.sock"],
  ];
  for (const [addr, text] of cases) {
    assert.equal(formatAddr(addr), text);
    assert.deepEqual(parseListenAddress(text), addr, `${text} round-trips`);
  }
});

Deno.test("clientIpOf() unwraps IPv4-mapped IPv6 and has no address for unix sockets", () => {
  const cases: [string, Addr, string | undefined][] = [
    ["IPv4", tcp("203.0.113.9", 1), "203.0.113.9"],
    ["mapped", { transport: "tcp", hostname: "::ffff:192.0.2.1", port: 1 }, "192.0.2.1"],
    ["IPv6", { transport: "tcp", hostname: "2001:db8::7", port: 1 }, "2001:db8::7"],
    ["unix", { transport: "unix", path: "/run/wsgate.sock" }, undefined],
    ["no address (a Bun socket reset before accept)", tcp("", 0), undefined],
  ];
  for (const [name, addr, expected] of cases) assert.equal(clientIpOf(addr), expected, name);
});

Deno.test("clientIpOf() gives dotted quads the same form with or without its fast path", () => {
  const texts = ["0.0.0.0", "255.255.255.255", "127.0.0.1", "10.20.30.40", "199.200.249.250"];
  const odd = ["1.2.3.04", "256.1.1.1", "1.2.3", "1.2.3.4.5", "1.2.3.4 ", "01.2.3.4", "1..2.3", "๑.2.3.4"];
  for (const text of [...texts, ...odd]) {
    const bytes = parseIp(text);
    const slow = bytes ? formatIp(bytes) : text;
    assert.equal(clientIpOf(tcp(text, 1)), slow, text);
  }
});
