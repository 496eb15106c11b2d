/**
 * HISTORY: the status page's charts, the last 15 minutes from this process's own memory (pure;
 * the caller owns the timer and passes the clock's time in). Every interval a reading of the
 * metrics becomes one sample of rates since the previous reading, kept in a fixed ring: memory
 * is decided at start (180 samples at the default 5 s) and nothing is stored per connection.
 *
 * Samples sit on multiples of the interval since the epoch, so the samples of several worker
 * processes line up and the supervisor merges them by adding the ones with the same time.
 */
import { parseDuration } from "../config/duration.ts";
import { Ring } from "./ring.ts";
import { latencySummary } from "./percentiles.ts";
import { HANDSHAKE_BUCKETS, type MetricsSnapshot } from "./metrics.ts";

export const HISTORY_WINDOW_MS = 15 * 60_000;
export const DEFAULT_INTERVAL_MS = 5_000;
/** WSGATE_HISTORY_INTERVAL, a duration ("5s", "500ms"): sample more often, e.g. for a test. */
export const INTERVAL_ENV = "WSGATE_HISTORY_INTERVAL";
const MIN_INTERVAL_MS = 100;
const MAX_INTERVAL_MS = 60_000;

/** One point of every chart: open tunnels at `t`, the rest per second since the previous sample. */
export interface HistorySample {
  /** ms since the epoch, a multiple of the interval */
  t: number;
  tunnels: number;
  /** Requests answered (101s, relayed answers and refusals). */
  handshakes: number;
  /** Of those, tunnels opened (101). */
  opened: number;
  bytesUp: number;
  bytesDown: number;
  upstreamFailures: number;
  /** wsgate's own error answers, by status code. */
  rejects: Record<string, number>;
  /** Accept to 101 of the tunnels opened in the interval; null when none opened. */
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface HistoryJson {
  intervalSeconds: number;
  windowSeconds: number;
  /** Oldest first. */
  samples: HistorySample[];
}

/** The cumulative figures the rates are taken from. */
interface Reading {
  at: number;
  tunnels: number;
  handshakes: number;
  opened: number;
  bytesUp: number;
  bytesDown: number;
  upstreamFailures: number;
  rejects: Map<string, number>;
  /** Tunnel handshakes per HANDSHAKE_BUCKETS bucket (the +Inf ones in the count only). */
  latency: { counts: number[]; count: number };
}

/** One reading of a metrics snapshot (with the live bytes of open tunnels already added in). */
export function readMetrics(snapshot: MetricsSnapshot, at: number): Reading {
  const reading: Reading = {
    at,
    tunnels: 0,
    handshakes: 0,
    opened: 0,
    bytesUp: 0,
    bytesDown: 0,
    upstreamFailures: 0,
    rejects: new Map(),
    latency: { counts: HANDSHAKE_BUCKETS.map(() => 0), count: 0 },
  };
  for (const h of snapshot.histograms) {
    if (h.name !== "wsgate_handshake_duration_seconds" || h.labels.result !== "tunnel") continue;
    h.counts.forEach((n, i) => reading.latency.counts[i]! += n);
    reading.latency.count += h.count;
  }
  for (const { name, labels, value } of snapshot.counters) {
    if (name === "wsgate_handshakes_total") {
      reading.handshakes += value;
      if (labels.result === "tunnel") reading.opened += value;
      if (labels.result === "rejected" || labels.result === "upstream_error") {
        const status = labels.status ?? "?";
        reading.rejects.set(status, (reading.rejects.get(status) ?? 0) + value);
      }
    } else if (name === "wsgate_bytes_total") {
      if (labels.direction === "up") reading.bytesUp += value;
      else reading.bytesDown += value;
    } else if (name === "wsgate_upstream_failures_total") reading.upstreamFailures += value;
  }
  for (const { name, value } of snapshot.gauges) {
    if (name === "wsgate_active_tunnels") reading.tunnels += value;
  }
  return reading;
}

/** Most rates are small fractions: three decimals keep the JSON short and lose nothing visible. */
const round = (n: number) => Math.round(n * 1000) / 1000;

/** The sample between two readings (a counter never goes back in one process; clamped anyway). */
export function sampleBetween(before: Reading, after: Reading, t: number): HistorySample {
  const seconds = Math.max((after.at - before.at) / 1000, 0.001);
  const rate = (a: number, b: number) => round(Math.max(0, b - a) / seconds);
  const rejects: Record<string, number> = {};
  for (const [status, n] of after.rejects) {
    const r = rate(before.rejects.get(status) ?? 0, n);
    if (r > 0) rejects[status] = r;
  }
  // The handshakes of this interval alone: the difference of the cumulative buckets.
  const latency = latencySummary({
    buckets: HANDSHAKE_BUCKETS,
    counts: after.latency.counts.map((n, i) => n - before.latency.counts[i]!),
    count: after.latency.count - before.latency.count,
  });
  return {
    t,
    tunnels: after.tunnels,
    handshakes: rate(before.handshakes, after.handshakes),
    opened: rate(before.opened, after.opened),
    bytesUp: rate(before.bytesUp, after.bytesUp),
    bytesDown: rate(before.bytesDown, after.bytesDown),
    upstreamFailures: rate(before.upstreamFailures, after.upstreamFailures),
    rejects,
    p50Ms: latency.p50Ms,
    p99Ms: latency.p99Ms,
  };
}

/** The sample slot a time falls in: the nearest multiple of the interval. */
export const slotOf = (now: number, intervalMs: number) => Math.round(now / intervalMs) * intervalMs;

/** ms from `now` to the next slot boundary: where the sampling timer fires next. */
export function untilNextSlot(now: number, intervalMs: number): number {
  return intervalMs - (now % intervalMs);
}

export class History {
  readonly intervalMs: number;
  readonly #samples: Ring<HistorySample>;
  #last: Reading | undefined;

  constructor(intervalMs = DEFAULT_INTERVAL_MS) {
    this.intervalMs = intervalMs;
    this.#samples = new Ring(Math.ceil(HISTORY_WINDOW_MS / intervalMs));
  }

  /** Takes a reading; from the second one on, stores the rates since the previous one. */
  record(snapshot: MetricsSnapshot, now: number): void {
    const reading = readMetrics(snapshot, now);
    const before = this.#last;
    this.#last = reading;
    if (before === undefined) return;
    const t = slotOf(now, this.intervalMs);
    // A timer that fired twice in one slot (a clock step) does not make two points at one time.
    if ((this.#samples.last()?.t ?? -Infinity) >= t) return;
    this.#samples.push(sampleBetween(before, reading, t));
  }

  toJson(): HistoryJson {
    return {
      intervalSeconds: this.intervalMs / 1000,
      windowSeconds: HISTORY_WINDOW_MS / 1000,
      samples: this.#samples.toArray(),
    };
  }
}

/**
 * Several processes' histories as one: samples with the same time are added (rates and open
 * tunnels both sum over processes). A time only some processes have (one just restarted) holds
 * the sum of those that have it. Latency percentiles cannot be added: the highest of the
 * processes' is taken, a bound the merged percentile never exceeds.
 */
export function mergeHistories(histories: readonly HistoryJson[]): HistoryJson {
  const [first] = histories;
  const byTime = new Map<number, HistorySample>();
  for (const history of histories) {
    for (const sample of history.samples) {
      const into = byTime.get(sample.t);
      if (!into) {
        byTime.set(sample.t, { ...sample, rejects: { ...sample.rejects } });
        continue;
      }
      for (
        const key of ["tunnels", "handshakes", "opened", "bytesUp", "bytesDown", "upstreamFailures"] as const
      ) {
        into[key] = round(into[key] + sample[key]);
      }
      for (const [status, n] of Object.entries(sample.rejects)) {
        into.rejects[status] = round((into.rejects[status] ?? 0) + n);
      }
      for (const key of ["p50Ms", "p99Ms"] as const) {
        const theirs = sample[key];
        if (theirs !== null) into[key] = Math.max(into[key] ?? 0, theirs);
      }
    }
  }
  return {
    intervalSeconds: first?.intervalSeconds ?? DEFAULT_INTERVAL_MS / 1000,
    windowSeconds: first?.windowSeconds ?? HISTORY_WINDOW_MS / 1000,
    samples: [...byTime.values()].sort((a, b) => a.t - b.t),
  };
}

/** The sampling interval from WSGATE_HISTORY_INTERVAL's value (unset: the default). */
export function historyInterval(value: string | undefined): number | { error: string } {
  if (value === undefined || value.trim() === "") return DEFAULT_INTERVAL_MS;
  const ms = parseDuration(value);
  if (typeof ms !== "number") return { error: `${INTERVAL_ENV}=${value}: ${ms.error}` };
  if (ms < MIN_INTERVAL_MS || ms > MAX_INTERVAL_MS) {
    return { error: `${INTERVAL_ENV}=${value}: must be between 100ms and 60s` };
  }
  return ms;
}
