/**
 * hash: consistent hashing on a per-request key (nginx `hash KEY consistent`), by rendezvous
 * (highest random weight) hashing: every candidate scores hash(address, key) and the highest
 * score wins. Two properties follow, and the tests measure both:
 * - removing one of N servers (from the config, or as unavailable) moves only the keys that
 *   lived on it, about 1/N of them; every other key keeps its server;
 * - the score depends only on the key and the server's address and weight (as configured, or as DNS
 *   answered them), not on list order or any live state, so every wsgate instance in a fleet with
 *   the same answers maps a key the same way.
 * Weighted as in Schindelhauer & Schomaker's "weighted distributed hash tables":
 * score = -weight / ln(u) with u uniform in (0,1) gives each server a share proportional to its weight.
 * Rendezvous costs O(N) per pick, which for the handful of servers of an upstream group is
 * cheaper than keeping a ring of virtual nodes.
 * A request without a key (header absent...) falls back to another policy, as in nginx.
 */
import type { Balancer, Candidate, PickContext } from "./balancer.ts";

/** 32-bit FNV-1a over UTF-16 code units, finished with MurmurHash3's fmix32 avalanche. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function score(candidate: Candidate, key: string): number {
  // + 0.5 keeps u strictly inside (0, 1), so the logarithm is finite and negative.
  const u = (hash32(`${candidate.address}\n${key}`) + 0.5) / 0x1_0000_0000;
  return -candidate.weight / Math.log(u);
}

/** The rendezvous winner for `key`; equal scores go to the smaller address, never to list order. */
export function rendezvous<T extends Candidate>(candidates: readonly T[], key: string): T | undefined {
  let best: T | undefined;
  let bestScore = -Infinity;
  for (const candidate of candidates) {
    const s = score(candidate, key);
    if (s > bestScore || (s === bestScore && best !== undefined && candidate.address < best.address)) {
      best = candidate;
      bestScore = s;
    }
  }
  return best;
}

export class ConsistentHash implements Balancer {
  #keyOf: (ctx: PickContext) => string | undefined;
  #fallback: Balancer;

  /** `keyOf` extracts the key from a request; `fallback` places requests that have none. */
  constructor(keyOf: (ctx: PickContext) => string | undefined, fallback: Balancer) {
    this.#keyOf = keyOf;
    this.#fallback = fallback;
  }

  pick<T extends Candidate>(candidates: readonly T[], ctx: PickContext): T | undefined {
    const key = this.#keyOf(ctx);
    return key === undefined ? this.#fallback.pick(candidates, ctx) : rendezvous(candidates, key);
  }
}
