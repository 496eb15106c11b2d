/**
 * The frame-tracking tunnel over in-memory connections, so every byte each side receives can be
 * checked: forwarding stays byte-identical however the stream is cut, wsgate's pings and pongs
 * never reach the applications, and wsgate's Close frames go in only between frames.
 */
import assert from "node:assert/strict";
import type { WsTunnelOptions, WsTunnelResult } from "../../lib/tunnel/ws_tunnel.ts";
import { SWEEP_MS, Watchdog } from "../../lib/tunnel/watchdog.ts";
import { KEEPALIVE_LENGTH } from "../../lib/net/ws_frames.ts";
import { closePayload, concat, Opcode, parseClose } from "../e2e/_wire.ts";
import { ManualClock, settle } from "../_clock.ts";
import { Peer, wsTunnel } from "./_peer.ts";

const text = (s: string) => new TextEncoder().encode(s);
const opcodes = (peer: Peer) => peer.frames.map((f) => f.opcode);
const closeOf = (peer: Peer) => {
  const frame = peer.frames.find((f) => f.opcode === Opcode.close);
  return frame && parseClose(frame.payload);
};

/** Waits for in-memory traffic (no time passes): bytes move within a few event-loop turns. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let turn = 0; turn < 50 && !check(); turn++) await settle(1);
  if (!check()) throw new Error(`never happened: ${what}`);
}

/** Moves the clock one sweep at a time until the tunnel ends; returns how long that took. */
async function ended<T>(
  result: Promise<T>,
  clock: ManualClock,
  limitMs = 60_000,
): Promise<{ r: T; ms: number }> {
  const start = clock.now();
  let done: { r: T } | undefined;
  result.then((r) => done = { r });
  await settle();
  while (!done && clock.now() - start < limitMs) await clock.advance(SWEEP_MS);
  if (!done) throw new Error(`the tunnel did not end within ${limitMs} ms of clock time`);
  return { r: done.r, ms: clock.now() - start };
}

function tunnel(options: Partial<WsTunnelOptions> = {}) {
  const client = new Peer({ masked: true });
  const upstream = new Peer({ masked: false });
  const clock = new ManualClock();
  const result = wsTunnel(client, upstream, {
    readTimeout: 0,
    sendTimeout: 0,
    idleTimeout: 0,
    watchdog: new Watchdog(clock),
    pingInterval: 0,
    pingTimeout: 10_000,
    ...options,
  });
  return { client, upstream, result, clock };
}

/** A deterministic PRNG (mulberry32), so a failing cut can be reproduced. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function cut(data: Uint8Array, next: () => number, maxChunk: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < data.length;) {
    const size = 1 + Math.floor(next() * maxChunk);
    chunks.push(data.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

/** Messages with everything the tracker must step over: fragments, controls in between,
 * application pings and pongs of the length of wsgate's own, a `big` one (a 64-bit length when over
 * 65535), a Close. */
function conversation(peer: Peer, big: number): { stream: Uint8Array; messages: number } {
  const frames = [
    peer.frame(Opcode.text, text("hello")),
    peer.frame(Opcode.binary, new Uint8Array(0)),
    peer.frame(Opcode.text, text("frag-"), false),
    peer.frame(Opcode.ping, text("app ping".padEnd(KEEPALIVE_LENGTH, "."))),
    peer.frame(0, text("ment-"), false),
    peer.frame(Opcode.pong, text("app pong".padEnd(KEEPALIVE_LENGTH, "."))),
    peer.frame(0, text("ed")),
    peer.frame(Opcode.binary, new Uint8Array(big).fill(0x8a)),
    peer.frame(Opcode.pong, new Uint8Array(0)),
    peer.frame(Opcode.close, closePayload(1000, "done")),
  ];
  return { stream: concat(frames), messages: 4 };
}

Deno.test("ws_tunnel forwards every byte unchanged, however the stream is cut", async () => {
  const next = random(42);
  for (const maxChunk of [1, 3, 17, 200, 100_000]) {
    const { client, upstream, result } = tunnel();
    // In tiny chunks a 64-bit length would take seconds here; the tracker's own tests cover that.
    const big = maxChunk < 10 ? 300 : 70_000;
    const up = conversation(client, big);
    const down = conversation(upstream, big);
    for (const chunk of cut(up.stream, next, maxChunk)) client.send(chunk);
    for (const chunk of cut(down.stream, next, maxChunk)) upstream.send(chunk);
    client.send(null);
    upstream.send(null);
    const r: WsTunnelResult = await result;
    assert.deepEqual(upstream.bytes, up.stream, `up, chunks up to ${maxChunk}`);
    assert.deepEqual(client.bytes, down.stream, `down, chunks up to ${maxChunk}`);
    assert.deepEqual([r.upMessages, r.downMessages], [up.messages, down.messages]);
    assert.deepEqual([r.upBytes, r.downBytes], [up.stream.length, down.stream.length]);
    assert.equal(r.closeCode, undefined);
    // The first EOF is passed on as a half-close; after the second, closing sends the FIN.
    assert.ok(upstream.fin !== client.fin, "the first half-close passed on");
    assert.ok(upstream.closed && client.closed, "both closed once both directions ended");
  }
});

Deno.test("ws_tunnel keepalive: each silent side gets a Ping; the Pongs never reach the other side", async () => {
  const { client, upstream, result, clock } = tunnel({ pingInterval: 100, pingTimeout: 5_000 });
  await clock.advance(SWEEP_MS); // silent past ping_interval: the next sweep pings both sides
  await until(() => client.frames.length > 0 && upstream.frames.length > 0, "pings both ways");
  const [toClient] = client.frames;
  const [toUpstream] = upstream.frames;
  assert.equal(toClient?.opcode, Opcode.ping);
  assert.equal(toClient.payload.length, KEEPALIVE_LENGTH);
  assert.equal(toUpstream?.opcode, Opcode.ping);
  assert.equal(toUpstream.payload.length, KEEPALIVE_LENGTH);
  assert.notDeepEqual(toClient.payload, toUpstream.payload, "random, drawn per side");
  assert.ok((upstream.written[0]![1]! & 0x80) !== 0, "masked toward the upstream");
  assert.ok((client.written[0]![1]! & 0x80) === 0, "unmasked toward the client");
  // The client's Pong arrives cut inside its header; the upstream's shares a chunk with a message.
  const pong = client.frame(Opcode.pong, toClient.payload);
  client.send(pong.subarray(0, 1));
  client.send(concat([pong.subarray(1), client.frame(Opcode.text, text("after pong"))]));
  upstream.send(
    concat([upstream.frame(Opcode.pong, toUpstream.payload), upstream.frame(Opcode.text, text("hi"))]),
  );
  await until(() => opcodes(upstream).includes(Opcode.text) && opcodes(client).includes(Opcode.text), "data");
  client.send(null);
  upstream.send(null);
  const r = await result;
  assert.deepEqual(opcodes(upstream).filter((op) => op !== Opcode.ping), [Opcode.text]);
  assert.deepEqual(opcodes(client).filter((op) => op !== Opcode.ping), [Opcode.text]);
  assert.deepEqual([r.upMessages, r.downMessages], [1, 1]);
});

/** Pongs of the upstream and what the client got of them: only the answer to wsgate's Ping is cut. */
Deno.test("ws_tunnel keepalive: only the Pong answering wsgate's Ping is cut out; others pass", async () => {
  const { client, upstream, result, clock } = tunnel({ pingInterval: 100, pingTimeout: 5_000 });
  client.answering = true;
  await clock.advance(SWEEP_MS);
  await until(() => upstream.frames.length > 0, "a ping to the upstream");
  const [ping] = upstream.frames;
  // The payload wsgate used before random ones: "wsgate" 0x00 0x01 and a counter.
  const oldStyle = new Uint8Array([0x77, 0x73, 0x67, 0x61, 0x74, 0x65, 0x00, 0x01, 0, 0, 0, 1]);
  const guess = new Uint8Array(KEEPALIVE_LENGTH).fill(0x5a);
  const answer = upstream.frame(Opcode.pong, ping!.payload);
  const stream = concat([
    upstream.frame(Opcode.pong, oldStyle),
    upstream.frame(Opcode.pong, guess), // the right length, the wrong bytes
    answer, // cut out
    answer, // the Ping is answered already: an application's business now
    upstream.frame(Opcode.text, text("end")),
  ]);
  for (const chunk of cut(stream, random(7), 5)) upstream.send(chunk);
  await until(() => opcodes(client).includes(Opcode.text), "the text after the pongs");
  client.send(null);
  upstream.send(null);
  await result;
  const pongs = client.frames.filter((f) => f.opcode === Opcode.pong).map((f) => f.payload);
  assert.deepEqual(pongs, [oldStyle, guess, ping!.payload]);
  assert.deepEqual(opcodes(upstream).filter((op) => op !== Opcode.ping), [], "the client's answers are cut");
});

Deno.test("ws_tunnel keepalive: Pongs that do not answer wsgate's Ping pass in place, a chunk of them in one write", async () => {
  const { client, upstream, result, clock } = tunnel({ pingInterval: 100, pingTimeout: 5_000 });
  client.answering = true;
  await clock.advance(SWEEP_MS);
  await until(() => upstream.frames.length > 0, "a ping to the upstream");
  // Unanswered, the Ping's payload stays set: Pongs of its length are looked at. A flood of
  // foreign ones must not become a copy and a write each (measured: ~80 times the CPU).
  const foreign = Array.from(
    { length: 50 },
    (_, i) => upstream.frame(Opcode.pong, new Uint8Array(16).fill(i)),
  );
  const chunk = concat([...foreign, upstream.frame(Opcode.text, text("end"))]);
  const before = client.written.length;
  upstream.send(chunk);
  await until(() => opcodes(client).includes(Opcode.text), "the text after the pongs");
  assert.deepEqual(client.written.slice(before), [chunk]);
  client.send(null);
  upstream.send(null);
  await result;
});

Deno.test("ws_tunnel keepalive: a Ping still unanswered when the next is due keeps its payload; both answers are cut", async () => {
  const { client, upstream, result, clock } = tunnel({ pingInterval: 100, pingTimeout: 5_000 });
  client.answering = true;
  await clock.advance(SWEEP_MS);
  await until(() => upstream.frames.length === 1, "a first ping to the upstream");
  upstream.send(upstream.frame(Opcode.text, text("busy"))); // alive, but no Pong yet
  await clock.advance(3 * SWEEP_MS); // a sweep notes the traffic; later ones find silence again
  await until(() => upstream.frames.length === 2, "a second ping after more silence");
  const [first, second] = upstream.frames;
  assert.deepEqual(second?.payload, first?.payload);
  const answer = upstream.frame(Opcode.pong, first!.payload);
  upstream.send(concat([answer, answer, upstream.frame(Opcode.text, text("end"))]));
  await until(() => opcodes(client).filter((op) => op === Opcode.text).length === 2, "both texts");
  client.send(null);
  upstream.send(null);
  await result;
  assert.deepEqual(opcodes(client).filter((op) => op !== Opcode.ping), [Opcode.text, Opcode.text]);
});

Deno.test("ws_tunnel keepalive: a client that never answers is reaped, the upstream gets Close 1001", async () => {
  const { client, upstream, result, clock } = tunnel({ pingInterval: 200, pingTimeout: 300 });
  upstream.answering = true;
  const { r, ms } = await ended(result, clock);
  // ping_interval + ping_timeout, plus up to a sweep of slack for each
  assert.ok(ms >= 500 && ms <= 500 + 2 * SWEEP_MS, `reaped after ${ms} ms`);
  assert.deepEqual([r.closedBy, r.reason, r.closeCode], ["proxy", "client_ping_timeout", 1001]);
  assert.deepEqual(closeOf(upstream), { code: 1001, reason: "client not responding" });
  assert.equal(closeOf(client), undefined, "nothing more is sent to a dead client");
  assert.ok(client.closed && upstream.closed);
});

Deno.test("ws_tunnel drain: Close 1001 waits for the frame in progress, TCP closes after the replies", async () => {
  const drain = new AbortController();
  const { client, upstream, result, clock } = tunnel({ drain: drain.signal, closeGrace: 5_000 });
  client.answering = true;
  const big = upstream.frame(Opcode.binary, new Uint8Array(1_000).fill(7));
  upstream.send(big.subarray(0, 500));
  await until(() => client.bytes.length === 500, "half a frame");
  drain.abort();
  await clock.advance(0); // close_spread 0: the drain's Close is due at once
  await until(() => closeOf(upstream) !== undefined, "Close to the upstream");
  await settle();
  assert.equal(client.bytes.length, 500, "nothing is injected into the client's half frame");
  upstream.send(big.subarray(500));
  await until(() => closeOf(client) !== undefined, "Close to the client after the frame");
  assert.deepEqual(client.bytes.subarray(0, big.length), big);
  upstream.send(upstream.frame(Opcode.text, text("too late"))); // after wsgate's Close: dropped
  upstream.send(upstream.frame(Opcode.close, closePayload(1001)));
  const { r, ms } = await ended(result, clock);
  assert.equal(ms, 0, "no wait for the grace period once both replied");
  assert.deepEqual([r.closedBy, r.reason, r.closeCode], ["proxy", "shutdown", 1001]);
  assert.deepEqual(closeOf(client), { code: 1001, reason: "proxy shutting down" });
  assert.deepEqual(opcodes(client), [Opcode.binary, Opcode.close]);
  assert.deepEqual(opcodes(upstream), [Opcode.close], "the client's Close reply is wsgate's, not forwarded");
});

Deno.test("ws_tunnel: a protocol violation sends 1002 both ways and forwards nothing after it", async () => {
  const { client, upstream, result, clock } = tunnel({ closeGrace: 300 });
  client.send(concat([
    client.frame(Opcode.text, text("fine")),
    client.frame(3, text("reserved")),
    client.frame(Opcode.text, text("never")),
  ]));
  const { r } = await ended(result, clock);
  assert.deepEqual([r.closedBy, r.reason, r.closeCode], ["proxy", "client_protocol_error", 1002]);
  assert.deepEqual(opcodes(upstream), [Opcode.text, Opcode.close]);
  assert.deepEqual(closeOf(upstream), { code: 1002, reason: "reserved opcode 3 (client)" });
  assert.deepEqual(closeOf(client), { code: 1002, reason: "reserved opcode 3 (client)" });
  assert.equal(r.upMessages, 1);
});

Deno.test("ws_tunnel idle timeout: Close 1000 both ways; wsgate's own pings do not count as traffic", async () => {
  const { client, upstream, result, clock } = tunnel({
    idleTimeout: 600,
    pingInterval: 100,
    closeGrace: 200,
  });
  client.answering = true;
  upstream.answering = true;
  const { r, ms } = await ended(result, clock);
  assert.ok(ms >= 600 && ms <= 600 + SWEEP_MS, `closed after ${ms} ms`);
  assert.deepEqual([r.closedBy, r.reason, r.closeCode], ["proxy", "idle_timeout", 1000]);
  assert.deepEqual(closeOf(client), { code: 1000, reason: "idle timeout" });
  assert.deepEqual(closeOf(upstream), { code: 1000, reason: "idle timeout" });
  assert.ok(opcodes(client).includes(Opcode.ping), "pings were sent meanwhile");
});

Deno.test("ws_tunnel: a reset client gets the upstream a Close 1001", async () => {
  const { client, upstream, result, clock } = tunnel({ closeGrace: 300 });
  upstream.answering = true;
  client.reset();
  const { r } = await ended(result, clock);
  assert.deepEqual([r.closedBy, r.reason, r.closeCode], ["client", "reset", 1001]);
  assert.deepEqual(closeOf(upstream), { code: 1001, reason: "client connection lost" });
});
