/**
 * When to look at a certificate again (pure; the caller passes the clock and the random draw).
 * Renewal is due when the remaining validity is at most `renew_before`, without clamping: a
 * `renew_before` longer than the lifetime renews at every check. Checks run at start, hourly,
 * at the moment renewal becomes due, and after each failure's backoff; each with jitter, so that
 * several gateways sharing a CA account do not knock at the same second.
 */

export const CHECK_INTERVAL_MS = 3_600_000;
/** Hourly checks land anywhere in 55-65 minutes. */
export const CHECK_JITTER_MS = 300_000;
/** A check at the moment renewal becomes due lands up to this much later. */
export const DUE_JITTER_MS = 60_000;
/** After a failure: 2 min, doubling, at most an hour. Five failed validations per hour and name
 * is Let's Encrypt's limit; this pace stays under it. */
export const BACKOFF_FIRST_MS = 120_000;
export const BACKOFF_MAX_MS = 3_600_000;
/** Backoffs vary by up to this fraction either way. */
export const BACKOFF_JITTER = 0.1;

/** Whether a certificate valid until `notAfter` (ms) needs renewing at `now`. */
export function renewalDue(notAfter: number, now: number, renewBefore: number): boolean {
  return notAfter - now <= renewBefore;
}

/**
 * How long until the next check of a certificate valid until `notAfter` that is not due now:
 * the hourly check, or the moment it becomes due if that comes first. `random` is in [0, 1).
 * At most 65 minutes whatever renew_before is: the timer never nears setTimeout's 24.8-day limit,
 * and a renewal due weeks ahead is found by one of the checks in between.
 */
export function nextCheckDelay(notAfter: number, now: number, renewBefore: number, random: number): number {
  const hourly = CHECK_INTERVAL_MS + (random * 2 - 1) * CHECK_JITTER_MS;
  const due = Math.max(0, notAfter - renewBefore - now) + random * DUE_JITTER_MS;
  return Math.round(Math.min(hourly, due));
}

/** How long to wait after the `failures`-th failure in a row (1 = the first). */
export function failureBackoff(failures: number, random: number): number {
  const exponent = Math.min(Math.max(failures, 1) - 1, 16);
  const base = Math.min(BACKOFF_FIRST_MS * 2 ** exponent, BACKOFF_MAX_MS);
  return Math.round(base * (1 + (random * 2 - 1) * BACKOFF_JITTER));
}
