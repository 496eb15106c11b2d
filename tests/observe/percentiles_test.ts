import assert from "node:assert/strict";
import { latencySummary, quantile } from "../../lib/observe/percentiles.ts";

/** Buckets 1, 2, 4, 8 (upper bounds) with these counts; `over` observations above the last bound. */
const histogram = (counts: number[], over = 0) => ({
  buckets: [1, 2, 4, 8],
  counts,
  count: counts.reduce((a, b) => a + b, 0) + over,
});

Deno.test("quantile() interpolates inside the bucket that holds the rank, like histogram_quantile()", () => {
  const cases: [string, ReturnType<typeof histogram>, number, number | undefined][] = [
    ["no observations", histogram([0, 0, 0, 0]), 0.5, undefined],
    ["all in the first bucket, from 0", histogram([4, 0, 0, 0]), 0.5, 0.5],
    ["rank at a bucket's end is its bound", histogram([2, 2, 0, 0]), 0.5, 1],
    ["halfway through the second bucket", histogram([2, 2, 0, 0]), 0.75, 1.5],
    ["empty buckets skipped", histogram([1, 0, 0, 1]), 0.99, 7.92],
    ["q = 1 is the top of the last used bucket", histogram([1, 1, 0, 0]), 1, 2],
    ["q = 0 is the bottom of the first used bucket", histogram([0, 0, 3, 0]), 0, 2],
    ["rank above the last bound: the last bound", histogram([1, 0, 0, 0], 9), 0.9, 8],
  ];
  for (const [name, h, q, expected] of cases) {
    const got = quantile(h, q);
    if (expected === undefined) assert.equal(got, undefined, name);
    else assert.ok(Math.abs(got! - expected) < 1e-9, `${name}: ${got} != ${expected}`);
  }
});

Deno.test("latencySummary() gives p50/p90/p99 in ms of a histogram in seconds, null without data", () => {
  const seconds = { buckets: [0.001, 0.01, 0.1], counts: [50, 40, 10], count: 100 };
  assert.deepEqual(latencySummary(seconds), { count: 100, p50Ms: 1, p90Ms: 10, p99Ms: 91 });
  assert.deepEqual(latencySummary({ buckets: [0.001], counts: [0], count: 0 }), {
    count: 0,
    p50Ms: null,
    p90Ms: null,
    p99Ms: null,
  });
});
