import assert from "node:assert/strict";
import { ManualClock } from "../_clock.ts";
import { CHECK_MS, collectWhenQuiet, MIN_EVENTS, QUIET_MS } from "../../lib/process/quiet_gc.ts";

function watched(open = 0) {
  const clock = new ManualClock();
  const state = { events: 0, open, collections: 0 };
  const stop = collectWhenQuiet({
    events: () => state.events,
    open: () => state.open,
    collect: () => state.collections++,
    clock,
  });
  return { clock, state, stop };
}

Deno.test("quiet gc: one collection once a burst has been followed by a whole quiet period, within a check of it", async () => {
  const { clock, state, stop } = watched();
  await clock.advance(CHECK_MS * 2);
  state.events = MIN_EVENTS + 10; // the burst: seen at the next check
  await clock.advance(CHECK_MS);
  await clock.advance(QUIET_MS - 1);
  assert.equal(state.collections, 0, "not before a whole quiet period");
  await clock.advance(CHECK_MS);
  assert.equal(state.collections, 1, "within one check after it");
  await clock.advance(QUIET_MS * 10);
  assert.equal(state.collections, 1, "not again while nothing happens");
  stop();
  assert.equal(clock.timers, 0);
});

Deno.test("quiet gc: none while connections keep coming, however many", async () => {
  const { clock, state, stop } = watched();
  for (let i = 0; i < 40; i++) {
    state.events += MIN_EVENTS;
    await clock.advance(QUIET_MS - CHECK_MS); // never a whole quiet period
  }
  assert.equal(state.collections, 0);
  await clock.advance(QUIET_MS + CHECK_MS);
  assert.equal(state.collections, 1, "the first quiet period after them");
  stop();
});

Deno.test("quiet gc: a trickle never pays for a collection; events add up across quiet periods", async () => {
  const { clock, state, stop } = watched();
  for (let i = 0; i < 20; i++) {
    state.events += 2; // one connection, opened and closed, every other period
    await clock.advance(QUIET_MS * 2);
  }
  assert.equal(state.collections, 0, `${state.events} events`);
  state.events += MIN_EVENTS - 30; // together with the trickle: a burst's worth
  await clock.advance(QUIET_MS * 2);
  assert.equal(state.collections, 1);
  stop();
});

Deno.test("quiet gc: with many tunnels open, a burst must be as large as their number (the pause grows with them)", async () => {
  const { clock, state, stop } = watched(5 * MIN_EVENTS);
  state.events = 3 * MIN_EVENTS;
  await clock.advance(QUIET_MS * 3);
  assert.equal(state.collections, 0, "3,000 events with 5,000 tunnels open");
  state.events += 2 * MIN_EVENTS;
  await clock.advance(QUIET_MS * 3);
  assert.equal(state.collections, 1, "5,000 events with 5,000 tunnels open");
  stop();
});
