/** When a certificate is looked at again: renewal due, the next check, backoff after failures. */
import assert from "node:assert/strict";
import {
  BACKOFF_FIRST_MS,
  BACKOFF_MAX_MS,
  CHECK_INTERVAL_MS,
  CHECK_JITTER_MS,
  DUE_JITTER_MS,
  failureBackoff,
  nextCheckDelay,
  renewalDue,
} from "../../../lib/tls/acme/schedule.ts";

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 7);

Deno.test("renewalDue: remaining validity at most renew_before, no clamping", () => {
  assert.equal(renewalDue(NOW + 31 * DAY, NOW, 30 * DAY), false);
  assert.equal(renewalDue(NOW + 30 * DAY, NOW, 30 * DAY), true);
  assert.equal(renewalDue(NOW + 29 * DAY, NOW, 30 * DAY), true);
  // Longer than the lifetime: due at once, every time.
  assert.equal(renewalDue(NOW + 90 * DAY, NOW, 365 * DAY), true);
  // Expired: due.
  assert.equal(renewalDue(NOW - 1, NOW, 1), true);
});

Deno.test("nextCheckDelay: hourly with jitter, or when renewal becomes due if sooner", () => {
  const far = NOW + 60 * DAY;
  assert.equal(nextCheckDelay(far, NOW, 30 * DAY, 0), CHECK_INTERVAL_MS - CHECK_JITTER_MS);
  assert.equal(nextCheckDelay(far, NOW, 30 * DAY, 0.5), CHECK_INTERVAL_MS);
  assert.ok(nextCheckDelay(far, NOW, 30 * DAY, 0.999999) <= CHECK_INTERVAL_MS + CHECK_JITTER_MS);
  // Due in 10 minutes: checked then (plus up to a minute), not in an hour.
  const soon = NOW + 30 * DAY + 600_000;
  assert.equal(nextCheckDelay(soon, NOW, 30 * DAY, 0), 600_000);
  assert.equal(nextCheckDelay(soon, NOW, 30 * DAY, 0.5), 600_000 + DUE_JITTER_MS / 2);
  // Just renewed (notAfter unknown to the schedule = Infinity): the hourly check.
  assert.equal(nextCheckDelay(Infinity, NOW, 365 * DAY, 0.5), CHECK_INTERVAL_MS);
});

Deno.test("failureBackoff: 2 min doubling to an hour, jittered by 10% either way", () => {
  const mid = (n: number) => failureBackoff(n, 0.5);
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 50].map(mid), [
    BACKOFF_FIRST_MS,
    BACKOFF_FIRST_MS * 2,
    BACKOFF_FIRST_MS * 4,
    BACKOFF_FIRST_MS * 8,
    BACKOFF_FIRST_MS * 16,
    BACKOFF_MAX_MS,
    BACKOFF_MAX_MS,
    BACKOFF_MAX_MS,
  ]);
  assert.equal(failureBackoff(1, 0), BACKOFF_FIRST_MS * 0.9);
  assert.equal(failureBackoff(0, 0.5), BACKOFF_FIRST_MS);
  assert.ok(failureBackoff(9, 0.999999) <= BACKOFF_MAX_MS * 1.1);
});

Deno.test("nextCheckDelay: renew_before beyond one timer (30d to ten years) never yields a delay setTimeout cannot hold", () => {
  for (const renewBefore of [30 * DAY, 90 * DAY, 3650 * DAY]) {
    for (
      const notAfter of [NOW + 5 * 365 * DAY, NOW + renewBefore + 40 * DAY, NOW + renewBefore + 1, Infinity]
    ) {
      for (const random of [0, 0.5, 0.999999]) {
        const delay = nextCheckDelay(notAfter, NOW, renewBefore, random);
        assert.ok(
          delay >= 0 && delay <= CHECK_INTERVAL_MS + CHECK_JITTER_MS,
          `${renewBefore} ${notAfter} ${delay}`,
        );
      }
    }
    // Due 40 days out: the hourly check comes first and looks again; due then, renewal starts.
    assert.equal(renewalDue(NOW + renewBefore + 40 * DAY, NOW, renewBefore), false);
    assert.equal(renewalDue(NOW + renewBefore + 40 * DAY, NOW + 40 * DAY, renewBefore), true);
  }
});
