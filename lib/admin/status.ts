/**
 * STATUS: the document behind /status.json and the live status page. Pure: the caller gathers
 * the configuration, live upstream state and merged metrics, and passes the clock in.
 */
import {
  breakdown,
  emptyRouteStats,
  emptyServerStats,
  type RouteStats,
  serverKey,
  type ServerStats,
} from "./breakdown.ts";
import type { MetricsSnapshot, Sample } from "../observe/metrics.ts";

export interface StatusInput {
  version: string;
  runtime: string;
  /** ms since the epoch */
  startedAt: number;
  /** ms since the epoch */
  now: number;
  draining: boolean;
  workers: number;
  configSource: string;
  listeners: { addr: string; transport: "tcp" | "tls" | "unix" }[];
  routes: { hosts: string; path: string; upstream: string; websocketOnly: boolean }[];
  upstreams: {
    name: string;
    balance: string;
    servers: {
      address: string;
      weight: number;
      active: number;
      healthy: boolean;
      drained: boolean;
      down: boolean;
      backup: boolean;
    }[];
  }[];
  metrics: MetricsSnapshot;
}

export interface StatusTotals {
  activeTunnels: number;
  acceptedConnections: number;
  handshakes: number;
  bytesUp: number;
  bytesDown: number;
  /** Every reload attempt, including the failed ones counted in reloadsFailed. */
  reloads: number;
  reloadsFailed: number;
}

type RouteInput = StatusInput["routes"][number];
type UpstreamInput = StatusInput["upstreams"][number];
type ServerInput = UpstreamInput["servers"][number];

/** The input without the raw metrics (too bulky to poll every 2 s), plus what derives from them:
 * totals, and per route and per upstream server the figures of breakdown.ts. */
export type StatusJson = Omit<StatusInput, "metrics" | "routes" | "upstreams"> & {
  uptimeSeconds: number;
  totals: StatusTotals;
  routes: (RouteInput & { stats: RouteStats })[];
  upstreams: (Omit<UpstreamInput, "servers"> & { servers: (ServerInput & { stats: ServerStats })[] })[];
  /** Refusals before a route matched, by status. */
  unrouted: { rejects: Record<string, number> };
  /** ACME certificates served, soonest expiry first (from wsgate_certificate_expiry_seconds). */
  certificates: { domain: string; expires: string; expiresInSeconds: number }[];
};

export function buildStatus(input: StatusInput): StatusJson {
  const { metrics, routes, upstreams, ...rest } = input;
  const status: StatusJson = {
    ...rest,
    uptimeSeconds: Math.max(0, Math.floor((input.now - input.startedAt) / 1000)),
    totals: totalsOf(metrics),
    routes: routes.map((route) => ({ ...route, stats: emptyRouteStats() })),
    upstreams: upstreams.map((group) => ({
      ...group,
      servers: group.servers.map((server) => ({ ...server, stats: emptyServerStats() })),
    })),
    unrouted: { rejects: {} },
    certificates: [],
  };
  applyBreakdown(status, metrics);
  return status;
}

/** Sets every route's and server's figures from `metrics` (one process's, or the merged ones). */
function applyBreakdown(status: StatusJson, metrics: MetricsSnapshot): void {
  const figures = breakdown(metrics);
  for (const route of status.routes) route.stats = figures.routes.get(route.path) ?? emptyRouteStats();
  for (const group of status.upstreams) {
    for (const server of group.servers) {
      server.stats = figures.servers.get(serverKey(group.name, server.address)) ?? emptyServerStats();
    }
  }
  status.unrouted = { rejects: figures.unrouted };
  status.certificates = metrics.gauges
    .filter((g) => g.name === "wsgate_certificate_expiry_seconds")
    .map((g) => ({
      domain: g.labels.domain ?? "",
      expires: new Date(g.value * 1000).toISOString(),
      expiresInSeconds: Math.round(g.value - status.now / 1000),
    }))
    .sort((a, b) => a.expiresInSeconds - b.expiresInSeconds);
}

function totalsOf(metrics: MetricsSnapshot): StatusTotals {
  const { counters, gauges } = metrics;
  return {
    activeTunnels: total(gauges, "wsgate_active_tunnels"),
    acceptedConnections: total(counters, "wsgate_connections_accepted_total"),
    handshakes: total(counters, "wsgate_handshakes_total"),
    bytesUp: total(counters, "wsgate_bytes_total", { direction: "up" }),
    bytesDown: total(counters, "wsgate_bytes_total", { direction: "down" }),
    reloads: total(counters, "wsgate_reloads_total"),
    reloadsFailed: total(counters, "wsgate_reloads_total", { result: "failed" }),
  };
}

/** The sum of a family's series whose labels include `match`. */
function total(samples: readonly Sample[], name: string, match: Record<string, string> = {}): number {
  let sum = 0;
  for (const s of samples) {
    if (s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}

/**
 * One status for several worker processes: the first worker's view of the configuration, with
 * active tunnels per server and the totals summed over all of them (reloads are counted once
 * per worker, so they are taken from the first). With the workers' merged metrics, the per-route
 * and per-server figures are taken from those (percentiles of the summed buckets).
 */
export function mergeStatuses(
  statuses: readonly StatusJson[],
  overrides: { draining: boolean; workers: number },
  metrics?: MetricsSnapshot,
) {
  const [first, ...others] = statuses;
  if (!first) return { error: "no worker answered", ...overrides };
  const merged: StatusJson = structuredClone(first);
  Object.assign(merged, overrides);
  for (const other of others) {
    for (
      const key of ["activeTunnels", "acceptedConnections", "handshakes", "bytesUp", "bytesDown"] as const
    ) {
      merged.totals[key] += other.totals[key];
    }
    for (const group of merged.upstreams) {
      const twin = other.upstreams.find((g) => g.name === group.name);
      for (const server of group.servers) {
        const same = twin?.servers.find((s) => s.address === server.address);
        if (same) {
          server.active += same.active;
          server.healthy &&= same.healthy;
        }
      }
      // Workers look DNS names up each on its own: for a moment one may know a server the first does not.
      for (const server of twin?.servers ?? []) {
        if (!group.servers.some((s) => s.address === server.address)) {
          group.servers.push(structuredClone(server));
        }
      }
    }
  }
  if (metrics) applyBreakdown(merged, metrics);
  return merged;
}
