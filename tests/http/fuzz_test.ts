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
  parseRequestHead,
  parseResponseHead,
  serializeRequestHead,
  serializeResponseHead,
} from "../../lib/http/head.ts";
import type { Header } from "../../lib/http/headers.ts";
import { chance, generate } from "./_fuzz_heads.ts";
import { prng } from "../_prng.ts";

const REQUEST_CASES = 100_000;
const RESPONSE_CASES = 20_000;
/** A single parse slower than this counts as a hang (they take microseconds). */
const SLOW_MS = 250;

// ---- the oracle: what any accepted head must look like, checked without the parser's code ----

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// deno-lint-ignore no-control-regex -- control bytes are exactly what this looks for
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
