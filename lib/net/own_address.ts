/**
 * Whether dialing an upstream address would reach one of the gateway's own listeners. Pure.
 * A server found by DNS that is the gateway itself makes one request pass through it again and
 * again until descriptors run out, and puts the admin API behind the proxy (DESIGN §3c).
 *
 * A listener bound to `ip:port` is reached at that port by that IP; one bound to the unspecified
 * address (0.0.0.0, ::) or to a name (localhost) also by every loopback IP, of either family (a
 * `::` socket takes IPv4 too). The host's other addresses under an unspecified bind cannot be
 * known from here, and pass.
 */
import { type Addr, formatAddr } from "./address.ts";
import { isIpv4, parseIp } from "./cidr.ts";

/** The listener in `own` that `target` reaches, formatted ("127.0.0.1:8020"), or undefined. */
export function ownListener(
  target: { hostname: string; port: number },
  own: readonly Addr[],
): string | undefined {
  const ip = parseIp(target.hostname);
  if (!ip) return undefined;
  for (const addr of own) {
    if (addr.transport !== "tcp" || addr.port !== target.port) continue;
    const bound = parseIp(addr.hostname);
    const reached = bound && !isUnspecified(bound) ? sameIp(bound, ip) : isLoopback(ip) || isUnspecified(ip);
    if (reached) return formatAddr(addr);
  }
  return undefined;
}

function sameIp(a: Uint8Array, b: Uint8Array): boolean {
  return a.every((byte, i) => byte === b[i]);
}

function isUnspecified(ip: Uint8Array): boolean {
  return isIpv4(ip) ? ip.subarray(12).every((b) => b === 0) : ip.every((b) => b === 0);
}

/** 127.0.0.0/8 (also IPv4-mapped) or ::1. */
function isLoopback(ip: Uint8Array): boolean {
  return isIpv4(ip) ? ip[12] === 127 : ip.subarray(0, 15).every((b) => b === 0) && ip[15] === 1;
}

/** The addresses `config` listens on (admin included) and those bound: a port 0 is known once bound. */
export function ownAddresses(
  config: { servers: readonly { listen: readonly Addr[] }[]; admin?: { listen: Addr } | undefined },
  bound: readonly Addr[],
): Addr[] {
  const configured = [
    ...config.servers.flatMap((s) => s.listen),
    ...config.admin ? [config.admin.listen] : [],
  ];
  return [...bound, ...configured];
}
