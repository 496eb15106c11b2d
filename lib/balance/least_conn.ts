/**
 * least_conn: the candidate with the fewest active tunnels per unit of weight (nginx least_conn).
 * The right policy for long-lived WebSockets: round robin spreads new connections evenly, but
 * not the ones still open, so after a restart or a burst of disconnects it keeps a lopsided
 * load; counting what is open corrects it. Ties are broken at random (reservoir sampling, as
 * Caddy does) so that equally loaded servers share a burst instead of all of it landing on the first.
 */
import type { Balancer, Candidate, Random } from "./balancer.ts";

/** Compares active/weight without division: negative when `a` is less loaded than `b`. */
export function compareLoad(a: Candidate, b: Candidate): number {
  return a.active * b.weight - b.active * a.weight;
}

export class LeastConn implements Balancer {
  #random: Random;

  constructor(random: Random) {
    this.#random = random;
  }

  pick<T extends Candidate>(candidates: readonly T[]): T | undefined {
    let best: T | undefined;
    let ties = 0;
    for (const candidate of candidates) {
      const order = best === undefined ? -1 : compareLoad(candidate, best);
      if (order < 0) {
        best = candidate;
        ties = 1;
      } else if (order === 0 && this.#random() * ++ties < 1) {
        // The k-th tie replaces the choice with probability 1/k: each tie is equally likely.
        best = candidate;
      }
    }
    return best;
  }
}
