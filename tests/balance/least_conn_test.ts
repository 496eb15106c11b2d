import assert from "node:assert/strict";
import type { Balancer } from "../../lib/balance/balancer.ts";
import { LeastConn } from "../../lib/balance/least_conn.ts";
import { candidates, context, seeded, tally } from "./_candidates.ts";

const ctx = context();

Deno.test("LeastConn.pick() takes the fewest active tunnels per unit of weight", () => {
  const cases: { name: string; weights: number[]; active: number[]; expected: number }[] = [
    { name: "fewest active", weights: [1, 1, 1], active: [3, 1, 2], expected: 1 },
    { name: "weight counts: 1/2 < 1/1", weights: [1, 2], active: [1, 1], expected: 1 },
    { name: "weight counts: 2/1 > 3/2", weights: [1, 2], active: [2, 3], expected: 1 },
    { name: "idle beats busy whatever the weight", weights: [10, 1], active: [1, 0], expected: 1 },
  ];
  for (const { name, weights, active, expected } of cases) {
    const servers = candidates(weights);
    active.forEach((n, i) => servers[i]!.active = n);
    const lc: Balancer = new LeastConn(seeded(1));
    assert.equal(lc.pick(servers, ctx)?.index, expected, name);
  }
  const lc: Balancer = new LeastConn(seeded(1));
  assert.equal(lc.pick([], ctx), undefined);
});

Deno.test("LeastConn.pick() breaks ties at random, evenly", () => {
  const servers = candidates([1, 1, 1]);
  const lc: Balancer = new LeastConn(seeded(7));
  const counts = tally(3, Array.from({ length: 30_000 }, () => lc.pick(servers, ctx)));
  for (const count of counts) assert.ok(Math.abs(count - 10_000) < 300, `tie-break spread ${counts}`);
});

Deno.test("LeastConn.pick() keeps long-lived tunnels in proportion to the weights", () => {
  const servers = candidates([1, 2, 3]);
  const lc: Balancer = new LeastConn(seeded(3));
  for (let i = 0; i < 600; i++) lc.pick(servers, ctx)!.active++;
  assert.deepEqual(servers.map((s) => s.active), [100, 200, 300]);
});

Deno.test("LeastConn.pick() refills the server whose tunnels closed", () => {
  // Round robin would hand the next 10 connections out evenly and leave server 0 at 10 vs 20.
  const servers = candidates([1, 1, 1]);
  const lc: Balancer = new LeastConn(seeded(5));
  for (let i = 0; i < 60; i++) lc.pick(servers, ctx)!.active++;
  servers[0]!.active -= 10;
  for (let i = 0; i < 10; i++) lc.pick(servers, ctx)!.active++;
  assert.deepEqual(servers.map((s) => s.active), [20, 20, 20]);
});
