import assert from "node:assert/strict";
import {
  DEFAULT_INTERVAL_MS,
  History,
  historyInterval,
  type HistoryJson,
  type HistorySample,
  mergeHistories,
  untilNextSlot,
} from "../../lib/observe/history.ts";
import { Metrics } from "../../lib/observe/metrics.ts";

const T0 = 1_700_000_000_000; // a multiple of 5 s

Deno.test("History turns metric readings into rates per second since the previous reading", () => {
  const metrics = new Metrics();
  const history = new History(5_000);
  history.record(metrics.snapshot(), T0);
  assert.deepEqual(history.toJson().samples, [], "the first reading is only a baseline");

  for (let i = 0; i < 10; i++) {
    metrics.handshake("tunnel", 101, 0.01, { route: "/", upstream: "u", server: "s" });
  }
  metrics.handshake("rejected", 404, 0.001, { route: "" });
  metrics.handshake("upstream_error", 502, 0.1, { route: "/" });
  metrics.handshake("http", 200, 0.1, { route: "/" });
  metrics.tunnelOpened("/", "u", "s");
  metrics.bytes("up", 5_000);
  metrics.bytes("down", 50_000);
  metrics.upstreamFailure("/", "u", "s", "connect");
  history.record(metrics.snapshot(), T0 + 5_000);

  const expected: HistorySample = {
    t: T0 + 5_000,
    tunnels: 1,
    handshakes: 13 / 5,
    opened: 2,
    bytesUp: 1_000,
    bytesDown: 10_000,
    upstreamFailures: 0.2,
    rejects: { "404": 0.2, "502": 0.2 },
    // Ten tunnels at 10 ms, all in the (5 ms, 10 ms] bucket: interpolated inside it.
    p50Ms: 7.5,
    p99Ms: 9.95,
  };
  assert.deepEqual(history.toJson(), { intervalSeconds: 5, windowSeconds: 900, samples: [expected] });

  history.record(metrics.snapshot(), T0 + 10_000);
  const quiet = history.toJson().samples[1]!;
  assert.deepEqual(quiet, {
    ...expected,
    t: T0 + 10_000,
    handshakes: 0,
    opened: 0,
    bytesUp: 0,
    bytesDown: 0,
    upstreamFailures: 0,
    rejects: {},
    p50Ms: null,
    p99Ms: null,
  });
});

Deno.test("History puts samples on multiples of the interval and keeps 15 minutes of them", () => {
  const metrics = new Metrics();
  const history = new History(5_000);
  // A timer a little late or early still lands on its slot; a second reading in a slot is skipped.
  for (const at of [T0, T0 + 5_030, T0 + 9_980, T0 + 10_010, T0 + 15_000]) {
    history.record(metrics.snapshot(), at);
  }
  assert.deepEqual(history.toJson().samples.map((s) => s.t - T0), [5_000, 10_000, 15_000]);

  for (let i = 4; i < 400; i++) history.record(metrics.snapshot(), T0 + i * 5_000);
  const samples = history.toJson().samples;
  assert.equal(samples.length, 180, "15 min at 5 s");
  assert.equal(samples.at(-1)!.t, T0 + 399 * 5_000);
});

Deno.test("the sampling timer waits until the next multiple of the interval", () => {
  const cases: [number, number, number][] = [
    [T0, 5_000, 5_000],
    [T0 + 1, 5_000, 4_999],
    [T0 + 4_999, 5_000, 1],
    [T0 + 150, 200, 50],
  ];
  for (const [now, interval, wait] of cases) {
    assert.equal(untilNextSlot(now, interval), wait, `${now} ${interval}`);
  }
});

Deno.test("mergeHistories() adds the samples of several processes that share a time", () => {
  const sample = (t: number, n: number, rejects: Record<string, number> = {}): HistorySample => ({
    t,
    tunnels: n,
    handshakes: n,
    opened: n,
    bytesUp: n,
    bytesDown: n,
    upstreamFailures: n,
    rejects,
    p50Ms: n === 1 ? null : n,
    p99Ms: 10 * n,
  });
  const of = (...samples: HistorySample[]): HistoryJson => ({
    intervalSeconds: 5,
    windowSeconds: 900,
    samples,
  });
  const merged = mergeHistories([
    of(sample(T0, 1, { "404": 0.2 }), sample(T0 + 5_000, 2)),
    // This worker restarted: it has only the newest time, and another status.
    of(sample(T0 + 5_000, 3, { "503": 0.4 })),
    of(sample(T0 + 5_000, 1)), // no tunnel opened there: no percentiles
  ]);
  // Percentiles do not add up: the highest is a bound the merged one never exceeds.
  const both = { ...sample(T0 + 5_000, 6, { "503": 0.4 }), p50Ms: 3, p99Ms: 30 };
  assert.deepEqual(merged, of(sample(T0, 1, { "404": 0.2 }), both));
  assert.deepEqual(mergeHistories([]).samples, []);
});

Deno.test("historyInterval() reads WSGATE_HISTORY_INTERVAL: a duration between 100 ms and 60 s", () => {
  const cases: [string | undefined, number | RegExp][] = [
    [undefined, DEFAULT_INTERVAL_MS],
    ["", DEFAULT_INTERVAL_MS],
    ["250ms", 250],
    ["10s", 10_000],
    ["1", 1_000],
    ["50ms", /between 100ms and 60s/],
    ["2m", /between 100ms and 60s/],
    ["soon", /WSGATE_HISTORY_INTERVAL=soon/],
  ];
  for (const [value, expected] of cases) {
    const got = historyInterval(value);
    if (typeof expected === "number") assert.equal(got, expected, String(value));
    else assert.match((got as { error: string }).error, expected, String(value));
  }
});
