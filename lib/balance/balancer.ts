/**
 * PICK (pure): the interface every balancing policy implements. A policy sees only the servers it
 * may choose from (upstream/group.ts has already left out the tried, unavailable and full ones) and what
 * it needs to weigh them, never sockets; live state stays in upstream/group.ts.
 */

/** One server a policy may choose. */
export interface Candidate {
  /** Position in the group's `servers` list: stable until that list changes (a reload, or DNS
   * answering other servers), when the group makes a new policy. */
  readonly index: number;
  /** As written in the config, or as DNS answered it ("10.1.2.3:8080"): the identity consistent
   * hashing uses, so a fleet agrees. */
  readonly address: string;
  readonly weight: number;
  /** Tunnels and handshakes on this server right now. */
  readonly active: number;
}

/** What a policy may know about the connection being placed. */
export interface PickContext {
  /** The client's IP address (an IPv4-mapped IPv6 address as plain IPv4); undefined over unix sockets. */
  readonly clientIp: string | undefined;
  /** The group's `hash_key` value for this request, computed on first use; undefined when absent. */
  hashKey(): string | undefined;
}

export interface Balancer {
  /** One of `candidates`, or undefined when the list is empty. */
  pick<T extends Candidate>(candidates: readonly T[], ctx: PickContext): T | undefined;
}

/** A source of numbers in [0, 1): Math.random in production, a seeded one in tests. */
export type Random = () => number;
