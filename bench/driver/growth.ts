/**
 * The growth scenario's sizing (pure): which loopback addresses it spreads over, and which tunnel
 * counts the open-files limit lets a proxy hold.
 */

/**
 * One loopback address gives one 4-tuple space per leg (~28k ephemeral ports toward one
 * address:port): 30k tunnels plus the timed handshakes' TIME_WAIT need more. The proxies listen on
 * all of them and reach the backend on all of them; the load client spreads its connections.
 */
export const GROWTH_LOOPBACKS = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"] as const;

/** Descriptors a proxy needs besides two per tunnel: the 1,024 connections of headroom every
 * target's limits add to the tunnels (HAProxy refuses to start when 2 × maxconn exceeds the limit),
 * then listeners, logs, the event loop and wsgate's own headroom under the limit (FD_HEADROOM). */
export const FD_RESERVE = 2 * 1024 + 256;

export interface FittedSteps {
  steps: number[];
  /** Set when some steps did not fit: they were replaced by `max`. */
  capped?: { hardLimit: number; max: number; dropped: number[] };
}

/**
 * The steps a proxy process can hold with `hardLimit` open files (each tunnel takes two: client and
 * upstream). Steps above that are dropped and the largest count that fits, rounded down to a
 * hundred, takes their place, so the curve still reaches as far as the machine allows.
 */
export function fitSteps(wanted: readonly number[], hardLimit: number): FittedSteps {
  const max = Math.floor((hardLimit - FD_RESERVE) / 2 / 100) * 100;
  const dropped = wanted.filter((n) => n > max);
  if (dropped.length === 0) return { steps: [...wanted] };
  const kept = wanted.filter((n) => n <= max);
  const steps = max > 0 && !kept.includes(max) ? [...kept, max] : kept;
  return { steps, capped: { hardLimit, max, dropped } };
}

/** `ulimit -Hn` output: a number, or "unlimited". */
export function parseHardLimit(text: string): number {
  const t = text.trim();
  if (t === "unlimited") return Infinity;
  const n = Number(t);
  return Number.isInteger(n) && n > 0 ? n : NaN;
}
