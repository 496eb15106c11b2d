/**
 * Many frame-tracking tunnels at once over in-memory connections, their streams cut at random
 * and fed in random order while wsgate's keepalive Pings go out and are answered mid-stream:
 * every tunnel's trackers share one header buffer (frame_tracker.ts), so a header cut at a chunk
 * end in one tunnel must survive the other tunnels' frames. Each side must get exactly the other
 * side's bytes, minus the answers to wsgate's Pings and plus those Pings.
 */
import assert from "node:assert/strict";
import { SWEEP_MS, Watchdog } from "../../lib/tunnel/watchdog.ts";
import { KEEPALIVE_LENGTH } from "../../lib/net/ws_frames.ts";
import type { WsTunnelResult } from "../../lib/tunnel/ws_tunnel.ts";
import { concat, decodeFrame, Opcode } from "../e2e/_wire.ts";
import { ManualClock, settle } from "../_clock.ts";
import { prng } from "../_prng.ts";
import { Peer, wsTunnel } from "./_peer.ts";

/** One direction: the frames its source still has to send, and what it sent that must arrive. */
class Source {
  readonly peer: Peer;
  /** Frames not yet sent in full; the first may be partly sent (`sent` bytes of it). */
  readonly frames: Uint8Array[];
  sent = 0;
  /** The bytes that must reach the destination, in order (answers to wsgate's Pings left out). */
  readonly expected: Uint8Array[] = [];
  /** wsgate's Pings this source answered so far. */
  answered = 0;

  constructor(peer: Peer, frames: Uint8Array[]) {
    this.peer = peer;
    this.frames = frames;
  }

  get done(): boolean {
    return this.frames.length === 0;
  }

  /** Sends the next 1..maxChunk bytes, cut anywhere, possibly across frames. */
  sendSome(next: () => number, maxChunk: number): void {
    let budget = 1 + Math.floor(next() * maxChunk);
    const parts: Uint8Array[] = [];
    while (budget > 0 && this.frames.length > 0) {
      const frame = this.frames[0]!;
      const take = Math.min(budget, frame.length - this.sent);
      parts.push(frame.subarray(this.sent, this.sent + take));
      this.sent += take;
      budget -= take;
      if (this.sent === frame.length) {
        this.frames.shift();
        this.sent = 0;
      }
    }
    this.peer.send(concat(parts));
  }

  /** Chunks wsgate wrote to the source that were looked at, and an unfinished frame of them. */
  #scanned = 0;
  #rest: Uint8Array = new Uint8Array(0);

  /** Queues a Pong for each new Ping of wsgate's at the next frame boundary (it must not arrive). */
  answerPings(): void {
    const written = this.peer.written;
    if (this.#scanned === written.length) return;
    let data = concat([this.#rest, ...written.slice(this.#scanned)]);
    this.#scanned = written.length;
    for (let d = decodeFrame(data); d; d = decodeFrame(data)) {
      data = data.subarray(d.size);
      const { opcode, payload } = d.frame;
      if (opcode !== Opcode.ping || payload.length !== KEEPALIVE_LENGTH || this.done) continue;
      this.frames.splice(this.sent > 0 ? 1 : 0, 0, this.peer.frame(Opcode.pong, payload));
      this.answered++;
    }
    this.#rest = data.slice();
  }
}

/** Random frames of every shape the tracker steps over: 7-, 16- and 64-bit lengths, fragments,
 * the applications' own Pings and Pongs. */
function randomFrames(peer: Peer, next: () => number, count: number): Uint8Array[] {
  const frames: Uint8Array[] = [];
  const payload = (n: number) => new Uint8Array(n).map(() => Math.floor(next() * 256));
  let fragmented = false;
  for (let i = 0; i < count; i++) {
    const pick = next();
    if (pick < 0.15) {
      // An application's control frame; its Pongs sometimes with the length of wsgate's Pings'
      // payload (held until complete, then forwarded). Its Pings never: those are wsgate's.
      const opcode = next() < 0.5 ? Opcode.ping : Opcode.pong;
      const n = opcode === Opcode.pong && next() < 0.5
        ? KEEPALIVE_LENGTH
        : Math.floor(next() * KEEPALIVE_LENGTH);
      frames.push(peer.frame(opcode, payload(n)));
      continue;
    }
    const size = pick < 0.3
      ? 0
      : pick < 0.75
      ? Math.floor(next() * 200)
      : pick < 0.97
      ? 126 + Math.floor(next() * 3_000)
      : 65_536 + Math.floor(next() * 5_000);
    const fin = next() < 0.7;
    const opcode = fragmented ? 0 : next() < 0.5 ? Opcode.text : Opcode.binary;
    frames.push(peer.frame(opcode, payload(size), fin));
    fragmented = !fin;
  }
  if (fragmented) frames.push(peer.frame(0, payload(3)));
  return frames;
}

/** The frames in `bytes` as they were on the wire; asserts they parse whole. */
function framesOf(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let data = bytes;
  for (let d = decodeFrame(data); d; d = decodeFrame(data)) {
    out.push(data.subarray(0, d.size));
    data = data.subarray(d.size);
  }
  assert.equal(data.length, 0, "the destination got a cut frame");
  return out;
}

/** A keepalive Ping of wsgate's: the applications' Pings here are all shorter. */
function isWsgatePing(raw: Uint8Array): boolean {
  const { frame } = decodeFrame(raw)!;
  return frame.opcode === Opcode.ping && frame.payload.length === KEEPALIVE_LENGTH;
}

const describe = (raw: Uint8Array | undefined) => {
  const frame = raw && decodeFrame(raw)?.frame;
  return frame ? `op${frame.opcode}/${frame.payload.length}${frame.fin ? "" : "+"}` : "none";
};

/** Frame by frame, so that a failure names the first frame that differs and its neighbours. */
function assertSameFrames(got: Uint8Array[], expected: Uint8Array[], what: string): void {
  for (let i = 0; i < Math.max(got.length, expected.length); i++) {
    const [g, e] = [got[i], expected[i]];
    if (g && e && g.length === e.length && g.every((byte, j) => byte === e[j])) continue;
    const around = (frames: Uint8Array[]) => frames.slice(Math.max(0, i - 2), i + 3).map(describe).join(" ");
    assert.fail(`${what}, frame ${i}: got ${around(got)}; expected ${around(expected)}`);
  }
}

Deno.test("ws_tunnel: 20 tunnels interleaved, cut at random, pinged and answering mid-stream, stay byte-exact", async () => {
  for (const seed of [1, 2]) {
    const next = prng(seed);
    const clock = new ManualClock();
    const watchdog = new Watchdog(clock);
    const tunnels = Array.from({ length: 20 }, () => {
      const client = new Peer({ masked: true });
      const upstream = new Peer({ masked: false });
      const up = new Source(client, randomFrames(client, next, 30));
      const down = new Source(upstream, randomFrames(upstream, next, 30));
      for (const s of [up, down]) s.expected.push(...s.frames);
      const options = { readTimeout: 0, sendTimeout: 0, idleTimeout: 0, watchdog, pingInterval: 50 };
      const result = wsTunnel(client, upstream, { ...options, pingTimeout: 1_000_000 });
      return { up, down, result };
    });
    const sources = tunnels.flatMap((t) => [t.up, t.down]);
    for (let step = 0; sources.some((s) => !s.done); step++) {
      const live = sources.filter((s) => !s.done);
      live[Math.floor(next() * live.length)]!.sendSome(next, next() < 0.5 ? 16 : 3_000);
      if (step % 50 === 0) {
        await settle(2);
        await clock.advance(SWEEP_MS);
      }
      if (step % 20 === 0) await settle(1);
      // Each side answers every Ping of wsgate's it got, at its next frame boundary.
      for (const source of sources) source.answerPings();
    }
    await settle();
    let answered = 0;
    for (const t of tunnels) {
      t.up.peer.send(null);
      t.down.peer.send(null);
      const r: WsTunnelResult = await t.result;
      for (const [source, destination] of [[t.up, t.down.peer], [t.down, t.up.peer]] as const) {
        // Every frame the source sent arrives intact, in order, with wsgate's Pings in between.
        const got = framesOf(destination.bytes).filter((raw) => !isWsgatePing(raw));
        assertSameFrames(got, source.expected, `seed ${seed}, ${source === t.up ? "up" : "down"}`);
        answered += source.answered;
      }
      assert.equal(r.closeCode, undefined, `seed ${seed}: ${JSON.stringify(r)}`);
    }
    assert.ok(answered > 20, `seed ${seed}: only ${answered} Pings were answered mid-stream`);
  }
});
