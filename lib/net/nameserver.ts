/**
 * Where DNS questions go (pure): a configured name server ("10.96.0.10", "10.96.0.10:5353",
 * "[fd00::a]:53") or the `nameserver` lines of /etc/resolv.conf. Name servers are IP literals:
 * a name server found by name would need a name server first.
 */
import { formatIp, parseIp } from "./cidr.ts";
import type { Addr } from "./address.ts";

export const DNS_PORT = 53;

export type NameserverAddr = Extract<Addr, { transport: "tcp" }>;

/** "ip", "ip:port" or "[ipv6]:port"; the port defaults to 53. */
export function parseNameserver(text: string): NameserverAddr | { error: string } {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  const plain = bracketed ? undefined : /^([^:]+)(?::(\d{1,5}))?$/.exec(text);
  const host = bracketed?.[1] ?? plain?.[1] ?? text;
  const portText = bracketed?.[2] ?? plain?.[2];
  const ip = parseIp(host);
  if (!ip) {
    return {
      error: `invalid name server "${text}" (expected an IP address, like 10.96.0.10:53 or [fd00::a]:53)`,
    };
  }
  const port = portText === undefined ? DNS_PORT : Number(portText);
  if (!(port >= 1 && port <= 65_535)) return { error: `invalid port in name server "${text}" (1..65535)` };
  return { transport: "tcp", hostname: formatIp(ip), port };
}

/** The `nameserver` lines of a resolv.conf, in order; lines that are not an IP address are skipped. */
export function parseResolvConf(text: string): NameserverAddr[] {
  const servers: NameserverAddr[] = [];
  for (const line of text.split("\n")) {
    const [keyword, value] = line.replace(/[#;].*/, "").trim().split(/\s+/);
    if (keyword !== "nameserver" || value === undefined) continue;
    // A link-local IPv6 server carries a zone ("fe80::1%eth0"), which a socket address cannot.
    const ip = parseIp(value);
    if (ip) servers.push({ transport: "tcp", hostname: formatIp(ip), port: DNS_PORT });
  }
  return servers;
}
