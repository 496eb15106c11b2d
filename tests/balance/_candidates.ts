/** Test fixtures for the balancing policies: candidates, contexts and a seeded random source. */
import type { Candidate, PickContext } from "../../lib/balance/balancer.ts";

export interface TestCandidate extends Candidate {
  active: number;
}

/** One candidate per weight, at 10.0.0.<i+1>:8080, with no active tunnels. */
export function candidates(weights: number[]): TestCandidate[] {
  return weights.map((weight, index) => ({ index, address: `10.0.0.${index + 1}:8080`, weight, active: 0 }));
}

export function context(options: { clientIp?: string; key?: string } = {}): PickContext {
  return { clientIp: options.clientIp, hashKey: () => options.key };
}

/** Mulberry32: a small seeded generator, so randomised policies give the same counts every run. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** How many of `picks` went to each candidate index. */
export function tally(size: number, picks: (Candidate | undefined)[]): number[] {
  const counts = new Array<number>(size).fill(0);
  for (const pick of picks) if (pick) counts[pick.index]!++;
  return counts;
}
