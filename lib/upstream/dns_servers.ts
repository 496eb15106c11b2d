/**
 * DNS answers -> upstream servers, and what changed between two answers. Pure.
 * - `resolve: true`: every address of the name is a server with the entry's port and options.
 * - `srv:`: every SRV record's target addresses with the record's port; the record's weight is the
 *   balancing weight (0 counts as 1: a weight must be positive, and RFC 2782's "0 = rarely" has
 *   no place in a per-connection pick); records of the lowest priority value are the primaries,
 *   every other priority a backup (wsgate has two tiers, not one per priority).
 * Servers come out sorted by address, so the same answer in any order gives the same group.
 */
import { formatAddr } from "../net/address.ts";
import { formatIp, isIpv4, parseIp } from "../net/cidr.ts";
import type { DiscoveredServersConfig, UpstreamServerConfig } from "../config/schema.ts";

/** One SRV record with the addresses of its target. */
export interface SrvTarget {
  priority: number;
  weight: number;
  port: number;
  ips: readonly string[];
}

export function resolvedServers(
  source: DiscoveredServersConfig,
  ips: readonly string[],
): UpstreamServerConfig[] {
  return dedupe(ips.filter(dialable).map((ip) => server(source, ip, source.port, source.options)));
}

export function srvServers(
  source: DiscoveredServersConfig,
  targets: readonly SrvTarget[],
): UpstreamServerConfig[] {
  const usable = targets.filter((t) => t.port > 0 && t.ips.length > 0);
  const primary = Math.min(...usable.map((t) => t.priority));
  // Primaries first, so an address listed at two priorities is a primary.
  const ordered = [...usable].sort((a, b) => a.priority - b.priority);
  return dedupe(
    ordered.flatMap((target) =>
      target.ips.filter(dialable).map((ip) =>
        server(source, ip, target.port, {
          ...source.options,
          weight: Math.max(1, target.weight),
          backup: target.priority !== primary,
        })
      )
    ),
  );
}

/** Addresses in `after` and not in `before`, and the other way round. */
export function diffAddresses(
  before: readonly string[],
  after: readonly string[],
): { added: string[]; removed: string[] } {
  const was = new Set(before);
  const is = new Set(after);
  return { added: after.filter((a) => !was.has(a)), removed: before.filter((a) => !is.has(a)) };
}

function server(
  source: DiscoveredServersConfig,
  ip: string,
  port: number,
  options: DiscoveredServersConfig["options"],
): UpstreamServerConfig {
  // One spelling per address ("::ffff:10.0.0.1" is 10.0.0.1), since the address is the identity.
  const bytes = parseIp(ip);
  const hostname = bytes ? formatIp(bytes) : ip;
  const addr = { transport: "tcp" as const, hostname, port };
  return {
    address: `${source.tls ? "wss://" : ""}${formatAddr(addr)}`,
    addr,
    tls: source.tls,
    hostname: source.hostname || hostname,
    ...options,
  };
}

/**
 * Not the unspecified address (0.0.0.0 or ::, which a connect takes for this host: a bad record
 * would send tunnels to the gateway's own listeners) nor a multicast or broadcast one.
 */
function dialable(ip: string): boolean {
  const bytes = parseIp(ip);
  if (!bytes) return false;
  const v4 = isIpv4(bytes);
  if (v4) return bytes[12] !== 0 && bytes[12]! < 224;
  return bytes[0] !== 0xff && !bytes.every((b) => b === 0);
}

/** The first server per address, sorted by address. */
function dedupe(servers: UpstreamServerConfig[]): UpstreamServerConfig[] {
  const seen = new Map<string, UpstreamServerConfig>();
  for (const s of servers) if (!seen.has(s.address)) seen.set(s.address, s);
  return [...seen.values()].sort((a, b) => a.address < b.address ? -1 : a.address > b.address ? 1 : 0);
}
