/**
 * Property test of the head parsers: 100,000 request heads and 20,000 response heads per run,
 * generated (structured, with every smuggling ingredient in the mix), mutated from valid heads,
 * or random bytes. Each must parse or throw HeadParseError (400/414/431) and nothing else, fast;
 * each accepted head must satisfy the invariants a second parser relies on, checked here by an
 * independent oracle, and survive a serialize/parse round trip.
 *
 * Seeded: FUZZ_SEED=<n> repeats a run, FUZZ_CASE=<i> runs one case of it. A new seed is drawn
 * per run so CI keeps exploring; a failure prints the seed and case to reproduce it.
 */
import assert from "node:assert/strict";
import { HeadParseError } from "../../lib/errors.ts";
import {
  type Header,
  parseRequestHead,
  parseResponseHead,
  serializeRequestHead,
  serializeResponseHead,
} from "../../lib/http/head.ts";

const REQUEST_CASES = 100_000;
const RESPONSE_CASES = 20_000;
/** A single parse slower than this counts as a hang (they take microseconds). */
const SLOW_MS = 250;

/** mulberry32: small, fast, seedable. */
function prng(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Random = () => number;
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const chance = (random: Random, p: number) => random() < p;

/** Each part of a structured head: a valid choice most of the time, else a known trap. */
const PARTS = {
  method: [["GET", "POST", "OPTIONS", "PUT"], ["CONNECT", "get", "G ET", "GET\x00", "", "G\xc9T", "PRI"]],
  target: [
    ["/", "/chat?room=1", "http://h.test/x", "ws://h.test", "*"],
    ["h.test:443", "/a b", "/a#frag", "//x", "/%00", "http://u@h.test/", "/\x7f", "", "http://other.test/"],
  ],
  version: [["HTTP/1.1", "HTTP/1.1", "HTTP/1.0"], [
    "HTTP/1.2",
    "HTTP/2.0",
    "HTTP/0.9",
    "http/1.1",
    "HTTP/1.1 ",
    "",
  ]],
  name: [
    [
      "Host",
      "Content-Length",
      "Transfer-Encoding",
      "Upgrade",
      "Connection",
      "Sec-WebSocket-Key",
      "X-A",
      "x-b",
    ],
    ["Transfer-Encoding ", " Host", "Content-Length\t", "X[1]", "X\x00", "\xc4", ""],
  ],
  value: [
    [
      "h.test",
      "0",
      "5",
      "chunked",
      "Chunked",
      "websocket",
      "keep-alive, Upgrade",
      "13",
      "\xe9t\xe9",
      "",
      "a\tb",
    ],
    [
      "a b",
      "00",
      "+5",
      "-1",
      "5, 5",
      "0x10",
      "99999999999999999999",
      "gzip, chunked",
      "chunked, gzip",
      "identity",
    ],
  ],
  traps: [["\r\n"], ["\n", "\r", "\r\r\n", "\n\r", "\x01", "\x00", "\x7f"]],
  separator: [[": ", ":", ":\t", ":  "], [" : ", "\t:", ""]],
  status: [["101", "200", "404"], ["99", "600", "2000", "abc", "20"]],
} as const;

function part(random: Random, name: keyof typeof PARTS, validRate = 0.9): string {
  const [valid, traps] = PARTS[name];
  return pick(random, chance(random, validRate) ? valid : traps);
}

/** A head assembled from parts that are each valid or a known trap. */
function structured(random: Random, response: boolean): string {
  const eol = () => part(random, "traps", 0.97);
  const start = response
    ? `${part(random, "version")} ${part(random, "status")}${pick(random, [" OK", "", " \x00"])}`
    : `${part(random, "method")}${chance(random, 0.97) ? " " : "  "}${part(random, "target")} ${
      part(random, "version")
    }`;
  let head = start + eol();
  // A Host most of the time, or HTTP/1.1 requests would nearly all be refused for lacking one.
  if (!response && chance(random, 0.8)) head += `Host: h.test${eol()}`;
  const count = Math.floor(random() * 6);
  for (let i = 0; i < count; i++) {
    if (chance(random, 0.03)) head += pick(random, [" folded", "\tfolded"]) + eol();
    const name = part(random, "name", 0.93);
    const value = part(random, "value", 0.85);
    head += `${name}${part(random, "separator", 0.95)}${value}${pick(random, ["", "", " ", "\t"])}${eol()}`;
  }
  return head + (chance(random, 0.95) ? "\r\n" : pick(random, ["\n", ""]));
}

const VALID = [
  "GET /chat HTTP/1.1\r\nHost: h.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  "POST /up HTTP/1.1\r\nHost: [::1]:80\r\nTransfer-Encoding: chunked\r\n\r\n",
  "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\nX-A: \xe9\r\n\r\n",
  "OPTIONS * HTTP/1.0\r\n\r\n",
  "GET http://h.test:8080/a?b HTTP/1.1\r\nHost: h.test:8080\r\n\r\n",
];
const VALID_RESPONSES = [
  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
  "HTTP/1.0 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n",
];

const INTERESTING = [0x00, 0x09, 0x0a, 0x0d, 0x20, 0x2c, 0x3a, 0x7f, 0x80, 0xff, 0x2f, 0x3b];

/** Byte edits, line duplication and swaps, truncation of a valid head. */
function mutated(random: Random, seeds: readonly string[]): Uint8Array {
  let text = pick(random, seeds);
  if (chance(random, 0.2)) {
    const lines = text.split("\r\n");
    const at = 1 + Math.floor(random() * Math.max(1, lines.length - 3));
    if (chance(random, 0.5)) lines.splice(at, 0, lines[at] ?? "");
    else [lines[at], lines[1]] = [lines[1] ?? "", lines[at] ?? ""];
    text = lines.join("\r\n");
  }
  const bytes = Array.from(text, (c) => c.charCodeAt(0));
  for (let e = 1 + Math.floor(random() * 4); e > 0; e--) {
    const at = Math.floor(random() * bytes.length);
    const value = chance(random, 0.5) ? Math.floor(random() * 256) : pick(random, INTERESTING);
    const op = random();
    if (op < 0.4) bytes[at] = value;
    else if (op < 0.7) bytes.splice(at, 0, value);
    else if (op < 0.95) bytes.splice(at, 1 + Math.floor(random() * 3));
    else bytes.length = at;
  }
  return Uint8Array.from(bytes);
}

function randomBytes(random: Random): Uint8Array {
  const out = new Uint8Array(Math.floor(random() * 200));
  for (let i = 0; i < out.length; i++) {
    out[i] = chance(random, 0.7) ? 0x20 + Math.floor(random() * 95) : pick(random, INTERESTING);
  }
  return Uint8Array.from([...out, 13, 10, 13, 10]);
}

const latin1 = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);

function generate(random: Random, response: boolean): Uint8Array {
  const kind = random();
  if (kind < 0.45) return latin1(structured(random, response));
  if (kind < 0.9) return mutated(random, response ? VALID_RESPONSES : VALID);
  return randomBytes(random);
}

// ---- the oracle: what any accepted head must look like, checked without the parser's code ----

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const CTL_IN_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;

function values(headers: Header[], name: string): string[] {
  return headers.filter((h) => h.name.toLowerCase() === name).map((h) => h.value);
}

function checkAccepted(input: Uint8Array, version: string, headers: Header[], request: boolean): void {
  const text = String.fromCharCode(...input);
  assert.ok(text.endsWith("\r\n\r\n"), "ends with CRLFCRLF");
  assert.ok(!/\r(?!\n)|(?<!\r)\n/.test(text), "no bare CR or LF");
  assert.ok(!/\r\n[ \t]/.test(text.slice(0, -2)), "no obs-fold");
  for (const { name, value } of headers) {
    assert.match(name, TOKEN, "header names are tokens");
    assert.ok(!CTL_IN_VALUE.test(value), `no control bytes in ${name}`);
    assert.equal(value, value.replace(/^[ \t]+|[ \t]+$/g, ""), "values are OWS-trimmed");
  }
  const lengths = values(headers, "content-length");
  const codings = values(headers, "transfer-encoding");
  assert.ok(lengths.length === 0 || codings.length === 0, "never both Content-Length and Transfer-Encoding");
  assert.ok(lengths.length <= 1 && lengths.every((v) => /^[0-9]+$/.test(v)), "one numeric Content-Length");
  assert.ok(codings.length <= 1 && codings.every((v) => v.toLowerCase() === "chunked"), "only chunked");
  if (codings.length) assert.equal(version, "HTTP/1.1", "Transfer-Encoding only in HTTP/1.1");
  if (request) {
    const hosts = values(headers, "host").length;
    assert.ok(version === "HTTP/1.1" ? hosts === 1 : hosts <= 1, "exactly one Host in HTTP/1.1");
  }
}

type Outcome = "accepted" | "rejected";

function runCase(
  input: Uint8Array,
  response: boolean,
  options: { maxHeaders?: number; maxRequestLine?: number },
): Outcome {
  try {
    if (response) {
      const head = parseResponseHead(input, options);
      checkAccepted(input, head.version, head.headers, false);
      assert.deepEqual(parseResponseHead(serializeResponseHead(head)), head, "response round trip");
    } else {
      const head = parseRequestHead(input, options);
      checkAccepted(input, head.version, head.headers, true);
      assert.match(head.method, TOKEN);
      assert.ok(head.path === "*" || head.path.startsWith("/"), "origin-form path for the upstream");
      const again = parseRequestHead(serializeRequestHead(head));
      assert.deepEqual([again.method, again.path, again.headers], [head.method, head.path, head.headers]);
    }
    return "accepted";
  } catch (err) {
    if (err instanceof HeadParseError && [400, 414, 431].includes(err.status)) return "rejected";
    throw err;
  }
}

Deno.test(`fuzz: ${REQUEST_CASES} request and ${RESPONSE_CASES} response heads parse or throw HeadParseError`, () => {
  const seed = Number(Deno.env.get("FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 31));
  const only = Deno.env.get("FUZZ_CASE");
  const counts = { request: { accepted: 0, rejected: 0 }, response: { accepted: 0, rejected: 0 } };
  const started = performance.now();
  let slowest = 0;
  for (let i = 0; i < REQUEST_CASES + RESPONSE_CASES; i++) {
    if (only !== undefined && String(i) !== only) continue;
    // One generator per case, so a single case can be replayed without the ones before it.
    const random = prng(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + i);
    const response = i >= REQUEST_CASES;
    const input = generate(random, response);
    const options = chance(random, 0.1) ? { maxHeaders: 3, maxRequestLine: 24 } : {};
    const before = performance.now();
    let outcome: Outcome;
    try {
      outcome = runCase(input, response, options);
    } catch (err) {
      const shown = JSON.stringify(String.fromCharCode(...input));
      throw new Error(`FUZZ_SEED=${seed} FUZZ_CASE=${i}: ${err}\ninput: ${shown}`, { cause: err });
    }
    const took = performance.now() - before;
    slowest = Math.max(slowest, took);
    if (took > SLOW_MS) throw new Error(`FUZZ_SEED=${seed} FUZZ_CASE=${i}: took ${took.toFixed(1)} ms`);
    counts[response ? "response" : "request"][outcome]++;
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `fuzz seed ${seed}: ${JSON.stringify(counts)} in ${seconds} s, slowest ${slowest.toFixed(2)} ms`,
  );
  if (only === undefined) {
    // Both outcomes must be well represented, or the generators have drifted into one corner.
    for (const kind of ["request", "response"] as const) {
      assert.ok(
        counts[kind].accepted > 500 && counts[kind].rejected > 500,
        `${kind}: ${JSON.stringify(counts)}`,
      );
    }
  }
});
