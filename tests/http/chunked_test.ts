import assert from "node:assert/strict";
import { HeadParseError } from "../../lib/errors.ts";
import { BodyCutter } from "../../lib/passthrough/body.ts";
import {
  type BodyFraming,
  ChunkedScanner,
  MAX_TRAILER_BYTES,
  requestBodyFraming,
  responseBodyFraming,
} from "../../lib/http/chunked.ts";
import { parseRequestHead, parseResponseHead } from "../../lib/http/head.ts";

/** One byte per char code, so tests can spell any byte in a string. */
const bytes = (text: string): Uint8Array => Uint8Array.from(text, (char) => char.charCodeAt(0));

const requestFramings: { name: string; fields: string[]; expect: BodyFraming }[] = [
  { name: "no body headers", fields: [], expect: { kind: "none" } },
  { name: "Content-Length", fields: ["Content-Length: 42"], expect: { kind: "length", length: 42 } },
  { name: "Content-Length 0", fields: ["Content-Length: 0"], expect: { kind: "length", length: 0 } },
  { name: "chunked", fields: ["transfer-encoding: CHUNKED"], expect: { kind: "chunked" } },
];

for (const { name, fields, expect } of requestFramings) {
  Deno.test(`requestBodyFraming: ${name}`, () => {
    const head = parseRequestHead(bytes(["POST / HTTP/1.1", "Host: h", ...fields, "", ""].join("\r\n")));
    assert.deepEqual(requestBodyFraming(head), expect);
  });
}

const responseFramings: {
  name: string;
  status: number;
  method?: string;
  fields: string[];
  expect: BodyFraming;
}[] = [
  {
    name: "HEAD request",
    status: 200,
    method: "HEAD",
    fields: ["Content-Length: 9"],
    expect: { kind: "none" },
  },
  { name: "101", status: 101, fields: [], expect: { kind: "none" } },
  { name: "100", status: 100, fields: [], expect: { kind: "none" } },
  { name: "204", status: 204, fields: ["Content-Length: 3"], expect: { kind: "none" } },
  { name: "304", status: 304, fields: ["Transfer-Encoding: chunked"], expect: { kind: "none" } },
  {
    name: "Content-Length",
    status: 200,
    fields: ["Content-Length: 7"],
    expect: { kind: "length", length: 7 },
  },
  { name: "chunked", status: 500, fields: ["Transfer-Encoding: chunked"], expect: { kind: "chunked" } },
  { name: "until close", status: 200, fields: ["Server: x"], expect: { kind: "close" } },
];

for (const { name, status, method = "GET", fields, expect } of responseFramings) {
  Deno.test(`responseBodyFraming: ${name}`, () => {
    const head = parseResponseHead(bytes([`HTTP/1.1 ${status} X`, ...fields, "", ""].join("\r\n")));
    assert.deepEqual(responseBodyFraming(head, method), expect);
  });
}

const validBodies: { name: string; body: string }[] = [
  { name: "empty body", body: "0\r\n\r\n" },
  { name: "one chunk", body: "5\r\nhello\r\n0\r\n\r\n" },
  { name: "several chunks, mixed-case hex", body: "a\r\n0123456789\r\nB\r\n0123456789a\r\n0\r\n\r\n" },
  { name: "data containing CRLFs and zeros", body: "7\r\n0\r\n\r\n\r\n\r\n0\r\n\r\n" },
  { name: "leading zeros", body: "0005\r\nhello\r\n000\r\n\r\n" },
  { name: "chunk extensions", body: '5;name=val;q="a b"\r\nhello\r\n0;last\r\n\r\n' },
  { name: "quoted extension with ; and an escaped quote", body: '5;q="a;\\"b"\r\nhello\r\n0\r\n\r\n' },
  { name: "whitespace before extension", body: "5 \t;x\r\nhello\r\n0\r\n\r\n" },
  { name: "obs-text in extension", body: "5;x=\xe9\r\nhello\r\n0\r\n\r\n" },
  { name: "trailers", body: "5\r\nhello\r\n0\r\nX-Sum: 1\r\nX-Other:\tb\xff\r\n\r\n" },
];

/** Feeds the pieces in order; returns the offset where the body ended, counted from the start. */
function scan(pieces: Uint8Array[]): number {
  const scanner = new ChunkedScanner();
  let consumed = 0;
  for (const piece of pieces) {
    const end = scanner.push(piece);
    if (end !== -1) return consumed + end;
    consumed += piece.length;
  }
  return -1;
}

const oneByteAtATime = (input: Uint8Array): Uint8Array[] =>
  Array.from(input, (_, i) => input.subarray(i, i + 1));

for (const { name, body } of validBodies) {
  // Bytes of the next message follow the body: the scanner must stop exactly at its end.
  const input = bytes(`${body}GET / HTTP/1.1\r\n`);
  const end = body.length;
  Deno.test(`ChunkedScanner finds the end: ${name}`, async (t) => {
    await t.step("in one piece", () => assert.equal(scan([input]), end));
    await t.step("one byte at a time", () => assert.equal(scan(oneByteAtATime(input)), end));
    await t.step("split at every offset", () => {
      for (let at = 0; at <= input.length; at++) {
        assert.equal(scan([input.subarray(0, at), input.subarray(at)]), end, `split at ${at}`);
      }
    });
    await t.step("not before the last byte", () => assert.equal(scan([input.subarray(0, end - 1)]), -1));
  });
}

Deno.test("ChunkedScanner skips a large chunk without stepping through it", () => {
  const size = 1 << 20;
  const scanner = new ChunkedScanner();
  assert.equal(scanner.push(bytes(`${size.toString(16)}\r\n`)), -1);
  assert.equal(scanner.push(new Uint8Array(size)), -1);
  assert.equal(scanner.push(bytes("\r\n0\r\n\r\nrest")), 7);
});

Deno.test("ChunkedScanner accepts a chunk-size of 2^53 - 1 and returns 0 after the end", () => {
  assert.equal(new ChunkedScanner().push(bytes("1fffffffffffff\r\nabc")), -1);
  const scanner = new ChunkedScanner();
  assert.equal(scanner.push(bytes("0\r\n\r\n")), 5);
  assert.equal(scanner.push(bytes("more")), 0);
});

const malformedBodies: { name: string; body: string; message: RegExp }[] = [
  { name: "not hex", body: "x\r\n", message: /hex digit/ },
  { name: "empty size line", body: "\r\n", message: /hex digit/ },
  { name: "negative size", body: "-1\r\n", message: /hex digit/ },
  { name: "0x prefix", body: "0x5\r\nhello\r\n", message: /after chunk-size/ },
  { name: "size 2^53", body: "20000000000000\r\n", message: /too large/ },
  { name: "many digits", body: "fffffffffffffffffff\r\n", message: /too large/ },
  { name: "bare LF after size", body: "5\nhello\r\n0\r\n\r\n", message: /after chunk-size/ },
  { name: "bare CR after size", body: "5\rhello\r\n", message: /bare CR/ },
  { name: "bare LF in extension", body: "5;ext\nhello\r\n0\r\n\r\n", message: /bare LF in chunk extension/ },
  { name: "NUL in extension", body: "5;a\x00\r\nhello\r\n", message: /chunk extension/ },
  {
    name: "quoted extension running past the line end",
    body: '3;a="b\r\nabc\r\n0\r\n\r\n',
    message: /unterminated quoted string/,
  },
  { name: "escaped CR in a quoted extension", body: '3;a="\\\r\nabc\r\n', message: /chunk extension/ },
  { name: "whitespace without extension", body: "5 \r\nhello\r\n", message: /expected ";"/ },
  { name: "data longer than size", body: "5\r\nhelloX\r\n0\r\n\r\n", message: /after chunk-data/ },
  { name: "bare LF after data", body: "5\r\nhello\n0\r\n\r\n", message: /after chunk-data/ },
  { name: "CR without LF after data", body: "5\r\nhello\rX", message: /LF after chunk-data/ },
  { name: "bare LF in trailer", body: "0\r\nX-T: 1\n\r\n", message: /bare LF in trailer/ },
  { name: "bare CR in trailer", body: "0\r\nX-T: 1\rX\r\n\r\n", message: /bare CR in trailer/ },
  { name: "control in trailer", body: "0\r\nX-T: \x01\r\n\r\n", message: /trailer section/ },
  { name: "obs-fold in trailer", body: "0\r\nX-T: 1\r\n folded\r\n\r\n", message: /obs-fold/ },
  { name: "bare LF as final line", body: "0\r\n\n", message: /bare LF in trailer/ },
  { name: "bare CR at the end", body: "0\r\n\r\r", message: /bare CR at the end/ },
  { name: "trailer without a colon", body: "0\r\nX-T\r\n\r\n", message: /invalid trailer field name "X-T"/ },
  { name: "space before a trailer's colon", body: "0\r\nHost : h\r\n\r\n", message: /trailer field name/ },
  { name: "empty trailer name", body: "0\r\n: h\r\n\r\n", message: /trailer field name ""/ },
  { name: "non-token trailer name", body: "0\r\nX\xe9: h\r\n\r\n", message: /trailer field name/ },
  {
    name: "trailer section over the limit",
    body: `0\r\nX-Big: ${"a".repeat(MAX_TRAILER_BYTES)}\r\n\r\n`,
    message: /trailer section over/,
  },
];

for (const { name, body, message } of malformedBodies) {
  const input = bytes(body);
  const rejects = (pieces: Uint8Array[]) =>
    assert.throws(() => scan(pieces), (err: unknown) => {
      assert.ok(err instanceof HeadParseError, `not a HeadParseError: ${err}`);
      assert.equal(err.status, 400);
      assert.match(err.message, message);
      return true;
    });
  Deno.test(`ChunkedScanner rejects: ${name}`, async (t) => {
    await t.step("in one piece", () => rejects([input]));
    await t.step("one byte at a time", () => rejects(oneByteAtATime(input)));
  });
}

/**
 * Runs `pieces` through a BodyCutter for a chunked body: what is forwarded, piece by piece. Every
 * piece is read into the same buffer, as the runtimes lease theirs: held bytes must be copies.
 */
function forward(pieces: Uint8Array[]): Uint8Array[] {
  const cutter = new BodyCutter({ kind: "chunked" });
  const lease = new Uint8Array(Math.max(...pieces.map((piece) => piece.length)));
  const out: Uint8Array[] = [];
  for (const piece of pieces) {
    lease.set(piece);
    out.push(cutter.cut(lease.subarray(0, piece.length)).slice()); // written before the next read
    if (cutter.done) return out;
  }
  throw new Error("the body did not end");
}

/** One char per byte, like `bytes` the other way. */
const joined = (parts: Uint8Array[]) => String.fromCharCode(...parts.flatMap((part) => [...part]));

const trailerCases: { name: string; trailers: string[]; kept: string[] }[] = [
  {
    name: "framing, routing and hop-by-hop fields are dropped, others kept in order",
    trailers: [
      "X-Sum: 1",
      "Content-Length: 5",
      "transfer-encoding: chunked",
      "Host: evil.test",
      "Connection: close",
      "Keep-Alive: timeout=5",
      "Trailer: X-Sum",
      "TE: trailers",
      "Upgrade: websocket",
      "Proxy-Authorization: Basic eA==",
      "x-checksum: abc",
    ],
    kept: ["X-Sum: 1", "x-checksum: abc"],
  },
  {
    name: "what wsgate tells the upstream about the client, and credentials, are dropped",
    trailers: [
      "X-Forwarded-For: 10.0.0.1",
      "X-Forwarded-Proto: https",
      "Forwarded: for=10.0.0.1",
      "X-Real-IP: 10.0.0.1",
      "X_Forwarded_For: 10.0.0.1",
      "Authorization: Bearer forged",
      "Cookie: token=forged",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      "Server-Timing: db;dur=53",
    ],
    kept: ["Server-Timing: db;dur=53"],
  },
  { name: "only dropped fields", trailers: ["Content-Length: 0", "Host: h"], kept: [] },
];

for (const { name, trailers, kept } of trailerCases) {
  const trailerSection = (fields: string[]) => fields.map((f) => `${f}\r\n`).join("") + "\r\n";
  const input = bytes(`5\r\nhello\r\n0;ext\r\n${trailerSection(trailers)}GET /next HTTP/1.1\r\n`);
  const expected = `5\r\nhello\r\n0;ext\r\n${trailerSection(kept)}`;
  Deno.test(`BodyCutter, chunked trailers: ${name}`, async (t) => {
    await t.step("in one piece", () => assert.equal(joined(forward([input])), expected));
    await t.step("one byte at a time", () => assert.equal(joined(forward(oneByteAtATime(input))), expected));
    await t.step("split at every offset", () => {
      for (let at = 0; at <= input.length; at++) {
        const pieces = [input.subarray(0, at), input.subarray(at)];
        assert.equal(joined(forward(pieces)), expected, `split at ${at}`);
      }
    });
  });
}

Deno.test("BodyCutter, chunked trailers: allowed ones go out as they came, uncopied within one read", () => {
  for (const body of ["3\r\nabc\r\n0\r\n\r\n", "3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-Other:\tb\xff\r\n\r\n"]) {
    const input = bytes(`${body}rest`);
    const out = new BodyCutter({ kind: "chunked" }).cut(input);
    assert.equal(joined([out]), body);
    assert.equal(out.buffer, input.buffer, "a view of the chunk read");
    assert.equal(joined(forward(oneByteAtATime(input))), body);
  }
});
