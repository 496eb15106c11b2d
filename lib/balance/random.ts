/**
 * random: "power of two choices" (nginx `random two least_conn`): draw two different candidates
 * at random, in proportion to their weights, and take the less loaded one. Nearly as even as
 * least_conn, but two instances sharing no state do not all chase the same least-loaded server.
 */
import type { Balancer, Candidate, Random } from "./balancer.ts";
import { compareLoad } from "./least_conn.ts";

export class RandomTwo implements Balancer {
  #random: Random;

  constructor(random: Random) {
    this.#random = random;
  }

  pick<T extends Candidate>(candidates: readonly T[]): T | undefined {
    const first = this.#draw(candidates, undefined);
    if (first === undefined) return undefined;
    const second = this.#draw(candidates, first);
    if (second === undefined) return first;
    return compareLoad(second, first) < 0 ? second : first;
  }

  /** A candidate other than `skip`, with probability proportional to its weight. */
  #draw<T extends Candidate>(candidates: readonly T[], skip: T | undefined): T | undefined {
    let total = 0;
    for (const candidate of candidates) if (candidate !== skip) total += candidate.weight;
    let point = this.#random() * total;
    let last: T | undefined;
    for (const candidate of candidates) {
      if (candidate === skip) continue;
      last = candidate;
      point -= candidate.weight;
      if (point < 0) return candidate;
    }
    // Floating-point rounding can leave `point` a hair above 0 after the last one.
    return last;
  }
}
