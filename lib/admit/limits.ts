/**
 * ADMIT (pure): connection counters (global and per client IP) and a handshake-rate token bucket
 * per client IP. The caller passes `now`, so tests run on a fake clock. Memory is bounded: a
 * per-IP counter is dropped when it reaches 0, and a bucket once it would be full again.
 * nginx: worker_connections / limit_conn (counters), limit_req (bucket).
 */

import type { LimitsConfig } from "../config/schema.ts";

/** The limits that apply here (see LimitsConfig); rate 0 = no rate limit. */
export type LimitOptions = Pick<
  LimitsConfig,
  "max_connections" | "max_connections_per_ip" | "rate" | "burst"
>;

export type Refusal = { ok: false; status: 503 | 429; reason: string; retryAfterSeconds: number };

/** A client over a connection limit can only be told to come back later; no one knows when. */
const CONNECTION_RETRY_AFTER = 5;
/** Sweep idle buckets every this many handshakes, so the map cannot grow without bound. */
const SWEEP_EVERY = 1024;
/** Idle per-IP entries kept before a sweep is considered (see Limits.#perIp). */
const IDLE_IPS_KEPT = 1024;

export class Limits {
  #options: LimitOptions;
  #total = 0;
  /**
   * Open connections per client IP. An IP whose last connection closed keeps its entry, at 0,
   * until a sweep: deleting a key and adding it again leaves a deleted entry in its hash chain
   * each time (V8 and JSC alike), which every lookup of that key walks until the table is
   * rebuilt, and that happens only after as many changes as the table holds entries. One client
   * reconnecting in a loop while 10,000 others stayed connected cost ~60 µs per admit + release
   * (bench/cost/registries.ts).
   */
  readonly #perIp = new Map<string, number>();
  /** Entries at 0; swept once they are most of the map (amortised O(1) per release). */
  #idleIps = 0;
  #buckets: TokenBuckets | undefined;

  constructor(options: LimitOptions) {
    this.#options = options;
    this.#buckets = bucketsFor(options);
  }

  /** New limits from a reloaded configuration; open connections stay counted. */
  update(options: LimitOptions): void {
    const rateChanged = options.rate !== this.#options.rate || options.burst !== this.#options.burst;
    this.#options = options;
    if (rateChanged) this.#buckets = bucketsFor(options);
  }

  /**
   * Counts a new connection from `ip` (undefined: a unix-socket client, to which only the global
   * limit applies): null when it is let in, and then free(ip) must run exactly once when it ends
   * (an admitted client does it, being its own slot: no slot object per tunnel).
   */
  count(ip: string | undefined, now: number): Refusal | null {
    if (this.#total >= this.#options.max_connections) {
      return refuse(503, `over max_connections (${this.#options.max_connections})`, CONNECTION_RETRY_AFTER);
    }
    if (ip !== undefined) {
      const known = this.#perIp.get(ip);
      const count = known ?? 0;
      if (this.#options.max_connections_per_ip > 0 && count >= this.#options.max_connections_per_ip) {
        const limit = this.#options.max_connections_per_ip;
        return refuse(503, `over max_connections_per_ip (${limit}) for ${ip}`, CONNECTION_RETRY_AFTER);
      }
      const wait = this.#buckets?.take(ip, now) ?? 0;
      if (wait > 0) {
        return refuse(429, `over the handshake rate (${this.#options.rate}/s) for ${ip}`, Math.ceil(wait));
      }
      if (known === 0) this.#idleIps--;
      this.#perIp.set(ip, count + 1);
    }
    this.#total++;
    return null;
  }

  /** A connection from `ip` that count() let in ended. */
  free(ip: string | undefined): void {
    this.#total--;
    if (ip === undefined) return;
    const left = (this.#perIp.get(ip) ?? 1) - 1;
    this.#perIp.set(ip, left);
    if (left === 0 && ++this.#idleIps > IDLE_IPS_KEPT && this.#idleIps * 2 > this.#perIp.size) {
      this.#sweepIdleIps();
    }
  }

  /** Drops the entries of IPs without connections (see #perIp). */
  #sweepIdleIps(): void {
    for (const [ip, count] of this.#perIp) if (count === 0) this.#perIp.delete(ip);
    this.#idleIps = 0;
  }

  /** A further request on a kept-alive connection: the handshake rate applies to it too. 0 = go
   * on, else the seconds to wait (429). */
  requestRate(ip: string | undefined, now: number): number {
    return ip === undefined ? 0 : this.#buckets?.take(ip, now) ?? 0;
  }

  /** The next connection would be over max_connections. */
  get full(): boolean {
    return this.#total >= this.#options.max_connections;
  }

  /** Connections admitted and not yet released. */
  get active(): number {
    return this.#total;
  }

  /** Client IPs whose entries are kept (counters, idle counters, buckets), to check that memory
   * stays bounded. */
  get trackedIps(): number {
    return this.#perIp.size + (this.#buckets?.size ?? 0);
  }
}

function bucketsFor(options: LimitOptions): TokenBuckets | undefined {
  return options.rate > 0 ? new TokenBuckets(options.rate, options.burst) : undefined;
}

function refuse(status: 503 | 429, reason: string, retryAfterSeconds: number): Refusal {
  return { ok: false, status, reason, retryAfterSeconds: Math.max(1, retryAfterSeconds) };
}

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date (ms). */
  at: number;
}

/** One token bucket per key: `burst` tokens at most, refilled at `rate` per second. */
export class TokenBuckets {
  readonly #rate: number;
  readonly #burst: number;
  readonly #buckets = new Map<string, Bucket>();
  #sinceSweep = 0;

  constructor(rate: number, burst: number) {
    this.#rate = rate;
    this.#burst = burst;
  }

  /** Takes a token: 0 when there was one, else the seconds until there will be (nothing taken). */
  take(key: string, now: number): number {
    if (++this.#sinceSweep >= SWEEP_EVERY) this.#sweep(now);
    const bucket = this.#buckets.get(key) ?? { tokens: this.#burst, at: now };
    bucket.tokens = this.#refilled(bucket, now);
    bucket.at = now;
    this.#buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return (1 - bucket.tokens) / this.#rate;
  }

  #refilled(bucket: Bucket, now: number): number {
    // max(0, ...): a clock that steps back must not drain the bucket.
    return Math.min(this.#burst, bucket.tokens + Math.max(0, now - bucket.at) * this.#rate / 1000);
  }

  /** A full bucket is the same as no bucket: drop it. */
  #sweep(now: number): void {
    this.#sinceSweep = 0;
    for (const [key, bucket] of this.#buckets) {
      if (this.#refilled(bucket, now) >= this.#burst) this.#buckets.delete(key);
    }
  }

  get size(): number {
    return this.#buckets.size;
  }
}
