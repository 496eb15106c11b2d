/**
 * Smooth weighted round robin, after nginx's ngx_http_upstream_get_peer()
 * (src/http/ngx_http_upstream_round_robin.c): each pick adds every eligible server's weight to
 * its running score, takes the highest score and subtracts the total. Weights 5,1,1 give
 * a a b a c a a rather than a a a a a b c: no bursts towards the heavy server.
 */
import type { Balancer } from "./balancer.ts";

export class SmoothRoundRobin implements Balancer {
  #weights: readonly number[];
  #current: number[];

  constructor(weights: readonly number[]) {
    this.#weights = weights;
    this.#current = weights.map(() => 0);
  }

  pick(eligible: (index: number) => boolean): number | undefined {
    let total = 0;
    let best = -1;
    for (let i = 0; i < this.#weights.length; i++) {
      if (!eligible(i)) continue;
      const weight = this.#weights[i]!;
      this.#current[i]! += weight;
      total += weight;
      if (best === -1 || this.#current[i]! > this.#current[best]!) best = i;
    }
    if (best === -1) return undefined;
    this.#current[best]! -= total;
    return best;
  }
}
