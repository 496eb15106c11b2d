/**
 * The DNS side of `upstreams:` (DESIGN §3c): server entries with `resolve: true` or `srv:`, and
 * the group's `resolver`. Pure, like the rest of validation; upstreams.ts calls these.
 */
import { parseIp } from "../net/cidr.ts";
import { parseUpstreamAddress } from "../net/address.ts";
import { parseNameserver } from "../net/nameserver.ts";
import { asDuration, Invalid, type KeyPath, type Parse, type Raw, type Reader } from "./reader.ts";
import { DEFAULTS, type DiscoveredServersConfig, type ResolverConfig, type ServerOptions } from "./schema.ts";

export const RESOLVER_KEYS = ["nameservers", "interval", "timeout"] as const;
/** A name server is not to be hammered: lookups of one group never overlap, but a 1 ms interval
 * would still be a query per round trip from every worker of every instance. */
const MIN_INTERVAL_MS = 100;

/** A DNS name: labels of letters, digits, "-" and "_" (SRV names start with "_service._proto"). */
const DNS_NAME =
  /^(?=.{1,253}\.?$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.?$/i;

/** `{ address: "name:port", resolve: true, ... }`: every A/AAAA answer of the name is a server. */
export function readResolvedServer(
  r: Reader,
  address: string,
  path: KeyPath,
  options: ServerOptions,
): DiscoveredServersConfig | undefined {
  const parsed = parseUpstreamAddress(address);
  if ("error" in parsed) {
    r.report([...path, "address"], parsed.error);
    return undefined;
  }
  const { addr } = parsed;
  if (addr.transport !== "tcp" || parseIp(addr.hostname) !== undefined) {
    r.report([...path, "resolve"], `needs a host name to look up; "${address}" is not one`);
    return undefined;
  }
  return {
    type: "resolve",
    name: normalise(addr.hostname),
    source: address,
    port: addr.port,
    tls: parsed.tls,
    hostname: parsed.hostname,
    options,
  };
}

/** `{ srv: "_ws._tcp.name", ... }`: the SRV records' targets, ports and weights are the servers. */
export function readSrvServer(
  r: Reader,
  obj: Raw,
  path: KeyPath,
  options: ServerOptions,
): DiscoveredServersConfig | undefined {
  // The records say these; a value here would be silently overridden.
  for (const key of ["address", "resolve", "weight", "backup"]) {
    if (obj[key] !== undefined) {
      const why = key === "address" || key === "resolve"
        ? `a server is either "address" or "srv", not both`
        : `SRV records give each server its ${key === "weight" ? "weight" : "priority (lowest = primaries)"}`;
      r.report([...path, key], why, true);
    }
  }
  const name = obj.srv;
  if (typeof name !== "string" || !DNS_NAME.test(name)) {
    r.report([...path, "srv"], `must be a DNS name, like "_ws._tcp.app.default.svc.cluster.local"`);
    return undefined;
  }
  return { type: "srv", name: normalise(name), source: name, port: 0, tls: false, hostname: "", options };
}

/** The group's `resolver`; only meaningful with DNS-discovered servers. */
export function readResolver(
  r: Reader,
  obj: Raw,
  path: KeyPath,
  discovering: boolean,
): ResolverConfig | undefined {
  const resolverPath = [...path, "resolver"];
  const raw = r.section(obj, "resolver", path, RESOLVER_KEYS);
  if (obj.resolver !== undefined && !discovering) {
    r.report(resolverPath, `only used by servers with "resolve: true" or "srv:"`, true);
  }
  const nameservers = r.get(raw, "nameservers", resolverPath, asNameservers);
  const defaults = DEFAULTS.resolver;
  const interval = r.get(raw, "interval", resolverPath, asDuration({ positive: true }));
  if (interval !== undefined && interval < MIN_INTERVAL_MS) {
    r.report(
      [...resolverPath, "interval"],
      `must be at least ${MIN_INTERVAL_MS}ms: every worker asks at this pace`,
    );
  }
  const resolver: ResolverConfig = {
    interval: interval ?? defaults.interval,
    timeout: r.get(raw, "timeout", resolverPath, asDuration({ positive: true })) ?? defaults.timeout,
    ...(nameservers && { nameservers }),
  };
  return discovering ? resolver : undefined;
}

const asNameservers: Parse<NonNullable<ResolverConfig["nameservers"]>> = (value) => {
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.length === 0) return new Invalid("must be a list of IP:port name servers");
  const servers = [];
  for (const item of list) {
    const parsed = typeof item === "string" ? parseNameserver(item) : { error: "must be a list of strings" };
    if ("error" in parsed) return new Invalid(parsed.error);
    servers.push(parsed);
  }
  return servers;
};

function normalise(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}
