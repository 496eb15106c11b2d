/** UpstreamPool bookkeeping with connections whose reads the test settles by hand and a hand-moved clock. */
import assert from "node:assert/strict";
import { PoolableConn, type Schedule, UpstreamPool } from "../../lib/upstream/pool.ts";
import type { Addr, Conn } from "../../lib/runtime/types.ts";

const ADDR: Addr = { transport: "tcp", hostname: "127.0.0.1", port: 8080 };

/** A connection whose reads wait until the test hands them a result. */
class HeldConn implements Conn {
  readonly localAddr = ADDR;
  readonly remoteAddr = ADDR;
  closed = false;
  reads: PromiseWithResolvers<Uint8Array | null>[] = [];
  read(): Promise<Uint8Array | null> {
    const read = Promise.withResolvers<Uint8Array | null>();
    this.reads.push(read);
    return read.promise;
  }
  write = () => Promise.resolve();
  closeWrite = () => Promise.resolve();
  close(): void {
    this.closed = true;
  }
}

/** Timers the test fires by hand. */
function manualClock() {
  const timers = new Set<{ run(): void; at: number }>();
  let now = 0;
  const schedule: Schedule = (run, ms) => {
    const timer = { run, at: now + ms };
    timers.add(timer);
    return () => timers.delete(timer);
  };
  const advance = (ms: number) => {
    now += ms;
    for (const timer of [...timers]) {
      if (timer.at <= now) {
        timers.delete(timer);
        timer.run();
      }
    }
  };
  return { schedule, advance, pending: () => timers.size };
}

function parked(max = 2, timeoutMs = 1_000) {
  const clock = manualClock();
  const pool = new UpstreamPool({ max, timeoutMs, schedule: clock.schedule });
  const make = () => {
    const raw = new HeldConn();
    return { raw, conn: new PoolableConn(raw) };
  };
  return { pool, clock, make };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("pool: the most recently parked connection is taken first, per server", () => {
  const { pool, make } = parked();
  const a = make(), b = make(), c = make();
  pool.park("s1", a.conn);
  pool.park("s1", b.conn);
  pool.park("s2", c.conn);
  assert.equal(pool.idle("s1"), 2);
  assert.equal(pool.take("s1"), b.conn);
  assert.equal(pool.take("s1"), a.conn);
  assert.equal(pool.take("s1"), undefined);
  assert.equal(pool.take("s2"), c.conn);
  assert.ok(!a.raw.closed && !b.raw.closed && !c.raw.closed);
});

Deno.test("pool: over `max` per server the oldest is closed", () => {
  const { pool, make } = parked(2);
  const [a, b, c] = [make(), make(), make()];
  pool.park("s", a.conn);
  pool.park("s", b.conn);
  pool.park("s", c.conn);
  assert.ok(a.raw.closed);
  assert.equal(pool.idle("s"), 2);
  assert.equal(pool.take("s"), c.conn);
  assert.equal(pool.take("s"), b.conn);
});

Deno.test("pool: an idle connection is closed after the timeout; a taken one keeps no timer", () => {
  const { pool, clock, make } = parked(4, 1_000);
  const a = make(), b = make();
  pool.park("s", a.conn);
  clock.advance(600);
  pool.park("s", b.conn);
  clock.advance(500);
  assert.ok(a.raw.closed, "a idled 1100 ms");
  assert.ok(!b.raw.closed);
  assert.equal(pool.take("s"), b.conn);
  assert.equal(clock.pending(), 0);
  clock.advance(5_000);
  assert.ok(!b.raw.closed);
});

Deno.test("pool: EOF, a reset or stray bytes while parked close it; never handed out", async () => {
  const { pool, make } = parked(4);
  const eof = make(), reset = make(), stray = make();
  for (const { conn } of [eof, reset, stray]) pool.park("s", conn);
  eof.raw.reads[0]!.resolve(null);
  reset.raw.reads[0]!.reject(new Error("reset"));
  stray.raw.reads[0]!.resolve(new TextEncoder().encode("HTTP/1.1 200 OK\r\n\r\n"));
  await tick();
  assert.ok(eof.raw.closed && reset.raw.closed && stray.raw.closed);
  assert.equal(pool.take("s"), undefined);
});

Deno.test("pool: once taken, the watching read is the connection's next read (no byte lost)", async () => {
  const { pool, make } = parked();
  const a = make();
  pool.park("s", a.conn);
  const taken = pool.take("s")!;
  const first = taken.read();
  assert.equal(a.raw.reads.length, 1, "no second read started");
  a.raw.reads[0]!.resolve(new TextEncoder().encode("HTTP/1.1 204 No Content\r\n\r\n"));
  assert.equal(new TextDecoder().decode((await first)!), "HTTP/1.1 204 No Content\r\n\r\n");
  await tick();
  assert.ok(!a.raw.closed, "data after being taken is the answer, not a reason to close");
  const second = taken.read();
  assert.equal(a.raw.reads.length, 2);
  a.raw.reads[1]!.resolve(null);
  assert.equal(await second, null);
});

Deno.test("pool: close() closes every parked connection and refuses later ones", () => {
  const { pool, make } = parked();
  const a = make(), b = make();
  pool.park("s", a.conn);
  pool.close();
  assert.ok(a.raw.closed);
  pool.park("s", b.conn);
  assert.ok(b.raw.closed);
  assert.equal(pool.take("s"), undefined);
});
