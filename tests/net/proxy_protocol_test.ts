import assert from "node:assert/strict";
import { prng } from "../_prng.ts";
import {
  encodeLocalProxyHeader,
  encodeProxyHeader,
  parseProxyHeader,
  type ProxyParse,
} from "../../lib/net/proxy_protocol.ts";
import type { Addr } from "../../lib/runtime/types.ts";

const enc = new TextEncoder();
const SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
const tcp = (hostname: string, port: number): Addr => ({ transport: "tcp", hostname, port });

/** A v2 header: signature, version/command, family, then `body` with its length. */
function v2(command: number, family: number, body: number[]): Uint8Array {
  return Uint8Array.from([...SIG, command, family, body.length >> 8, body.length & 0xff, ...body]);
}

const IPV4_BODY = [192, 0, 2, 1, 198, 51, 100, 7, 0xd4, 0x31, 0x01, 0xbb]; // 54321 -> 443
const IPV6_BODY = [
  ...[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
  ...[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
  0x30,
  0x39,
  0x00,
  0x50,
];

const HTTP = enc.encode("GET / HTTP/1.1\r\n");
const withHttp = (header: Uint8Array) => Uint8Array.from([...header, ...HTTP]);

const accepted: { name: string; input: Uint8Array; source?: Addr; dest?: Addr; version: 1 | 2 }[] = [
  {
    name: "v1 TCP4",
    input: enc.encode("PROXY TCP4 192.0.2.1 198.51.100.7 54321 443\r\n"),
    version: 1,
    source: tcp("192.0.2.1", 54321),
    dest: tcp("198.51.100.7", 443),
  },
  {
    name: "v1 TCP6",
    input: enc.encode("PROXY TCP6 2001:db8::1 2001:DB8::2 12345 80\r\n"),
    version: 1,
    source: tcp("2001:db8::1", 12345),
    dest: tcp("2001:db8::2", 80),
  },
  { name: "v1 UNKNOWN", input: enc.encode("PROXY UNKNOWN\r\n"), version: 1 },
  { name: "v1 UNKNOWN with addresses", input: enc.encode("PROXY UNKNOWN ::1 ::1 1 2\r\n"), version: 1 },
  {
    name: "v1 ports 0 and 65535",
    input: enc.encode("PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\n"),
    version: 1,
    source: tcp("1.2.3.4", 0),
    dest: tcp("5.6.7.8", 65535),
  },
  {
    name: "v2 PROXY TCP over IPv4",
    input: v2(0x21, 0x11, IPV4_BODY),
    version: 2,
    source: tcp("192.0.2.1", 54321),
    dest: tcp("198.51.100.7", 443),
  },
  {
    name: "v2 PROXY TCP over IPv6",
    input: v2(0x21, 0x21, IPV6_BODY),
    version: 2,
    source: tcp("2001:db8::1", 12345),
    dest: tcp("2001:db8::2", 80),
  },
  {
    name: "v2 with TLVs after the addresses",
    input: v2(0x21, 0x11, [...IPV4_BODY, 0x04, 0x00, 0x02, 0xaa, 0xbb, 0x20, 0x00, 0x00]),
    version: 2,
    source: tcp("192.0.2.1", 54321),
    dest: tcp("198.51.100.7", 443),
  },
  { name: "v2 LOCAL (health check): addresses ignored", input: v2(0x20, 0x11, IPV4_BODY), version: 2 },
  { name: "v2 LOCAL with no address", input: v2(0x20, 0x00, []), version: 2 },
  { name: "v2 PROXY with AF_UNSPEC", input: v2(0x21, 0x00, []), version: 2 },
  {
    name: "v2 PROXY over unix sockets",
    input: v2(0x21, 0x31, [
      ...enc.encode("/a.sock"),
      ...new Array<number>(101).fill(0),
      ...enc.encode("/b.sock"),
      ...new Array<number>(101).fill(0),
    ]),
    version: 2,
    source: { transport: "unix", path: "/a.sock" },
    dest: { transport: "unix", path: "/b.sock" },
  },
];

for (const { name, input, version, source, dest } of accepted) {
  Deno.test(`parseProxyHeader accepts: ${name}`, () => {
    const result = parseProxyHeader(withHttp(input));
    assert.equal(result.state, "done", JSON.stringify(result));
    if (result.state !== "done") return;
    assert.deepEqual(result.header, {
      version,
      ...(source && { source }),
      ...(dest && { dest }),
    });
    assert.deepEqual(result.rest, HTTP);
  });
  Deno.test(`parseProxyHeader: ${name}, every proper prefix is incomplete`, () => {
    for (let n = 0; n < input.length; n++) {
      assert.deepEqual(parseProxyHeader(input.subarray(0, n)), { state: "incomplete" }, `prefix ${n}`);
    }
  });
}

const rejected: { name: string; input: Uint8Array; error: RegExp }[] = [
  { name: "plain HTTP", input: HTTP, error: /no PROXY protocol header/ },
  { name: "TLS ClientHello", input: Uint8Array.from([0x16, 0x03, 0x01, 0x02, 0x00]), error: /no PROXY/ },
  { name: "lower-case proxy", input: enc.encode("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), error: /no PROXY/ },
  { name: "v1 bare LF", input: enc.encode("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), error: /CRLF/ },
  {
    name: "v1 longer than 107 bytes",
    input: enc.encode(`PROXY UNKNOWN ${"x".repeat(100)}\r\n`),
    error: /longer than 107/,
  },
  { name: "v1 UDP4", input: enc.encode("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"), error: /unknown protocol/ },
  { name: "v1 missing field", input: enc.encode("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), error: /5 fields/ },
  { name: "v1 double space", input: enc.encode("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"), error: /5 fields/ },
  { name: "v1 IPv6 under TCP4", input: enc.encode("PROXY TCP4 ::1 ::1 1 2\r\n"), error: /not an IPv4/ },
  { name: "v1 IPv4 under TCP6", input: enc.encode("PROXY TCP6 1.2.3.4 ::1 1 2\r\n"), error: /not an IPv6/ },
  { name: "v1 bad address", input: enc.encode("PROXY TCP4 1.2.3.400 5.6.7.8 1 2\r\n"), error: /source/ },
  { name: "v1 port too big", input: enc.encode("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"), error: /port/ },
  { name: "v1 port leading zero", input: enc.encode("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"), error: /port/ },
  { name: "v1 port sign", input: enc.encode("PROXY TCP4 1.2.3.4 5.6.7.8 1 +2\r\n"), error: /port/ },
  { name: "v1 zone", input: enc.encode("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n"), error: /not an IPv6/ },
  { name: "v2 version 1", input: v2(0x11, 0x11, IPV4_BODY), error: /version 1 is not 2/ },
  { name: "v2 command 2", input: v2(0x22, 0x11, IPV4_BODY), error: /unknown command/ },
  { name: "v2 UDP over IPv4", input: v2(0x21, 0x12, IPV4_BODY), error: /stream only/ },
  { name: "v2 unknown family", input: v2(0x21, 0x41, IPV4_BODY), error: /unsupported address family/ },
  { name: "v2 address block too short", input: v2(0x21, 0x21, IPV4_BODY), error: /shorter than 36/ },
  { name: "v2 truncated TLV", input: v2(0x21, 0x11, [...IPV4_BODY, 0x04, 0x00]), error: /truncated TLV/ },
  {
    name: "v2 TLV longer than the header",
    input: v2(0x21, 0x11, [...IPV4_BODY, 0x04, 0x00, 0x05, 1]),
    error: /TLV longer/,
  },
];

for (const { name, input, error } of rejected) {
  Deno.test(`parseProxyHeader rejects: ${name}`, () => {
    const result = parseProxyHeader(input);
    assert.equal(result.state, "invalid", JSON.stringify(result));
    assert.match((result as Extract<ProxyParse, { state: "invalid" }>).error, error);
  });
}

const encoded: { name: string; version: 1 | 2; source: Addr; dest: Addr; expect: Uint8Array }[] = [
  {
    name: "v1 IPv4",
    version: 1,
    source: tcp("192.0.2.1", 54321),
    dest: tcp("198.51.100.7", 443),
    expect: enc.encode("PROXY TCP4 192.0.2.1 198.51.100.7 54321 443\r\n"),
  },
  {
    name: "v1 IPv6",
    version: 1,
    source: tcp("2001:db8::1", 12345),
    dest: tcp("2001:db8::2", 80),
    expect: enc.encode("PROXY TCP6 2001:db8::1 2001:db8::2 12345 80\r\n"),
  },
  {
    name: "v1 mixed families become TCP6 with a mapped address",
    version: 1,
    source: tcp("192.0.2.1", 1),
    dest: tcp("::1", 2),
    expect: enc.encode("PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2\r\n"),
  },
  {
    name: "v1 dual-stack mapped addresses are IPv4",
    version: 1,
    source: tcp("::ffff:192.0.2.1", 1),
    dest: tcp("::ffff:127.0.0.1", 2),
    expect: enc.encode("PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\n"),
  },
  {
    name: "v1 unix client",
    version: 1,
    source: { transport: "unix", path: "" },
    dest: { transport: "unix", path: "/run/ws.sock" },
    expect: enc.encode("PROXY UNKNOWN\r\n"),
  },
  {
    name: "v2 IPv4",
    version: 2,
    source: tcp("192.0.2.1", 54321),
    dest: tcp("198.51.100.7", 443),
    expect: v2(0x21, 0x11, IPV4_BODY),
  },
  {
    name: "v2 IPv6",
    version: 2,
    source: tcp("2001:db8::1", 12345),
    dest: tcp("2001:db8::2", 80),
    expect: v2(0x21, 0x21, IPV6_BODY),
  },
  {
    name: "v2 unix client: PROXY with AF_UNSPEC",
    version: 2,
    source: { transport: "unix", path: "" },
    dest: tcp("127.0.0.1", 80),
    expect: v2(0x21, 0x00, []),
  },
];

for (const { name, version, source, dest, expect } of encoded) {
  Deno.test(`encodeProxyHeader: ${name}`, () => {
    const bytes = encodeProxyHeader(version, { source, dest });
    assert.deepEqual(bytes, expect);
    // What we send, we read back the same (after the IPv4-mapped normalisation).
    const parsed = parseProxyHeader(bytes);
    assert.equal(parsed.state, "done");
  });
}

Deno.test("encodeLocalProxyHeader: v1 UNKNOWN and v2 LOCAL, read back without addresses", () => {
  assert.deepEqual(encodeLocalProxyHeader(1), enc.encode("PROXY UNKNOWN\r\n"));
  assert.deepEqual(encodeLocalProxyHeader(2), v2(0x20, 0x00, []));
  for (const version of [1, 2] as const) {
    const parsed = parseProxyHeader(encodeLocalProxyHeader(version));
    assert.deepEqual(parsed, { state: "done", header: { version }, rest: new Uint8Array(0) });
  }
});

Deno.test("parseProxyHeader fuzz: mutated headers give a parse state, never throw, and rest is a suffix", () => {
  const seed = Number(Deno.env.get("FUZZ_SEED") ?? 0x5eed);
  const random = prng(seed);
  const seeds = accepted.map((c) => withHttp(c.input));
  const counts = { done: 0, invalid: 0, incomplete: 0 };
  for (let i = 0; i < 20_000; i++) {
    const bytes = Array.from(seeds[i % seeds.length]!);
    for (let e = 1 + Math.floor(random() * 3); e > 0; e--) {
      const at = Math.floor(random() * bytes.length);
      const op = random();
      if (op < 0.5) bytes[at] = Math.floor(random() * 256);
      else if (op < 0.75) bytes.splice(at, 1);
      else bytes.splice(at, 0, Math.floor(random() * 256));
    }
    const input = Uint8Array.from(bytes.slice(0, Math.floor(random() * (bytes.length + 8))));
    let result: ProxyParse;
    try {
      result = parseProxyHeader(input);
    } catch (err) {
      throw new Error(`FUZZ_SEED=${seed} case ${i}: threw ${err} for [${input}]`);
    }
    counts[result.state]++;
    if (result.state === "done") {
      assert.deepEqual(result.rest, input.subarray(input.length - result.rest.length), `case ${i}`);
    }
  }
  assert.ok(counts.done > 100 && counts.invalid > 100 && counts.incomplete > 100, JSON.stringify(counts));
});
