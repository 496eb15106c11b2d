import assert from "node:assert/strict";
import { prng } from "../_prng.ts";
import { HeadParseError } from "../../lib/errors.ts";
import {
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  serializeRequestHead,
  serializeResponseHead,
} from "../../lib/http/head.ts";
import type { Header } from "../../lib/http/headers.ts";

/** One byte per char code, so tests can spell any byte (obs-text, controls) in a string. */
const bytes = (text: string): Uint8Array => Uint8Array.from(text, (char) => char.charCodeAt(0));

const request = (lines: string[]): Uint8Array => bytes(`${lines.join("\r\n")}\r\n\r\n`);

const manyHeaders = Array.from({ length: 99 }, (_, i) => `X-H${i}: v${i}`);

const validRequests: { name: string; head: string[]; expect: Partial<RequestHead> }[] = [
  {
    name: "simple GET",
    head: ["GET /chat?room=1 HTTP/1.1", "Host: example.com"],
    expect: {
      method: "GET",
      target: "/chat?room=1",
      path: "/chat?room=1",
      version: "HTTP/1.1",
      headers: [{ name: "Host", value: "example.com" }],
    },
  },
  {
    name: "100 header lines (the default limit)",
    head: ["GET / HTTP/1.1", "Host: a", ...manyHeaders],
    expect: { path: "/" },
  },
  {
    name: "obs-text value kept byte for byte",
    head: ["GET / HTTP/1.1", "Host: a", "X-Name: caf\xe9 \x80\x9f\xff"],
    expect: { headers: [{ name: "Host", value: "a" }, { name: "X-Name", value: "caf\xe9 \x80\x9f\xff" }] },
  },
  {
    name: "OWS trimmed, inner whitespace and 0xA0 kept, empty value",
    head: ["GET / HTTP/1.1", "hOsT:a", "X-A: \t v  w\xa0 \t", "X-Empty:"],
    expect: {
      headers: [
        { name: "hOsT", value: "a" },
        { name: "X-A", value: "v  w\xa0" },
        { name: "X-Empty", value: "" },
      ],
    },
  },
  {
    name: "absolute-form http with port and query",
    head: ["GET http://example.com:8080/chat?x=1 HTTP/1.1", "Host: example.com:8080"],
    expect: { target: "http://example.com:8080/chat?x=1", path: "/chat?x=1" },
  },
  { name: "absolute-form ws without path", head: ["GET ws://h HTTP/1.1", "Host: h"], expect: { path: "/" } },
  {
    name: "absolute-form https query only",
    head: ["GET HTTPS://h?q=1 HTTP/1.1", "Host: h"],
    expect: { path: "/?q=1" },
  },
  {
    name: "absolute-form wss IPv6",
    head: ["GET wss://[::1]:9/a HTTP/1.1", "Host: [::1]:9"],
    expect: { path: "/a" },
  },
  { name: "OPTIONS *", head: ["OPTIONS * HTTP/1.1", "Host: h"], expect: { method: "OPTIONS", path: "*" } },
  {
    name: "HTTP/1.0 without Host",
    head: ["GET /x HTTP/1.0", "Accept: */*"],
    expect: { version: "HTTP/1.0", path: "/x" },
  },
  { name: "IPv6 Host", head: ["GET / HTTP/1.1", "Host: [2001:db8::1]:8080"], expect: { path: "/" } },
  { name: "Content-Length 0", head: ["POST / HTTP/1.1", "Host: h", "Content-Length: 0"], expect: {} },
  {
    name: "Transfer-Encoding case",
    head: ["POST / HTTP/1.1", "Host: h", "Transfer-Encoding: Chunked"],
    expect: {},
  },
  { name: "extension method", head: ["M-SEARCH / HTTP/1.1", "Host: h"], expect: { method: "M-SEARCH" } },
];

for (const { name, head, expect } of validRequests) {
  Deno.test(`parseRequestHead accepts: ${name}`, () => {
    const parsed = parseRequestHead(request(head));
    for (const [key, value] of Object.entries(expect)) {
      assert.deepEqual(parsed[key as keyof RequestHead], value, key);
    }
  });
}

const longTarget = `/${"a".repeat(8192 - "GET / HTTP/1.1".length)}`;

const invalidRequests: {
  name: string;
  raw: string;
  status?: number;
  message?: RegExp;
  maxHeaders?: number;
}[] = [
  { name: "missing HTTP version", raw: "GET /\r\nHost: h\r\n\r\n", message: /missing HTTP version/ },
  { name: "HTTP/0.9 style line", raw: "GET /\r\n\r\n", message: /missing HTTP version/ },
  { name: "method only", raw: "GET\r\n\r\n", message: /missing request target/ },
  { name: "HTTP/2.0", raw: "GET / HTTP/2.0\r\nHost: h\r\n\r\n", message: /Unsupported HTTP version/ },
  { name: "lowercase version", raw: "GET / http/1.1\r\nHost: h\r\n\r\n", message: /invalid HTTP version/ },
  { name: "HTTP/1.1 with junk", raw: "GET / HTTP/1.10\r\nHost: h\r\n\r\n" },
  { name: "double space", raw: "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", message: /too many spaces/ },
  { name: "trailing space", raw: "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", message: /too many spaces/ },
  { name: "tab separator", raw: "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n" },
  { name: "leading space", raw: " GET / HTTP/1.1\r\nHost: h\r\n\r\n", message: /too many spaces/ },
  { name: "method not a token", raw: "GE(T / HTTP/1.1\r\nHost: h\r\n\r\n", message: /Invalid method/ },
  { name: "empty head", raw: "\r\n\r\n", message: /empty line/ },
  { name: "leading empty line", raw: "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", message: /empty line/ },
  {
    name: "control in target",
    raw: "GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n",
    message: /Invalid request target/,
  },
  { name: "DEL in target", raw: "GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", message: /Invalid request target/ },
  {
    name: "obs-text in target",
    raw: "GET /caf\xe9 HTTP/1.1\r\nHost: h\r\n\r\n",
    message: /Invalid request target/,
  },
  { name: "fragment in target", raw: "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", message: /fragment/ },
  { name: "authority-form", raw: "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", message: /target form/ },
  { name: "asterisk with GET", raw: "GET * HTTP/1.1\r\nHost: h\r\n\r\n", message: /OPTIONS/ },
  { name: "relative target", raw: "GET chat HTTP/1.1\r\nHost: h\r\n\r\n", message: /target form/ },
  { name: "ftp scheme", raw: "GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", message: /target form/ },
  {
    name: "absolute-form userinfo",
    raw: "GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n",
    message: /authority/,
  },
  {
    name: "absolute-form authority other than Host",
    raw: "GET http://a.test/ HTTP/1.1\r\nHost: b.test\r\n\r\n",
    message: /does not match the request target/,
  },
  {
    name: "absolute-form empty authority",
    raw: "GET http:///a HTTP/1.1\r\nHost: h\r\n\r\n",
    message: /authority/,
  },
  { name: "obs-fold", raw: "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n", message: /folding/ },
  { name: "obs-fold with tab", raw: "GET / HTTP/1.1\r\nHost: h\r\n\tb\r\n\r\n", message: /folding/ },
  {
    name: "space before colon",
    raw: "GET / HTTP/1.1\r\nHost : h\r\n\r\n",
    message: /whitespace before colon/,
  },
  {
    name: "tab before colon",
    raw: "GET / HTTP/1.1\r\nHost\t: h\r\n\r\n",
    message: /whitespace before colon/,
  },
  {
    name: "empty header name",
    raw: "GET / HTTP/1.1\r\nHost: h\r\n: x\r\n\r\n",
    message: /Invalid header name/,
  },
  {
    name: "non-tchar name",
    raw: "GET / HTTP/1.1\r\nHost: h\r\nX(a): b\r\n\r\n",
    message: /Invalid header name/,
  },
  {
    name: "obs-text name",
    raw: "GET / HTTP/1.1\r\nHost: h\r\nX\xe9: b\r\n\r\n",
    message: /Invalid header name/,
  },
  { name: "missing colon", raw: "GET / HTTP/1.1\r\nHost: h\r\nX-A b\r\n\r\n", message: /missing colon/ },
  // The next line's colon is not this line's (fields are found by offset in the whole head).
  {
    name: "missing colon, a colon on the next line",
    raw: "GET / HTTP/1.1\r\nX-A b\r\nHost: h\r\n\r\n",
    message: /missing colon in "X-A b"/,
  },
  { name: "empty name", raw: "GET / HTTP/1.1\r\nHost: h\r\n: b\r\n\r\n", message: /empty in ": b"/ },
  { name: "bare LF between fields", raw: "GET / HTTP/1.1\nHost: h\r\n\r\n", message: /Bare LF/ },
  { name: "bare LF ending", raw: "GET / HTTP/1.1\nHost: h\n\n", message: /Bare LF/ },
  { name: "CRLF LF ending", raw: "GET / HTTP/1.1\r\nHost: h\r\n\n", message: /Bare LF/ },
  { name: "LF CRLF ending", raw: "GET / HTTP/1.1\r\nHost: h\n\r\n", message: /Bare LF/ },
  { name: "bare CR in value", raw: "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n", message: /Bare CR/ },
  { name: "NUL in value", raw: "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n", message: /0x00/ },
  {
    name: "CTL in value",
    raw: "GET / HTTP/1.1\r\nHost: h\r\nX-A: \x01\r\n\r\n",
    message: /control character/,
  },
  {
    name: "DEL in value",
    raw: "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7f\r\n\r\n",
    message: /control character/,
  },
  { name: "truncated head", raw: "GET / HTTP/1.1\r\nHost: h\r\n", message: /CRLF CRLF/ },
  { name: "no line end at all", raw: "GET / HTTP/1.1", message: /CRLF CRLF/ },
  { name: "empty line inside", raw: "GET / HTTP/1.1\r\n\r\nHost: h\r\n\r\n", message: /empty line/ },
  { name: "missing Host", raw: "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", message: /Missing Host/ },
  { name: "duplicate Host", raw: "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", message: /Multiple Host/ },
  {
    name: "duplicate Host on 1.0",
    raw: "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
    message: /Multiple Host/,
  },
  {
    name: "duplicate Origin",
    raw: "GET / HTTP/1.1\r\nHost: a\r\nOrigin: https://a.test\r\norigin: https://evil.test\r\n\r\n",
    message: /Multiple origin/,
  },
  { name: "empty Host", raw: "GET / HTTP/1.1\r\nHost:\r\n\r\n", message: /Invalid Host/ },
  { name: "Host with space", raw: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", message: /Invalid Host/ },
  { name: "Host with slash", raw: "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", message: /Invalid Host/ },
  { name: "Host with userinfo", raw: "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", message: /Invalid Host/ },
  { name: "Host with bad port", raw: "GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n", message: /Invalid Host/ },
  {
    name: "Host with a comma",
    raw: "GET / HTTP/1.1\r\nHost: a.example,evil\r\n\r\n",
    message: /Invalid Host/,
  },
  {
    name: "Host with a semicolon",
    raw: "GET / HTTP/1.1\r\nHost: a.example;evil\r\n\r\n",
    message: /Invalid Host/,
  },
  {
    name: "Host with an escape",
    raw: "GET / HTTP/1.1\r\nHost: a%2eexample\r\n\r\n",
    message: /Invalid Host/,
  },
  {
    name: "backslash in the target",
    raw: "GET /admin\\secret HTTP/1.1\r\nHost: a\r\n\r\n",
    message: /backslash/,
  },
  { name: "Host unclosed IPv6", raw: "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", message: /Invalid Host/ },
  { name: "bad Host on 1.0", raw: "GET / HTTP/1.0\r\nHost: a b\r\n\r\n", message: /Invalid Host/ },
  {
    name: "Content-Length and Transfer-Encoding",
    raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    message: /Both Content-Length and Transfer-Encoding/,
  },
  {
    name: "duplicate Content-Length, same value",
    raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
    message: /Multiple Content-Length/,
  },
  {
    name: "Content-Length list",
    raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n",
    message: /single value/,
  },
  { name: "negative Content-Length", raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n" },
  { name: "signed Content-Length", raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n" },
  { name: "exponent Content-Length", raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1e3\r\n\r\n" },
  { name: "empty Content-Length", raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n" },
  {
    name: "16-digit Content-Length",
    raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1234567890123456\r\n\r\n",
    message: /Invalid Content-Length/,
  },
  {
    name: "Transfer-Encoding gzip, chunked",
    raw: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    message: /Unsupported Transfer-Encoding/,
  },
  {
    name: "Transfer-Encoding chunked, chunked",
    raw: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
    message: /Unsupported Transfer-Encoding/,
  },
  {
    name: "Transfer-Encoding identity",
    raw: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n",
    message: /Unsupported Transfer-Encoding/,
  },
  {
    name: "duplicate Transfer-Encoding",
    raw: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
    message: /Multiple Transfer-Encoding/,
  },
  {
    name: "Transfer-Encoding on HTTP/1.0",
    raw: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    message: /HTTP\/1\.0/,
  },
  { name: "request line too long", raw: `GET ${longTarget}x HTTP/1.1\r\nHost: h\r\n\r\n`, status: 414 },
  { name: "request line too long, unterminated", raw: `GET ${longTarget}${"x".repeat(30)}`, status: 414 },
  {
    name: "101 header lines",
    raw: `GET / HTTP/1.1\r\nHost: h\r\n${manyHeaders.join("\r\n")}\r\nX-Last: 1\r\n\r\n`,
    status: 431,
  },
  {
    name: "custom maxHeaders",
    raw: "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n",
    status: 431,
    maxHeaders: 2,
  },
];

for (const { name, raw, status = 400, message, maxHeaders } of invalidRequests) {
  Deno.test(`parseRequestHead rejects with ${status}: ${name}`, () => {
    const options = maxHeaders === undefined ? {} : { maxHeaders };
    assert.throws(() => parseRequestHead(bytes(raw), options), (err: unknown) => {
      assert.ok(err instanceof HeadParseError, `not a HeadParseError: ${err}`);
      assert.equal(err.status, status, err.message);
      if (message) assert.match(err.message, message);
      return true;
    });
  });
}

Deno.test("parseRequestHead: the request line limit is exact and configurable", () => {
  assert.equal(parseRequestHead(request([`GET ${longTarget} HTTP/1.1`, "Host: h"])).target, longTarget);
  const head = request(["GET /abcdef HTTP/1.1", "Host: h"]);
  assert.throws(() => parseRequestHead(head, { maxRequestLine: 10 }), {
    name: "HeadParseError",
    status: 414,
  });
});

const validResponses: { name: string; raw: string; status: number; reason: string; headers?: Header[] }[] = [
  {
    name: "101",
    raw: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
    status: 101,
    reason: "Switching Protocols",
    headers: [{ name: "Upgrade", value: "websocket" }],
  },
  { name: "no reason, no space", raw: "HTTP/1.1 204\r\n\r\n", status: 204, reason: "" },
  { name: "empty reason after space", raw: "HTTP/1.1 204 \r\n\r\n", status: 204, reason: "" },
  {
    name: "obs-text and tab in reason",
    raw: "HTTP/1.1 200 O\xcb\tk\r\n\r\n",
    status: 200,
    reason: "O\xcb\tk",
  },
  { name: "HTTP/1.0", raw: "HTTP/1.0 599 Odd\r\nContent-Length: 3\r\n\r\n", status: 599, reason: "Odd" },
];

for (const { name, raw, status, reason, headers } of validResponses) {
  Deno.test(`parseResponseHead accepts: ${name}`, () => {
    const parsed = parseResponseHead(bytes(raw));
    assert.equal(parsed.status, status);
    assert.equal(parsed.reason, reason);
    if (headers) assert.deepEqual(parsed.headers, headers);
  });
}

const invalidResponses: { name: string; raw: string; message?: RegExp }[] = [
  { name: "status below 100", raw: "HTTP/1.1 099 Low\r\n\r\n", message: /out of range/ },
  { name: "status 600", raw: "HTTP/1.1 600 High\r\n\r\n", message: /out of range/ },
  { name: "two-digit status", raw: "HTTP/1.1 20 OK\r\n\r\n", message: /status code/ },
  { name: "four-digit status", raw: "HTTP/1.1 2000 OK\r\n\r\n", message: /status code/ },
  { name: "letters as status", raw: "HTTP/1.1 abc\r\n\r\n", message: /status code/ },
  { name: "version only", raw: "HTTP/1.1\r\n\r\n", message: /status code/ },
  { name: "HTTP/2", raw: "HTTP/2 200 OK\r\n\r\n", message: /invalid HTTP version/ },
  { name: "lowercase version", raw: "http/1.1 200 OK\r\n\r\n", message: /invalid HTTP version/ },
  { name: "control in reason", raw: "HTTP/1.1 200 O\x00K\r\n\r\n", message: /reason phrase/ },
  { name: "bare LF", raw: "HTTP/1.1 200 OK\nServer: x\r\n\r\n", message: /Bare LF/ },
  {
    name: "Content-Length and Transfer-Encoding",
    raw: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    message: /Both/,
  },
  {
    name: "Transfer-Encoding on HTTP/1.0",
    raw: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    message: /HTTP\/1\.0/,
  },
  { name: "space before colon", raw: "HTTP/1.1 200 OK\r\nServer : x\r\n\r\n", message: /colon/ },
];

for (const { name, raw, message } of invalidResponses) {
  Deno.test(`parseResponseHead rejects with 400: ${name}`, () => {
    assert.throws(() => parseResponseHead(bytes(raw)), (err: unknown) => {
      assert.ok(err instanceof HeadParseError, `not a HeadParseError: ${err}`);
      assert.equal(err.status, 400);
      if (message) assert.match(err.message, message);
      return true;
    });
  });
}

const everyHighByte = String.fromCharCode(...Array.from({ length: 128 }, (_, i) => 0x80 + i));

const roundTrips: { name: string; raw: string; kind: "request" | "response" }[] = [
  { name: "request", raw: "GET /a?b HTTP/1.1\r\nHost: h\r\nX-Case: MiXeD\r\n\r\n", kind: "request" },
  {
    name: "bytes 0x80-0xFF",
    raw: `GET / HTTP/1.1\r\nHost: h\r\nX-Bin: ${everyHighByte}\r\n\r\n`,
    kind: "request",
  },
  {
    name: "response",
    raw: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
    kind: "response",
  },
  { name: "response without reason", raw: "HTTP/1.1 204\r\n\r\n", kind: "response" },
  { name: "response reason obs-text", raw: `HTTP/1.0 200 ${everyHighByte}\r\n\r\n`, kind: "response" },
];

for (const { name, raw, kind } of roundTrips) {
  Deno.test(`serialize round-trips byte-exactly: ${name}`, () => {
    const input = bytes(raw);
    const output = kind === "request"
      ? serializeRequestHead(parseRequestHead(input))
      : serializeResponseHead(parseResponseHead(input));
    // The bytes, not the array's class: a head is written from node:buffer's pool (transientBytes).
    assert.deepEqual(new Uint8Array(output), input);
  });
}

Deno.test("serialize refuses values that would inject lines or have no byte", () => {
  const head = { method: "GET", target: "/", version: "HTTP/1.1" };
  assert.throws(
    () => serializeRequestHead({ ...head, headers: [{ name: "X", value: "a\r\nEvil: 1" }] }),
    TypeError,
  );
  assert.throws(
    () => serializeRequestHead({ ...head, headers: [{ name: "X", value: "\u20ac" }] }),
    RangeError,
  );
});

const INTERESTING = [0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x2c, 0x00, 0x7f, 0x80, 0xff, 0x2f, 0x5b];

function mutate(input: Uint8Array, random: () => number): Uint8Array {
  const out = Array.from(input);
  const edits = 1 + Math.floor(random() * 4);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(random() * (out.length + 1));
    const value = random() < 0.5 ? Math.floor(random() * 256) : INTERESTING[Math.floor(random() * 12)] ?? 0;
    const op = random();
    if (op < 0.4) out[Math.min(at, out.length - 1)] = value;
    else if (op < 0.7) out.splice(at, 0, value);
    else out.splice(at, 1 + Math.floor(random() * 3));
  }
  return Uint8Array.from(out);
}

Deno.test("fuzz: mutated heads only ever parse or throw HeadParseError", () => {
  const seeds = [
    request([
      "GET http://example.com:8080/chat?x=1 HTTP/1.1",
      "Host: example.com:8080",
      "Upgrade: websocket",
      "Connection: keep-alive, Upgrade",
      "Content-Length: 0",
      "X-Bin: \xe9\x80",
    ]),
    request(["POST /up HTTP/1.1", "Host: [::1]:80", "Transfer-Encoding: chunked"]),
    request(["OPTIONS * HTTP/1.0"]),
    bytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x\r\n\r\n"),
  ];
  const random = prng(20240611);
  const counts = { parsed: 0, rejected: 0 };
  for (let i = 0; i < 20_000; i++) {
    const input = mutate(seeds[i % seeds.length] ?? new Uint8Array(), random);
    const options = i % 7 === 0 ? { maxHeaders: 2, maxRequestLine: 20 } : {};
    for (const parse of [parseRequestHead, parseResponseHead]) {
      try {
        parse(input, options);
        counts.parsed++;
      } catch (err) {
        if (!(err instanceof HeadParseError) || ![400, 414, 431].includes(err.status)) {
          throw new Error(
            `case ${i}: unexpected ${err} for ${JSON.stringify(String.fromCharCode(...input))}`,
          );
        }
        counts.rejected++;
      }
    }
  }
  assert.ok(counts.parsed > 1000 && counts.rejected > 1000, JSON.stringify(counts));
});

Deno.test("serialize: a CR or LF anywhere in a head (start line, name, value) is refused, not sent", () => {
  const ok = { method: "GET", target: "/", version: "HTTP/1.1", headers: [{ name: "Host", value: "a" }] };
  assert.throws(() => serializeRequestHead({ ...ok, target: "/x\r\nX-Injected: 1" }), /contains CR or LF/);
  assert.throws(
    () => serializeRequestHead({ ...ok, headers: [{ name: "X-A\n", value: "1" }] }),
    /contains CR or LF/,
  );
  assert.throws(
    () => serializeRequestHead({ ...ok, headers: [{ name: "X-A", value: "1\r2" }] }),
    /contains CR or LF/,
  );
  assert.throws(
    () => serializeResponseHead({ version: "HTTP/1.1", status: 200, reason: "OK\r\nX: y", headers: [] }),
    /contains CR or LF/,
  );
  assert.equal(
    new TextDecoder().decode(serializeRequestHead(ok)),
    "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
  );
});
