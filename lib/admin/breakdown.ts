/**
 * BREAKDOWN: the per-route and per-upstream-server figures of /status.json, read from a metrics
 * snapshot (pure). The same function serves one process and the supervisor's merged snapshot,
 * so percentiles over several workers come from their summed buckets, never from averaging.
 */
import {
  addHistogram,
  copyHistogram,
  type HistogramSample,
  type MetricsSnapshot,
} from "../observe/metrics.ts";
import { type LatencySummary, latencySummary } from "../observe/percentiles.ts";

export interface RouteStats {
  /** Tunnels open now. */
  open: number;
  /** Tunnels opened since start. */
  opened: number;
  /** wsgate's error answers, by status code. */
  rejects: Record<string, number>;
  /** Failed attempts at upstream servers for this route (each retry counts). */
  upstreamFailures: number;
  /** Accept to 101, of the tunnels opened. */
  handshake: LatencySummary;
}

export interface ServerStats {
  /** Failed attempts, by reason: connect, tls, send, response, timeout. */
  failures: Record<string, number>;
  handshake: LatencySummary;
}

export interface Breakdown {
  /** By route path. */
  routes: Map<string, RouteStats>;
  /** Refusals before a route matched (no route, malformed request, limits), by status. */
  unrouted: Record<string, number>;
  /** By serverKey(upstream, server). */
  servers: Map<string, ServerStats>;
}

export const serverKey = (upstream: string, server: string) => `${upstream}\0${server}`;

const NO_LATENCY = latencySummary({ buckets: [], counts: [], count: 0 });

export const emptyRouteStats = (): RouteStats => ({
  open: 0,
  opened: 0,
  rejects: {},
  upstreamFailures: 0,
  handshake: NO_LATENCY,
});

export const emptyServerStats = (): ServerStats => ({ failures: {}, handshake: NO_LATENCY });

function getOrAdd<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  const found = map.get(key);
  if (found) return found;
  const made = make();
  map.set(key, made);
  return made;
}

/** Adds n to record[key]. */
function bump(record: Record<string, number>, key: string, n: number): void {
  record[key] = (record[key] ?? 0) + n;
}

export function breakdown(snapshot: MetricsSnapshot): Breakdown {
  const routes = new Map<string, RouteStats>();
  const servers = new Map<string, ServerStats>();
  const unrouted: Record<string, number> = {};
  const route = (path: string) => getOrAdd(routes, path, emptyRouteStats);
  const server = (upstream: string, address: string) =>
    getOrAdd(servers, serverKey(upstream, address), emptyServerStats);
  for (const { name, labels, value } of snapshot.counters) {
    if (name === "wsgate_route_rejects_total") {
      const path = labels.route ?? "";
      bump(path === "" ? unrouted : route(path).rejects, labels.status ?? "?", value);
    } else if (name === "wsgate_upstream_failures_total") {
      route(labels.route ?? "").upstreamFailures += value;
      bump(server(labels.upstream ?? "", labels.server ?? "").failures, labels.reason ?? "?", value);
    } else if (name === "wsgate_tunnels_total") {
      route(labels.route ?? "").opened += value;
    }
  }
  for (const { name, labels, value } of snapshot.gauges) {
    if (name === "wsgate_active_tunnels") route(labels.route ?? "").open += value;
  }
  // Summed buckets per route and per server first, the percentiles of each sum after.
  const routeLatency = new Map<string, HistogramSample>();
  const serverLatency = new Map<string, HistogramSample>();
  const add = (sums: Map<string, HistogramSample>, key: string, h: HistogramSample) => {
    const sum = sums.get(key);
    if (sum) addHistogram(sum, h);
    else sums.set(key, copyHistogram(h));
  };
  for (const h of snapshot.histograms) {
    if (h.name !== "wsgate_tunnel_handshake_duration_seconds") continue;
    add(routeLatency, h.labels.route ?? "", h);
    add(serverLatency, serverKey(h.labels.upstream ?? "", h.labels.server ?? ""), h);
  }
  for (const [path, h] of routeLatency) route(path).handshake = latencySummary(h);
  for (const [key, h] of serverLatency) {
    getOrAdd(servers, key, emptyServerStats).handshake = latencySummary(h);
  }
  return { routes, unrouted, servers };
}
