/**
 * round_robin: smooth weighted round robin, after nginx's ngx_http_upstream_get_peer()
 * (src/http/ngx_http_upstream_round_robin.c): each pick adds every candidate's weight to its
 * running score, takes the highest score and subtracts the total. Weights 5,1,1 give
 * a a b a c a a rather than a a a a a b c: no bursts towards the heavy server.
 */
import type { Balancer, Candidate } from "./balancer.ts";

export class SmoothRoundRobin implements Balancer {
  /** Running score per server index; servers that are not candidates keep theirs, like nginx. */
  #current: number[];

  constructor(servers: number) {
    this.#current = new Array<number>(servers).fill(0);
  }

  pick<T extends Candidate>(candidates: readonly T[]): T | undefined {
    let total = 0;
    let best: T | undefined;
    for (const candidate of candidates) {
      const score = (this.#current[candidate.index] ?? 0) + candidate.weight;
      this.#current[candidate.index] = score;
      total += candidate.weight;
      if (best === undefined || score > this.#current[best.index]!) best = candidate;
    }
    if (best !== undefined) this.#current[best.index]! -= total;
    return best;
  }
}
