import assert from "node:assert/strict";
import { Ring } from "../../lib/observe/ring.ts";

Deno.test("Ring keeps the last `capacity` values, oldest first", () => {
  const cases: [string, number, number[], number[]][] = [
    ["empty", 3, [], []],
    ["not full", 3, [1, 2], [1, 2]],
    ["exactly full", 3, [1, 2, 3], [1, 2, 3]],
    ["wrapped once", 3, [1, 2, 3, 4], [2, 3, 4]],
    ["wrapped many times", 3, Array.from({ length: 10 }, (_, i) => i), [7, 8, 9]],
    ["capacity one", 1, [1, 2, 3], [3]],
  ];
  for (const [name, capacity, pushed, kept] of cases) {
    const ring = new Ring<number>(capacity);
    for (const value of pushed) ring.push(value);
    assert.deepEqual(ring.toArray(), kept, name);
    assert.equal(ring.size, kept.length, name);
    assert.equal(ring.last(), kept.at(-1), name);
  }
});

Deno.test("Ring refuses a capacity that is not a positive integer", () => {
  for (const capacity of [0, -1, 1.5, NaN]) assert.throws(() => new Ring(capacity), RangeError);
});
