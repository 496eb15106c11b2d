/** Watchdog: a sweep looks at the tunnels whose time may have come, not at every open tunnel. */
import assert from "node:assert/strict";
import { SWEEP_MS, Watchdog, type WatchedTunnel } from "../../lib/tunnel/watchdog.ts";
import { ManualClock } from "../_clock.ts";

/** A tunnel that is overdue from `deadline` on, and counts how often it was asked. */
class FakeTunnel implements WatchedTunnel {
  asked = 0;
  aborted: string | undefined;
  watchSlot: number | undefined;
  watchIndex = 0;
  readonly up = { bytes: 0 };
  readonly down = { bytes: 0 };

  constructor(public deadline: number, private readonly watchdog: Watchdog) {}

  checkAt(_now: number): number {
    return this.deadline;
  }

  overdue(now: number): string | undefined {
    this.asked++;
    return now >= this.deadline ? "read_timeout" : undefined;
  }

  abort(_closedBy: "proxy", reason: string): void {
    this.aborted ??= reason;
    this.watchdog.unwatch(this);
  }
}

const DAY = 86_400_000;

Deno.test("watchdog: 1,000 idle tunnels with day-long deadlines are looked at about once a minute, not every sweep", async () => {
  const clock = new ManualClock();
  const watchdog = new Watchdog(clock);
  const tunnels = Array.from({ length: 1000 }, () => new FakeTunnel(clock.now() + DAY, watchdog));
  for (const tunnel of tunnels) watchdog.watch(tunnel);
  await clock.advance(120_000); // 480 sweeps
  const asked = tunnels.reduce((sum, t) => sum + t.asked, 0);
  assert.ok(asked <= 1000 * 2, `asked ${asked} times, expected about 2 per tunnel`);
  assert.ok(asked >= 1000, "each was looked at again within the horizon");
  assert.equal(tunnels.filter((t) => t.aborted).length, 0);
  for (const tunnel of tunnels) watchdog.unwatch(tunnel);
});

Deno.test("watchdog: a deadline is still caught within one sweep, also one moved later meanwhile", async () => {
  const clock = new ManualClock();
  const watchdog = new Watchdog(clock);
  const soon = new FakeTunnel(clock.now() + 10_000, watchdog);
  const moved = new FakeTunnel(clock.now() + 10_000, watchdog);
  watchdog.watch(soon);
  watchdog.watch(moved);
  await clock.advance(5_000);
  moved.deadline = clock.now() + 20_000; // bytes moved: its read deadline moved on
  await clock.advance(5_000 + SWEEP_MS);
  assert.equal(soon.aborted, "read_timeout");
  assert.equal(moved.aborted, undefined, "looked at on its old deadline, put back for the new one");
  const askedBefore = moved.asked;
  await clock.advance(15_000 - 2 * SWEEP_MS);
  assert.equal(moved.aborted, undefined);
  await clock.advance(2 * SWEEP_MS);
  assert.equal(moved.aborted, "read_timeout");
  assert.ok(moved.asked - askedBefore <= 3, `asked ${moved.asked - askedBefore} times between its deadlines`);
});

Deno.test("watchdog: a tunnel without checkAt is asked every sweep; unwatch takes it out of the wheel", async () => {
  const clock = new ManualClock();
  const watchdog = new Watchdog(clock);
  const every = { asked: 0, up: { bytes: 0 }, down: { bytes: 0 } } as WatchedTunnel & { asked: number };
  every.overdue = () => void every.asked++ as undefined;
  every.abort = () => {};
  watchdog.watch(every);
  await clock.advance(10 * SWEEP_MS);
  assert.equal(every.asked, 10);
  watchdog.unwatch(every);
  await clock.advance(10 * SWEEP_MS);
  assert.equal(every.asked, 10, "not asked once unwatched");
  assert.equal([...watchdog.open()].length, 0);
});

Deno.test("watchdog: after the wall clock steps back an hour, a deadline is still caught within one sweep", async () => {
  const clock = new ManualClock();
  const watchdog = new Watchdog(clock);
  const tunnel = new FakeTunnel(clock.now() + DAY, watchdog);
  watchdog.watch(tunnel); // far from its deadline: waits at the wheel's horizon
  await clock.advance(SWEEP_MS);
  clock.step(-3_600_000);
  tunnel.deadline = clock.now() + 2_000; // traffic after the step, then silence
  await clock.advance(2_000 + 2 * SWEEP_MS);
  assert.equal(tunnel.aborted, "read_timeout");
});

Deno.test("watchdog: the wheel is the registry: each open tunnel listed once, an ended one never, also mid-sweep", async () => {
  const clock = new ManualClock();
  const watchdog = new Watchdog(clock);
  const deadline = clock.now() + 1_000;
  const first = new FakeTunnel(deadline, watchdog);
  const second = new FakeTunnel(deadline, watchdog);
  const far = new FakeTunnel(clock.now() + DAY, watchdog);
  // Timing out, whichever the sweep asks first also ends the other, which waits in the same slot.
  for (const [me, other] of [[first, second], [second, first]] as const) {
    me.overdue = (now) => {
      me.asked++;
      watchdog.unwatch(other);
      return now >= me.deadline ? "read_timeout" : undefined;
    };
  }
  for (const tunnel of [first, second, far]) watchdog.watch(tunnel);
  watchdog.watch(far); // twice changes nothing
  assert.equal([...watchdog.open()].length, 3);
  await clock.advance(1_000 + SWEEP_MS);
  const [asked, ended] = first.asked > 0 ? [first, second] : [second, first];
  assert.equal(asked.aborted, "read_timeout");
  assert.equal(ended.asked, 0, "ended before its turn: not looked at");
  assert.deepEqual([...watchdog.open()], [far]);
  assert.equal(watchdog.find(0), undefined);
  assert.deepEqual(watchdog.liveTraffic(), { up: 0, down: 0, upMessages: 0, downMessages: 0 });
  watchdog.abortAll("shutdown");
  assert.equal(far.aborted, "shutdown");
  assert.deepEqual([...watchdog.open()], []);
  await clock.advance(10 * SWEEP_MS);
  assert.equal(ended.asked, 0);
});

Deno.test("watchdog: tunnels leaving a slot in any order leave exactly the others in it, each asked once", async () => {
  const clock = new ManualClock();
  const watchdog = new Watchdog(clock);
  const deadline = clock.now() + 1_000;
  const tunnels = Array.from({ length: 100 }, () => new FakeTunnel(deadline, watchdog));
  for (const tunnel of tunnels) watchdog.watch(tunnel);
  // Every third one ends, from the middle outwards: the first, the last and any between.
  const ending = tunnels.filter((_, i) => i % 3 === 0);
  for (const tunnel of [...ending.slice(17), ...ending.slice(0, 17).reverse()]) watchdog.unwatch(tunnel);
  const staying = tunnels.filter((_, i) => i % 3 !== 0);
  assert.deepEqual(new Set(watchdog.open()), new Set(staying));
  assert.equal([...watchdog.open()].length, staying.length);
  await clock.advance(1_000 + SWEEP_MS);
  assert.ok(staying.every((t) => t.asked === 1 && t.aborted === "read_timeout"));
  assert.ok(ending.every((t) => t.asked === 0 && t.aborted === undefined));
  assert.deepEqual([...watchdog.open()], []);
});
