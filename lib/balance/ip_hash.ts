/**
 * ip_hash: clients stick to a server by address, keyed like nginx's ip_hash: the first three
 * octets of an IPv4 address (a whole /24 lands together, so clients behind a pool of NAT
 * addresses stay put), the entire address for IPv6. Unlike nginx's ip_hash it is consistent
 * (rendezvous, see hash.ts): losing a server moves only its own clients. Unix-socket clients
 * have no address and fall back to another policy, as in nginx.
 */
import type { Balancer } from "./balancer.ts";
import { ConsistentHash } from "./hash.ts";

const IPV4 = /^(\d{1,3}\.\d{1,3}\.\d{1,3})\.\d{1,3}$/;

/** "192.0.2.77" -> "192.0.2"; an IPv6 address unchanged. */
export function ipHashKey(ip: string): string {
  return IPV4.exec(ip)?.[1] ?? ip;
}

export function ipHash(fallback: Balancer): Balancer {
  return new ConsistentHash(
    (ctx) => ctx.clientIp === undefined ? undefined : ipHashKey(ctx.clientIp),
    fallback,
  );
}
