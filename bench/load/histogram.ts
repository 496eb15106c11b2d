/**
 * Latency histogram with 1 µs buckets up to 1 s: exact enough for p99.9 and bounded in memory
 * whatever the run length (4 MB), unlike keeping every sample.
 */

const BUCKETS = 1_000_000;

export class LatencyHistogram {
  #counts = new Uint32Array(BUCKETS + 1);
  #total = 0;

  record(micros: number): void {
    const bucket = Math.min(BUCKETS, Math.max(0, Math.round(micros)));
    this.#counts[bucket]!++;
    this.#total++;
  }

  get count(): number {
    return this.#total;
  }

  /** The smallest recorded value (µs) with at least fraction p of the samples at or below it. */
  percentile(p: number): number {
    if (this.#total === 0) return NaN;
    const rank = Math.max(1, Math.ceil(p * this.#total));
    let seen = 0;
    for (let i = 0; i <= BUCKETS; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) return i;
    }
    return BUCKETS;
  }
}
