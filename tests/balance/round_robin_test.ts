import assert from "node:assert/strict";
import { SmoothRoundRobin } from "../../lib/balance/round_robin.ts";

const all = () => true;

Deno.test("SmoothRoundRobin.pick() spreads weights 5,1,1 without bursts (nginx's sequence)", () => {
  const rr = new SmoothRoundRobin([5, 1, 1]);
  const picks = Array.from({ length: 7 }, () => rr.pick(all));
  assert.deepEqual(picks, [0, 0, 1, 0, 2, 0, 0]);
});

Deno.test("SmoothRoundRobin.pick() follows the weights over many picks", () => {
  const rr = new SmoothRoundRobin([3, 2, 1]);
  const counts = [0, 0, 0];
  for (let i = 0; i < 6000; i++) counts[rr.pick(all)!]!++;
  assert.deepEqual(counts, [3000, 2000, 1000]);
});

Deno.test("SmoothRoundRobin.pick() skips ineligible servers and returns undefined when none is left", () => {
  const rr = new SmoothRoundRobin([1, 1, 1]);
  const tried = new Set([0, 2]);
  for (let i = 0; i < 5; i++) assert.equal(rr.pick((index) => !tried.has(index)), 1);
  assert.equal(rr.pick(() => false), undefined);
});

Deno.test("SmoothRoundRobin.pick() alternates equal weights", () => {
  const rr = new SmoothRoundRobin([1, 1]);
  assert.deepEqual([rr.pick(all), rr.pick(all), rr.pick(all), rr.pick(all)], [0, 1, 0, 1]);
});
