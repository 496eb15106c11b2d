import assert from "node:assert/strict";
import { Deadlines, RESOLUTION_MS } from "../../lib/net/deadlines.ts";
import { ManualClock } from "../_clock.ts";
import { prng } from "../_prng.ts";

Deno.test("deadlines: each runs once its time has passed, never before, at most RESOLUTION_MS late", async () => {
  const clock = new ManualClock();
  const deadlines = new Deadlines(clock);
  const ran: string[] = [];
  deadlines.add(100, () => ran.push("a"));
  deadlines.add(30, () => ran.push("b"));
  await clock.advance(29);
  assert.deepEqual(ran, []);
  await clock.advance(1 + RESOLUTION_MS);
  assert.deepEqual(ran, ["b"], "the earlier deadline, added later, re-armed the timer");
  await clock.advance(100 - 30 - RESOLUTION_MS - 1);
  assert.deepEqual(ran, ["b"]);
  await clock.advance(1 + RESOLUTION_MS);
  assert.deepEqual(ran, ["b", "a"]);
  assert.equal(clock.timers, 0, "nothing pending: no timer left");
});

Deno.test("deadlines: a cancelled one never runs, and with none pending the timer stops", async () => {
  const clock = new ManualClock();
  const deadlines = new Deadlines(clock);
  let ran = 0;
  const first = deadlines.add(50, () => ran++);
  const second = deadlines.add(50, () => ran++);
  deadlines.cancel(first);
  assert.equal(clock.timers, 1, "one is still pending");
  deadlines.cancel(second);
  deadlines.cancel(second); // twice, or after it ran: nothing happens
  assert.equal(clock.timers, 0);
  await clock.advance(1_000);
  assert.equal(ran, 0);
  // Added again afterwards, the structure works from empty.
  deadlines.add(10, () => ran++);
  await clock.advance(10 + RESOLUTION_MS);
  assert.equal(ran, 1);
});

Deno.test("deadlines: one that cancels another of its bucket stops it; one that throws stops no other", async () => {
  const clock = new ManualClock();
  const deadlines = new Deadlines(clock);
  const ran: string[] = [];
  let victim: ReturnType<Deadlines["add"]> | undefined = undefined;
  deadlines.add(20, () => {
    ran.push("canceller");
    deadlines.cancel(victim);
  });
  victim = deadlines.add(20, () => ran.push("victim"));
  deadlines.add(20, () => {
    throw new Error("boom");
  });
  deadlines.add(20, () => ran.push("after the throw"));
  await assert.rejects(() => clock.advance(20 + RESOLUTION_MS), /boom/);
  assert.deepEqual(ran, ["canceller", "after the throw"]);
  assert.equal(clock.timers, 0);
});

Deno.test("deadlines: 1,000 random adds and cancels: each kept one runs once, in its window; no cancelled one runs", async () => {
  const clock = new ManualClock();
  const deadlines = new Deadlines(clock);
  const random = prng(11);
  const start = clock.now();
  const due = new Map<number, number>();
  const ranAt = new Map<number, number>();
  const handles = [];
  const cancelled = new Set<number>();
  for (let id = 0; id < 1_000; id++) {
    const ms = Math.floor(random() * 5_000);
    due.set(id, clock.now() + ms);
    handles.push(deadlines.add(ms, () => {
      assert.ok(!ranAt.has(id), `#${id} ran twice`);
      ranAt.set(id, clock.now());
    }));
    if (random() < 0.3) {
      const victim = Math.floor(random() * handles.length);
      // Cancelling one that already ran changes nothing.
      if (!ranAt.has(victim)) cancelled.add(victim);
      deadlines.cancel(handles[victim]);
    }
    if (random() < 0.05) await clock.advance(Math.floor(random() * 50));
  }
  await clock.advance(start + 10_000 - clock.now());
  assert.equal(clock.timers, 0);
  assert.ok(cancelled.size > 100, `${cancelled.size} cancelled`);
  for (const [id, wanted] of due) {
    const at = ranAt.get(id);
    if (cancelled.has(id)) assert.equal(at, undefined, `#${id} was cancelled`);
    else {assert.ok(
        at !== undefined && at >= wanted && at <= wanted + RESOLUTION_MS,
        `#${id}: due ${wanted}, ran ${at}`,
      );}
  }
});

Deno.test("deadlines: one beyond what a timer can wait (2^31 - 1 ms, a config's maximum rounded up) arms at most that", () => {
  const delays: number[] = [];
  const clock = new ManualClock();
  const deadlines = new Deadlines({
    now: clock.now,
    setTimeout: (run, ms) => (delays.push(ms), clock.setTimeout(run, ms)),
    clearTimeout: (timer) => clock.clearTimeout(timer),
  });
  const deadline = deadlines.add(2_147_483_647, () => {});
  assert.ok(delays.length === 1 && delays[0]! <= 2_147_483_647 && delays[0]! > 2_147_483_600, String(delays));
  deadlines.cancel(deadline);
});
