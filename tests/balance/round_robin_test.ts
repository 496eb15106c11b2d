import assert from "node:assert/strict";
import type { Balancer } from "../../lib/balance/balancer.ts";
import { SmoothRoundRobin } from "../../lib/balance/round_robin.ts";
import { candidates, context, tally } from "./_candidates.ts";

const ctx = context();

Deno.test("SmoothRoundRobin.pick() spreads weights 5,1,1 without bursts (nginx's sequence)", () => {
  const servers = candidates([5, 1, 1]);
  const rr: Balancer = new SmoothRoundRobin(servers.length);
  const picks = Array.from({ length: 7 }, () => rr.pick(servers, ctx)?.index);
  assert.deepEqual(picks, [0, 0, 1, 0, 2, 0, 0]);
});

Deno.test("SmoothRoundRobin.pick() follows the weights exactly over many picks", () => {
  const cases: { name: string; weights: number[]; picks: number; expected: number[] }[] = [
    { name: "3,2,1", weights: [3, 2, 1], picks: 6_000, expected: [3_000, 2_000, 1_000] },
    { name: "equal", weights: [1, 1, 1, 1], picks: 400, expected: [100, 100, 100, 100] },
    { name: "10,1", weights: [10, 1], picks: 1_100, expected: [1_000, 100] },
  ];
  for (const { name, weights, picks, expected } of cases) {
    const servers = candidates(weights);
    const rr: Balancer = new SmoothRoundRobin(servers.length);
    assert.deepEqual(
      tally(servers.length, Array.from({ length: picks }, () => rr.pick(servers, ctx))),
      expected,
      name,
    );
  }
});

Deno.test("SmoothRoundRobin.pick() never takes more than its share in any window (no bursts)", () => {
  const servers = candidates([3, 2, 1]);
  const rr: Balancer = new SmoothRoundRobin(servers.length);
  const picks = Array.from({ length: 600 }, () => rr.pick(servers, ctx)!.index);
  // In every run of 6 consecutive picks each server gets exactly its weight.
  for (let at = 0; at + 6 <= picks.length; at += 6) {
    assert.deepEqual(tally(3, picks.slice(at, at + 6).map((index) => servers[index]!)), [3, 2, 1]);
  }
});

Deno.test("SmoothRoundRobin.pick() chooses only among the candidates it is given", () => {
  const servers = candidates([1, 1, 1]);
  const rr: Balancer = new SmoothRoundRobin(servers.length);
  const onlySecond = [servers[1]!];
  for (let i = 0; i < 5; i++) assert.equal(rr.pick(onlySecond, ctx), servers[1]);
  assert.equal(rr.pick([], ctx), undefined);
  // Back to all three: still an even spread.
  assert.deepEqual(tally(3, Array.from({ length: 300 }, () => rr.pick(servers, ctx))), [100, 100, 100]);
});

Deno.test("SmoothRoundRobin.pick() alternates equal weights", () => {
  const servers = candidates([1, 1]);
  const rr: Balancer = new SmoothRoundRobin(servers.length);
  assert.deepEqual(Array.from({ length: 4 }, () => rr.pick(servers, ctx)?.index), [0, 1, 0, 1]);
});
