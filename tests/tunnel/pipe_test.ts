/**
 * The raw tunnel over in-memory connections with a clock the test moves: each timeout fires when
 * due and not before, traffic in the right direction resets it, and a half-close passes through.
 */
import assert from "node:assert/strict";
import type { PipeOptions, PipeResult } from "../../lib/tunnel/pipe.ts";
import { SWEEP_MS, Watchdog } from "../../lib/tunnel/watchdog.ts";
import { ManualClock, settle } from "../_clock.ts";
import { Peer, pipe } from "./_peer.ts";
import { connView } from "../../lib/net/conn_view.ts";
import { concat } from "../e2e/_wire.ts";
import type { Conn, SpliceReport } from "../../lib/runtime/types.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

function tunnel(options: Partial<PipeOptions> = {}) {
  const client = new Peer({ masked: true });
  const upstream = new Peer({ masked: false });
  const clock = new ManualClock();
  let ended: PipeResult | undefined;
  const result = pipe(client, upstream, {
    readTimeout: 0,
    sendTimeout: 0,
    idleTimeout: 0,
    watchdog: new Watchdog(clock),
    ...options,
  }).then((r) => ended = r);
  return { client, upstream, clock, result, ended: () => ended };
}

Deno.test("pipe read_timeout: nothing from the upstream for that long ends the tunnel; client bytes do not count", async () => {
  const t = tunnel({ readTimeout: 1_000 });
  for (let i = 0; i < 3; i++) {
    await t.clock.advance(SWEEP_MS);
    t.client.send(bytes("ping")); // the client talks; the upstream stays silent
  }
  await t.clock.advance(SWEEP_MS - 1);
  assert.equal(t.ended(), undefined, "not before read_timeout");
  await t.clock.advance(SWEEP_MS);
  const r = await t.result;
  assert.deepEqual([r.closedBy, r.reason, r.upBytes], ["proxy", "read_timeout", 12]);
  assert.ok(t.client.closed && t.upstream.closed);
});

Deno.test("pipe read_timeout: upstream bytes keep the tunnel open", async () => {
  const t = tunnel({ readTimeout: 1_000 });
  for (let i = 0; i < 12; i++) {
    await t.clock.advance(SWEEP_MS);
    t.upstream.send(bytes("tick"));
  }
  await settle();
  assert.equal(t.ended(), undefined, "3 s of clock time with upstream traffic every 250 ms");
  assert.equal(t.client.written.length, 12);
  t.client.send(null);
  t.upstream.send(null);
  const r = await t.result;
  assert.deepEqual([r.closedBy, r.reason, r.downBytes], ["client", undefined, 48]);
});

Deno.test("pipe idle_timeout: silence both ways ends it; traffic either way resets it", async () => {
  const t = tunnel({ idleTimeout: 1_000 });
  await t.clock.advance(750);
  t.client.send(bytes("a"));
  await t.clock.advance(750);
  t.upstream.send(bytes("b"));
  await t.clock.advance(750);
  assert.equal(t.ended(), undefined, "each direction's traffic counts");
  await t.clock.advance(250 + SWEEP_MS);
  const r = await t.result;
  assert.deepEqual([r.closedBy, r.reason], ["proxy", "idle_timeout"]);
});

Deno.test("pipe send_timeout: a peer that stops reading ends the tunnel once a write is blocked that long", async () => {
  const t = tunnel({ sendTimeout: 2_000 });
  t.client.stalled = true; // the client stops reading
  t.upstream.send(bytes("for a client that does not read"));
  await settle();
  await t.clock.advance(2_000 - SWEEP_MS);
  assert.equal(t.ended(), undefined, "not before send_timeout");
  await t.clock.advance(2 * SWEEP_MS);
  const r = await t.result;
  assert.deepEqual([r.closedBy, r.reason], ["proxy", "send_timeout"]);
});

Deno.test("pipe: a half-close passes on and the other direction keeps flowing", async () => {
  const t = tunnel({ readTimeout: 60_000 });
  t.client.send(bytes("request"));
  t.client.send(null); // FIN from the client
  await settle();
  assert.equal(t.upstream.fin, true, "the upstream got the FIN");
  t.upstream.send(bytes("answer after the FIN"));
  t.upstream.send(null);
  const r = await t.result;
  assert.deepEqual(t.client.written.map((c) => new TextDecoder().decode(c)), ["answer after the FIN"]);
  assert.deepEqual([r.upBytes, r.downBytes, r.closedBy], [7, 20, "client"]);
});

Deno.test("pipe: the watchdog's abortAll (shutdown) ends open tunnels, and later ones at once, as the proxy's doing", async () => {
  const watchdog = new Watchdog(new ManualClock());
  const open = tunnel({ watchdog });
  watchdog.abortAll("shutdown");
  const r = await open.result;
  assert.deepEqual([r.closedBy, r.reason], ["proxy", "shutdown"]);
  const late = await tunnel({ watchdog }).result;
  assert.deepEqual([late.closedBy, late.reason], ["proxy", "shutdown"]);
  assert.equal([...watchdog.open()].length, 0, "nothing left watched");
});

/** A peer with a native splice that, like the Bun adapter's, only writes into its own kind. */
class SplicingPeer extends Peer {
  readonly splicedInto: Conn[] = [];

  spliceTo(target: Conn, report: SpliceReport): boolean {
    if (!(target instanceof SplicingPeer)) return false;
    this.splicedInto.push(target);
    const forward = async () => {
      for (let chunk = await this.read(); chunk !== null; chunk = await this.read()) {
        report.reading();
        await target.write(chunk);
        report.wrote(chunk.length, true);
      }
    };
    forward().then(() => report.ended(null), (err) => report.ended(err));
    return true;
  }
}

Deno.test("pipe: behind a view (PROXY header addresses), both directions still take the native splice", async () => {
  const client = new SplicingPeer({ masked: true });
  const upstream = new SplicingPeer({ masked: false });
  const stated = { transport: "tcp", hostname: "198.51.100.7", port: 40000 } as const;
  const view = connView(client, { remoteAddr: stated });
  const result = pipe(view, upstream, {
    readTimeout: 0,
    sendTimeout: 0,
    idleTimeout: 0,
    watchdog: new Watchdog(new ManualClock()),
  });
  client.send(bytes("up"));
  upstream.send(bytes("down!"));
  client.send(null);
  upstream.send(null);
  const r = await result;
  // Into the view's connection, not the view (which the adapter would refuse): no read/write loop.
  assert.deepEqual(upstream.splicedInto, [client]);
  assert.deepEqual(client.splicedInto, [upstream]);
  assert.deepEqual([r.upBytes, r.downBytes], [2, 5]);
  assert.equal(new TextDecoder().decode(concat(client.written)), "down!");
  assert.equal(new TextDecoder().decode(concat(upstream.written)), "up");
});
