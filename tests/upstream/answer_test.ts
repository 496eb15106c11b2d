/**
 * skipInterim: 1xx answers reach the client in order before the final answer, and a backend that
 * sends them without end is cut off after MAX_INTERIM_ANSWERS, or once their heads pass
 * max_head_bytes, with an UpstreamError (a 502 for the client).
 */
import assert from "node:assert/strict";
import { MAX_INTERIM_ANSWERS, skipInterim } from "../../lib/upstream/answer.ts";
import { UpstreamError } from "../../lib/errors.ts";
import { parseResponseHead } from "../../lib/http/head.ts";
import { DEFAULTS, type LimitsConfig } from "../../lib/config/schema.ts";
import { type Script, ScriptedConn, tcp } from "../_scripted_conn.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

class RecordingConn extends ScriptedConn {
  readonly written: string[] = [];
  // Optional only to fit ScriptedConn's write(), which ignores what it is given.
  override write(bytes?: Uint8Array): Promise<void> {
    this.written.push(dec.decode(bytes));
    return Promise.resolve();
  }
}

const CONTINUE = "HTTP/1.1 100 Continue\r\n\r\n";
const HINTS = (link: string) => `HTTP/1.1 103 Early Hints\r\nLink: <${link}>; rel=preload\r\n\r\n`;
const LIMITS: LimitsConfig = { ...DEFAULTS.limits, burst: 1 };
const OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/** The first answer comes parsed, as exchangeWithUpstream hands it over; `more` is read from the upstream. */
function run(first: string, more: Script, limits = LIMITS) {
  const head = enc.encode(first);
  const upstream = new ScriptedConn(tcp("127.0.0.1", 9000), more);
  const client = new RecordingConn(tcp("127.0.0.1", 5000), []);
  const answer = { response: parseResponseHead(head), head, rest: new Uint8Array(0) };
  const result = skipInterim(upstream, answer, {
    limits,
    address: "127.0.0.1:9000",
    relay: (bytes) => client.write(bytes),
  });
  return { client, result };
}

Deno.test("skipInterim relays up to MAX_INTERIM_ANSWERS 1xx answers, then returns the final one", async () => {
  const interim = Array.from(
    { length: MAX_INTERIM_ANSWERS - 1 },
    (_, i) => i % 2 ? CONTINUE : HINTS("/a.css"),
  );
  const { client, result } = run(CONTINUE, [...interim, OK]);
  const final = await result;
  assert.equal(final.response.status, 200);
  assert.equal(dec.decode(final.rest), "ok");
  assert.equal(client.written.length, MAX_INTERIM_ANSWERS);
  assert.ok(client.written.every((head) => /^HTTP\/1\.1 10[03] /.test(head)));
});

Deno.test("skipInterim: one interim answer too many is an UpstreamError, nothing more is relayed", async () => {
  const { client, result } = run(CONTINUE, [...Array(MAX_INTERIM_ANSWERS).fill(CONTINUE), OK]);
  await assert.rejects(result, (err: unknown) => {
    assert.ok(err instanceof UpstreamError);
    assert.match(err.message, /^too many interim responses/);
    assert.equal(err.timedOut, false, "a 502, not a 504");
    return true;
  });
  assert.equal(client.written.length, MAX_INTERIM_ANSWERS);
});

Deno.test("skipInterim: interim heads together over max_head_bytes are an UpstreamError", async () => {
  const limits = { ...LIMITS, max_head_bytes: 1_024 };
  const big = HINTS(`/${"x".repeat(400)}.css`);
  const { client, result } = run(big, [big, big, OK], limits);
  await assert.rejects(result, /too many interim responses \(3, \d+ bytes of heads\)/);
  assert.equal(client.written.length, 2);
});
