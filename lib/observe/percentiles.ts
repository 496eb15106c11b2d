/**
 * PERCENTILES of a latency histogram (pure), estimated the way Prometheus' histogram_quantile()
 * does: find the bucket holding the rank, interpolate linearly inside it. The buckets already
 * exist for /metrics, so the status page's p50/p90/p99 cost no memory per request.
 */

/** What a quantile needs of a HistogramSample (upper bounds ascending, counts not cumulative). */
interface Histogram {
  buckets: readonly number[];
  counts: readonly number[];
  count: number;
}

/**
 * The q-quantile (0..1) in the histogram's unit, or undefined without observations. A rank in
 * the +Inf bucket answers the highest finite bound (all that is known: "at least this").
 */
export function quantile(h: Histogram, q: number): number | undefined {
  if (h.count === 0) return undefined;
  const rank = Math.min(Math.max(q, 0), 1) * h.count;
  let below = 0;
  for (let i = 0; i < h.buckets.length; i++) {
    const inBucket = h.counts[i] ?? 0;
    if (inBucket > 0 && below + inBucket >= rank) {
      const lower = i === 0 ? 0 : h.buckets[i - 1]!;
      return lower + (h.buckets[i]! - lower) * ((rank - below) / inBucket);
    }
    below += inBucket;
  }
  return h.buckets.at(-1);
}

/** What the status page shows for a handshake histogram in seconds: count and p50/p90/p99 in ms. */
export interface LatencySummary {
  count: number;
  /** null without observations (JSON has no undefined). */
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
}

export function latencySummary(h: Histogram): LatencySummary {
  const ms = (q: number) => {
    const seconds = quantile(h, q);
    // 0.01 ms steps: finer than any bucket can tell apart.
    return seconds === undefined ? null : Math.round(seconds * 100_000) / 100;
  };
  return { count: h.count, p50Ms: ms(0.5), p90Ms: ms(0.9), p99Ms: ms(0.99) };
}
