import assert from "node:assert/strict";
import type { Balancer } from "../../lib/balance/balancer.ts";
import { RandomTwo } from "../../lib/balance/random.ts";
import { candidates, context, seeded, tally } from "./_candidates.ts";

const ctx = context();

Deno.test("RandomTwo.pick() draws in proportion to the weights when loads are equal", () => {
  const servers = candidates([1, 2, 3, 4]);
  const random: Balancer = new RandomTwo(seeded(11));
  const picks = 100_000;
  const counts = tally(4, Array.from({ length: picks }, () => random.pick(servers, ctx)));
  counts.forEach((count, i) => {
    const expected = (picks * (i + 1)) / 10;
    assert.ok(Math.abs(count - expected) < picks * 0.01, `server ${i}: ${count} vs ${expected} (${counts})`);
  });
});

Deno.test("RandomTwo.pick() of two draws keeps long-lived tunnels close to even", () => {
  const servers = candidates([1, 1, 1, 1, 1]);
  const random: Balancer = new RandomTwo(seeded(13));
  for (let i = 0; i < 5_000; i++) random.pick(servers, ctx)!.active++;
  const active = servers.map((s) => s.active);
  // One random choice would spread by about ±3 standard deviations (≈ ±85) here.
  assert.ok(Math.max(...active) - Math.min(...active) <= 4, `active ${active}`);
});

Deno.test("RandomTwo.pick() with one or no candidate", () => {
  const servers = candidates([3]);
  const random: Balancer = new RandomTwo(seeded(17));
  assert.equal(random.pick(servers, ctx), servers[0]);
  assert.equal(random.pick([], ctx), undefined);
});
