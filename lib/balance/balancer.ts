/**
 * PICK (pure): the interface every balancing policy implements. Policies see only which
 * servers may be chosen and their weights, never sockets; live state stays in upstream.ts.
 */

export interface Balancer {
  /**
   * The index of the server to try next among those for which `eligible(i)` is true
   * (available and not yet tried for this connection), or undefined when none is.
   */
  pick(eligible: (index: number) => boolean): number | undefined;
}
