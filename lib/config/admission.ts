/**
 * The security keys of the config: `limits`, `trusted_proxies`, per-route access lists
 * (`allow_origins`, `allow`, `deny`), and the PROXY protocol switches. Pure, like the rest of
 * validation; validate.ts and upstreams.ts call these readers.
 */
import { type Cidr, parseCidr } from "../net/cidr.ts";
import { type OriginPattern, parseOriginPattern } from "../net/origin.ts";
import type { ProxyVersion } from "../net/proxy_protocol.ts";
import {
  asBoolean,
  asDuration,
  asInteger,
  Invalid,
  type KeyPath,
  type Parse,
  type Raw,
  type Reader,
} from "./reader.ts";
import { DEFAULTS, type LimitsConfig, type RouteConfig, type ServerConfig } from "./schema.ts";

export const LIMIT_KEYS = [
  "handshake_timeout",
  "max_head_bytes",
  "max_headers",
  "max_request_line",
  "max_connections",
  "max_connections_per_ip",
  "rate",
  "burst",
] as const;

export const ROUTE_ACCESS_KEYS = ["allow_origins", "allow", "deny"] as const;

const MAX_COUNT = 10_000_000;

/** A number of handshakes per second: fractions allowed (0.5 = one every 2 s), 0 = off. */
const asRate: Parse<number> = (value) =>
  typeof value === "number" && Number.isFinite(value) && value >= 0 && value <= 1_000_000
    ? value
    : new Invalid("must be a number of handshakes per second from 0 (off) to 1000000");

export function readLimits(r: Reader, root: Raw): LimitsConfig {
  const raw = r.section(root, "limits", [], LIMIT_KEYS);
  const at = ["limits"];
  const get = <T>(key: (typeof LIMIT_KEYS)[number], parse: Parse<T>) => r.get(raw, key, at, parse);
  const defaults = DEFAULTS.limits;
  const rate = get("rate", asRate) ?? defaults.rate;
  const burst = get("burst", asInteger(1, MAX_COUNT));
  if (burst !== undefined && rate === 0) {
    r.report([...at, "burst"], "has no effect without rate (handshakes per second)");
  }
  return {
    handshake_timeout: get("handshake_timeout", asDuration({ positive: true })) ?? defaults.handshake_timeout,
    max_head_bytes: get("max_head_bytes", asInteger(1_024, 1_048_576)) ?? defaults.max_head_bytes,
    max_headers: get("max_headers", asInteger(1, 10_000)) ?? defaults.max_headers,
    max_request_line: get("max_request_line", asInteger(256, 1_048_576)) ?? defaults.max_request_line,
    max_connections: get("max_connections", asInteger(1, MAX_COUNT)) ?? defaults.max_connections,
    max_connections_per_ip: get("max_connections_per_ip", asInteger(0, MAX_COUNT)) ??
      defaults.max_connections_per_ip,
    rate,
    burst: burst ?? Math.max(1, Math.ceil(rate)),
  };
}

/** A list of CIDR blocks (or single addresses), each checked; undefined when the key is absent. */
function readCidrs(r: Reader, obj: Raw, key: string, path: KeyPath): Cidr[] | undefined {
  const items = r.strings(obj, key, path, { required: false });
  if (items === undefined) return undefined;
  return items.flatMap((item) => {
    const cidr = parseCidr(item.value);
    if (!("error" in cidr)) return [cidr];
    r.report(item.path, cidr.error);
    return [];
  });
}

export function readTrustedProxies(r: Reader, root: Raw): Cidr[] {
  return readCidrs(r, root, "trusted_proxies", []) ?? [];
}

export function readRouteAccess(
  r: Reader,
  route: Raw,
  path: KeyPath,
): Pick<RouteConfig, "allow_origins" | "allow" | "deny"> {
  const origins = r.strings(route, "allow_origins", path, { required: false })?.flatMap((item) => {
    const pattern = parseOriginPattern(item.value);
    if (!("error" in pattern)) return [pattern];
    r.report(item.path, pattern.error);
    return [] as OriginPattern[];
  });
  const allow = readCidrs(r, route, "allow", path);
  const deny = readCidrs(r, route, "deny", path);
  return { ...(origins && { allow_origins: origins }), ...(allow && { allow }), ...(deny && { deny }) };
}

/** `proxy_protocol: true` on a server block, which must not also terminate TLS. */
export function readProxyProtocol(r: Reader, server: Raw, path: KeyPath): boolean {
  const on = r.get(server, "proxy_protocol", path, asBoolean) ?? DEFAULTS.proxy_protocol;
  if (on && server.tls !== undefined) {
    r.report(
      [...path, "proxy_protocol"],
      "cannot be combined with tls: the PROXY header comes before the TLS handshake, which the " +
        "runtimes perform on accept (terminate TLS at the balancer, or drop proxy_protocol)",
    );
  }
  return on;
}

/** Listeners expecting PROXY headers are useless without someone trusted to send them. */
export function checkProxyProtocolTrust(r: Reader, root: Raw, servers: readonly ServerConfig[]): void {
  if (root.trusted_proxies === undefined && servers.some((s) => s.proxy_protocol)) {
    r.report(
      ["trusted_proxies"],
      "is required when a server has proxy_protocol: true (PROXY headers are only accepted from these peers)",
    );
  }
}

const asProxyVersion: Parse<ProxyVersion> = (value) =>
  value === "v1" ? 1 : value === "v2" ? 2 : new Invalid('must be "v1" or "v2"');

export function readSendProxyProtocol(
  r: Reader,
  group: Raw,
  path: KeyPath,
): { send_proxy_protocol?: ProxyVersion } {
  const version = r.get(group, "send_proxy_protocol", path, asProxyVersion);
  return version === undefined ? {} : { send_proxy_protocol: version };
}
