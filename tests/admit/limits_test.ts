import assert from "node:assert/strict";
import { type LimitOptions, Limits, type Refusal, TokenBuckets } from "../../lib/admit/limits.ts";

/** count() and free() as an admitted client uses them (lib/admit/admission.ts): its slot given
 * back at most once. */
type Admission = { ok: true; release(): void } | Refusal;

function admit(limits: Limits, ip: string | undefined, now: number): Admission {
  const refused = limits.count(ip, now);
  if (refused) return refused;
  let held = true;
  return { ok: true, release: () => held && !(held = false) && limits.free(ip) };
}

const OPEN: LimitOptions = { max_connections: 1000, max_connections_per_ip: 1000, rate: 0, burst: 0 };

type Step =
  | { admit: string | undefined; at?: number; expect: "ok" | 503 | 429; retryAfter?: number }
  | { release: number };

const cases: { name: string; options: Partial<LimitOptions>; steps: Step[]; active: number }[] = [
  {
    name: "global limit: the third connection is refused, a release makes room",
    options: { max_connections: 2 },
    steps: [
      { admit: "10.0.0.1", expect: "ok" },
      { admit: "10.0.0.2", expect: "ok" },
      { admit: "10.0.0.3", expect: 503, retryAfter: 5 },
      { release: 0 },
      { admit: "10.0.0.3", expect: "ok" },
    ],
    active: 2,
  },
  {
    name: "the global limit counts unix-socket clients too",
    options: { max_connections: 1 },
    steps: [{ admit: undefined, expect: "ok" }, { admit: "10.0.0.1", expect: 503 }],
    active: 1,
  },
  {
    name: "per-IP limit 0 (the default) is off: one address may hold many connections",
    options: { max_connections_per_ip: 0 },
    steps: [
      { admit: "127.0.0.1", expect: "ok" },
      { admit: "127.0.0.1", expect: "ok" },
      { admit: "127.0.0.1", expect: "ok" },
    ],
    active: 3,
  },
  {
    name: "per-IP limit: other IPs are not affected",
    options: { max_connections_per_ip: 2 },
    steps: [
      { admit: "10.0.0.1", expect: "ok" },
      { admit: "10.0.0.1", expect: "ok" },
      { admit: "10.0.0.1", expect: 503, retryAfter: 5 },
      { admit: "10.0.0.2", expect: "ok" },
      { release: 1 },
      { admit: "10.0.0.1", expect: "ok" },
    ],
    active: 3,
  },
  {
    name: "per-IP limit does not apply to unix-socket clients",
    options: { max_connections_per_ip: 1 },
    steps: [{ admit: undefined, expect: "ok" }, { admit: undefined, expect: "ok" }],
    active: 2,
  },
  {
    name: "a double release counts once",
    options: { max_connections: 1 },
    steps: [
      { admit: "10.0.0.1", expect: "ok" },
      { release: 0 },
      { release: 0 },
      { admit: "10.0.0.1", expect: "ok" },
      { admit: "10.0.0.2", expect: 503 },
    ],
    active: 1,
  },
  {
    name: "rate: burst at once, then one per 1/rate s; Retry-After is the wait rounded up",
    options: { rate: 2, burst: 3 },
    steps: [
      { admit: "10.0.0.1", at: 0, expect: "ok" },
      { admit: "10.0.0.1", at: 0, expect: "ok" },
      { admit: "10.0.0.1", at: 0, expect: "ok" },
      { admit: "10.0.0.1", at: 0, expect: 429, retryAfter: 1 },
      { admit: "10.0.0.2", at: 0, expect: "ok" },
      { admit: "10.0.0.1", at: 499, expect: 429 },
      { admit: "10.0.0.1", at: 500, expect: "ok" },
      { admit: "10.0.0.1", at: 500, expect: 429 },
    ],
    active: 5,
  },
  {
    name: "rate below one per second: Retry-After covers the whole wait",
    options: { rate: 0.25, burst: 1 },
    steps: [
      { admit: "10.0.0.1", at: 0, expect: "ok" },
      { admit: "10.0.0.1", at: 0, expect: 429, retryAfter: 4 },
      { admit: "10.0.0.1", at: 3_000, expect: 429, retryAfter: 1 },
      { admit: "10.0.0.1", at: 4_000, expect: "ok" },
    ],
    active: 2,
  },
  {
    name: "a refused handshake takes no token and no connection slot",
    options: { rate: 1, burst: 1, max_connections_per_ip: 1 },
    steps: [
      { admit: "10.0.0.1", at: 0, expect: "ok" },
      { admit: "10.0.0.1", at: 10_000, expect: 503 },
      { release: 0 },
      { admit: "10.0.0.1", at: 10_000, expect: "ok" },
    ],
    active: 1,
  },
  {
    name: "the connection limit is checked before the rate (a refused one takes no token)",
    options: { rate: 1, burst: 1, max_connections: 1 },
    steps: [
      { admit: "10.0.0.1", at: 0, expect: "ok" },
      { admit: "10.0.0.2", at: 0, expect: 503 },
      { release: 0 },
      { admit: "10.0.0.2", at: 0, expect: "ok" },
    ],
    active: 1,
  },
  {
    name: "unix-socket clients are not rate limited",
    options: { rate: 1, burst: 1 },
    steps: [{ admit: undefined, expect: "ok" }, { admit: undefined, expect: "ok" }],
    active: 2,
  },
];

for (const { name, options, steps, active } of cases) {
  Deno.test(`Limits: ${name}`, () => {
    const limits = new Limits({ ...OPEN, ...options });
    const admitted: Admission[] = [];
    for (const [i, step] of steps.entries()) {
      if ("release" in step) {
        const admission = admitted[step.release];
        assert.ok(admission?.ok, `step ${i}: nothing to release`);
        admission.release();
        continue;
      }
      const result = admit(limits, step.admit, step.at ?? 0);
      if (step.expect === "ok") {
        assert.equal(result.ok, true, `step ${i}: ${JSON.stringify(result)}`);
        admitted.push(result);
      } else {
        assert.ok(!result.ok, `step ${i}: admitted`);
        assert.equal(result.status, step.expect, `step ${i}`);
        if (step.retryAfter !== undefined) {
          assert.equal(result.retryAfterSeconds, step.retryAfter, `step ${i}`);
        }
      }
    }
    assert.equal(limits.active, active);
  });
}

Deno.test("Limits: update() keeps open connections counted and applies the new limits", () => {
  const limits = new Limits({ ...OPEN, max_connections: 2 });
  const first = admit(limits, "10.0.0.1", 0);
  admit(limits, "10.0.0.2", 0);
  limits.update({ ...OPEN, max_connections: 2, rate: 1, burst: 1 });
  assert.equal(admit(limits, "10.0.0.3", 0).ok, false);
  if (first.ok) first.release();
  assert.equal(admit(limits, "10.0.0.3", 0).ok, true);
  assert.equal(limits.active, 2);
  limits.update({ ...OPEN, max_connections: 10, rate: 1, burst: 1 });
  assert.equal(admit(limits, "10.0.0.3", 0).ok, false, "the rate limit now applies");
});

Deno.test("Limits: further requests on a kept-alive connection take from the same rate bucket", () => {
  const limits = new Limits({ ...OPEN, rate: 1, burst: 2 });
  assert.equal(admit(limits, "10.0.0.1", 0).ok, true, "the connection takes one token");
  assert.equal(limits.requestRate("10.0.0.1", 0), 0, "its second request the other");
  assert.ok(limits.requestRate("10.0.0.1", 0) > 0, "the third waits for a refill");
  assert.equal(limits.requestRate("10.0.0.1", 1_000), 0, "one second later, one more");
  assert.equal(limits.requestRate(undefined, 0), 0, "unix-socket clients have no rate");
  assert.equal(new Limits(OPEN).requestRate("10.0.0.1", 0), 0, "rate 0 = off");
});

Deno.test("Limits: full says when the next connection would be over max_connections", () => {
  const limits = new Limits({ ...OPEN, max_connections: 1 });
  assert.equal(limits.full, false);
  const one = admit(limits, "10.0.0.1", 0);
  assert.equal(limits.full, true);
  if (one.ok) one.release();
  assert.equal(limits.full, false);
});

Deno.test("Limits: an IP whose connections all closed is counted from zero when it comes back", () => {
  const limits = new Limits({ ...OPEN, max_connections_per_ip: 2 });
  for (let round = 0; round < 3; round++) {
    const first = admit(limits, "10.0.0.1", 0);
    const second = admit(limits, "10.0.0.1", 0);
    assert.ok(first.ok && second.ok, `round ${round}: two may connect`);
    assert.equal(admit(limits, "10.0.0.1", 0).ok, false, `round ${round}: a third is over the limit`);
    first.release();
    first.release(); // twice is harmless
    const third = admit(limits, "10.0.0.1", 0);
    assert.ok(third.ok, `round ${round}: the first one's slot came free`);
    assert.equal(admit(limits, "10.0.0.1", 0).ok, false, `round ${round}: still two open`);
    second.release();
    third.release();
    assert.equal(limits.active, 0, `round ${round}`);
  }
});

Deno.test("Limits: per-IP counters at zero are swept, so passing clients cannot grow memory without bound", () => {
  const limits = new Limits(OPEN);
  // 5,000 clients come and go one after the other: at most ~1,024 idle counters are ever kept.
  let most = 0;
  for (let i = 0; i < 5_000; i++) {
    const slot = admit(limits, `10.1.${i >> 8}.${i & 255}`, 0);
    if (slot.ok) slot.release();
    most = Math.max(most, limits.trackedIps);
  }
  assert.ok(most <= 1_025, `kept ${most}`);
  // With 3,000 clients connected, idle counters are kept up to about as many again.
  const held = Array.from({ length: 3_000 }, (_, i) => admit(limits, `10.2.${i >> 8}.${i & 255}`, 0));
  most = 0;
  for (let i = 0; i < 10_000; i++) {
    const slot = admit(limits, `10.3.${i >> 8}.${i & 255}`, 0);
    if (slot.ok) slot.release();
    most = Math.max(most, limits.trackedIps);
  }
  assert.ok(most <= 2 * 3_000 + 1_025 + 1, `kept ${most}`);
  for (const slot of held) if (slot.ok) slot.release();
  assert.equal(limits.active, 0);
  assert.ok(limits.trackedIps <= 3_000 + 1_025, `kept ${limits.trackedIps}`);
});

Deno.test("TokenBuckets: idle buckets are swept, so many IPs cannot grow memory without bound", () => {
  const buckets = new TokenBuckets(10, 10);
  for (let i = 0; i < 5_000; i++) buckets.take(`ip${i}`, 0);
  assert.equal(buckets.size, 5_000);
  // One second later every bucket is full again; the next sweep (every 1024 takes) drops them.
  for (let i = 0; i < 1_024; i++) buckets.take("busy", 1_000 + i);
  assert.ok(buckets.size <= 1_024, `size ${buckets.size}`);
});

Deno.test("TokenBuckets: a clock stepping back does not drain a bucket", () => {
  const buckets = new TokenBuckets(1, 2);
  assert.equal(buckets.take("a", 10_000), 0);
  assert.equal(buckets.take("a", 5_000), 0);
  assert.ok(buckets.take("a", 5_000) > 0);
});
