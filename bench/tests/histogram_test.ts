import assert from "node:assert/strict";
import { LatencyHistogram } from "../load/histogram.ts";

Deno.test("LatencyHistogram percentiles", async (t) => {
  const h = new LatencyHistogram();
  for (let us = 1; us <= 1000; us++) h.record(us);
  h.record(5_000_000); // beyond 1 s: lands in the overflow bucket
  const cases = [
    { name: "p50", p: 0.5, want: 501 },
    { name: "p99", p: 0.99, want: 991 },
    { name: "p100 is the overflow bucket", p: 1, want: 1_000_000 },
  ];
  for (const c of cases) await t.step(c.name, () => assert.equal(h.percentile(c.p), c.want));
  assert.equal(h.count, 1001);
});

Deno.test("LatencyHistogram: empty gives NaN", () => {
  assert.ok(Number.isNaN(new LatencyHistogram().percentile(0.5)));
});
