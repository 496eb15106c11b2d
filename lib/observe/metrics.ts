/**
 * METRICS: the counters, gauges and histograms of one process, a JSON snapshot of them that a
 * worker sends to the supervisor, the merge of those snapshots, and Prometheus text exposition.
 * Pure: callers pass durations in; nothing here reads a clock.
 *
 * | family                                  | type      | labels            | merged across workers |
 * |-----------------------------------------|-----------|-------------------|-----------------------|
 * | wsgate_connections_accepted_total       | counter   | listener          | sum                   |
 * | wsgate_handshakes_total                 | counter   | result, status    | sum                   |
 * | wsgate_upstream_connect_failures_total  | counter   | upstream, server  | sum                   |
 * | wsgate_upstream_failures_total          | counter   | route, upstream, server, reason | sum     |
 * | wsgate_route_rejects_total              | counter   | route, status     | sum                   |
 * | wsgate_bytes_total                      | counter   | direction         | sum                   |
 * | wsgate_messages_total                   | counter   | direction         | sum                   |
 * | wsgate_tunnels_total                    | counter   | route             | sum                   |
 * | wsgate_reloads_total                    | counter   | result            | sum                   |
 * | wsgate_resolve_failures_total           | counter   | upstream, name    | sum                   |
 * | wsgate_auth_total                       | counter   | route, result     | sum                   |
 * | wsgate_active_tunnels                   | gauge     | route             | sum                   |
 * | wsgate_upstream_active_tunnels          | gauge     | upstream, server  | sum                   |
 * | wsgate_upstream_server_healthy          | gauge     | upstream, server  | max (healthy in any)  |
 * | wsgate_draining                         | gauge     |                   | max                   |
 * | wsgate_workers                          | gauge     |                   | max (one view of it)  |
 * | wsgate_info                             | gauge     | version, runtime  | max (always 1)        |
 * | wsgate_certificate_expiry_seconds       | gauge     | domain            | min (the oldest served) |
 * | wsgate_handshake_duration_seconds       | histogram | result            | sum per bucket        |
 * | wsgate_tunnel_handshake_duration_seconds | histogram | route, upstream, server | sum per bucket  |
 * | wsgate_tunnel_duration_seconds          | histogram | route             | sum per bucket        |
 */

export type Labels = Record<string, string>;

/** A JSON-serialisable snapshot: what a worker sends to the supervisor, and what renderPrometheus() formats. */
export interface MetricsSnapshot {
  counters: Sample[];
  gauges: Sample[];
  histograms: HistogramSample[];
}

export interface Sample {
  name: string;
  labels: Labels;
  value: number;
}

export interface HistogramSample {
  name: string;
  labels: Labels;
  /** Upper bounds in seconds, ascending. */
  buckets: number[];
  /** Observations per bucket, NOT cumulative, same length as `buckets`; the +Inf bucket is `count`. */
  counts: number[];
  count: number;
  sum: number;
}

type FamilyType = "counter" | "gauge" | "histogram";

interface Family {
  type: FamilyType;
  help: string;
  /** How mergeSnapshots() combines a gauge's series from several processes (default: sum). */
  merge?: "max" | "min";
}

/** Every family wsgate exports; the table in the header comment mirrors it. */
const FAMILIES = {
  wsgate_connections_accepted_total: {
    type: "counter",
    help: "Client connections accepted, by listener address.",
  },
  wsgate_handshakes_total: {
    type: "counter",
    help: "Client requests answered before the tunnel phase, by result (tunnel, http, rejected, " +
      "upstream_error) and HTTP status.",
  },
  wsgate_upstream_connect_failures_total: {
    type: "counter",
    help: "Failed attempts to reach an upstream server (refused, TLS failure, closed before answering).",
  },
  wsgate_upstream_failures_total: {
    type: "counter",
    help: "Failed attempts to get an answer from an upstream server, by route, server and reason " +
      "(connect, tls, send, response, timeout); each retry on another server counts again.",
  },
  wsgate_route_rejects_total: {
    type: "counter",
    help: "Requests wsgate answered with an error status itself (wsgate_handshakes_total results rejected " +
      'and upstream_error), by route (route="" before one matched) and status.',
  },
  wsgate_bytes_total: {
    type: "counter",
    help: "Bytes relayed between clients and upstreams; up = client to upstream, down = upstream to client.",
  },
  wsgate_messages_total: {
    type: "counter",
    help: "WebSocket data messages relayed by tunnels that track frames (route websocket.track_frames); " +
      "up = client to upstream, down = upstream to client.",
  },
  wsgate_tunnels_total: { type: "counter", help: "WebSocket tunnels opened, by route." },
  wsgate_reloads_total: { type: "counter", help: "Configuration reloads, by result (ok, failed)." },
  wsgate_resolve_failures_total: {
    type: "counter",
    help: "DNS lookups of upstream servers that failed (timeout, refused, SERVFAIL): the last good answer " +
      "stays in use. By upstream and DNS name.",
  },
  wsgate_auth_total: {
    type: "counter",
    help: "Authentication checks on routes with auth, by route and result (ok, missing, invalid, expired, " +
      "denied by the auth service, error: auth service or JWKS unavailable).",
  },
  wsgate_active_tunnels: { type: "gauge", help: "WebSocket tunnels open now, by route." },
  wsgate_upstream_active_tunnels: { type: "gauge", help: "WebSocket tunnels open now, by upstream server." },
  wsgate_upstream_server_healthy: {
    type: "gauge",
    help: "1 if the upstream server is considered healthy, else 0.",
    merge: "max",
  },
  wsgate_draining: {
    type: "gauge",
    help: "1 while the gateway drains (stopped accepting, waiting for connections to end).",
    merge: "max",
  },
  wsgate_workers: { type: "gauge", help: "Worker processes serving the listeners.", merge: "max" },
  wsgate_info: { type: "gauge", help: "Always 1; the labels tell the version and runtime.", merge: "max" },
  wsgate_certificate_expiry_seconds: {
    type: "gauge",
    help: "When the ACME certificate served for the domain expires (Unix time, seconds).",
    merge: "min",
  },
  wsgate_handshake_duration_seconds: {
    type: "histogram",
    help: "Time to answer a client's request head (with 101 or another status), by result.",
  },
  wsgate_tunnel_handshake_duration_seconds: {
    type: "histogram",
    help:
      "Time from accept to the 101 relayed to the client, of the tunnels opened, by route and upstream server.",
  },
  wsgate_tunnel_duration_seconds: {
    type: "histogram",
    help: "Lifetime of closed WebSocket tunnels, by route.",
  },
} as const satisfies Record<string, Family>;

/** Gauges without a dedicated method, set with Metrics.setGauge(). */
export type GaugeName =
  | "wsgate_draining"
  | "wsgate_workers"
  | "wsgate_info"
  | "wsgate_certificate_expiry_seconds";

/** Handshake latency, 1 ms .. 10 s. */
// deno-fmt-ignore
export const HANDSHAKE_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
/** Tunnel lifetime: 1 s, 10 s, 1 min, 5 min, 15 min, 1 h, 4 h, 1 day, 1 week. */
export const TUNNEL_BUCKETS: readonly number[] = [1, 10, 60, 300, 900, 3600, 14400, 86400, 604800];

/** One label value's place in a family: the series it ends, or the next label's values. */
interface Branch<T> {
  next: Map<string, Branch<T>> | undefined;
  series: T | undefined;
}

/**
 * The live series of one family, keyed by its label values. A lookup walks one Map per label with
 * the values themselves (routes, upstreams and servers are the configuration's strings, hashed
 * once): no key string is built and hashed per call, and this runs several times per handshake.
 * The labels object is built only when a series is first seen.
 */
class Series<T> {
  #root: Branch<T> = { next: undefined, series: undefined };
  /** In the order they were first seen, for the exposition. */
  #all: T[] = [];
  readonly #names: readonly string[];
  readonly #make: (labels: Labels) => T;

  constructor(names: readonly string[], make: (labels: Labels) => T) {
    this.#names = names;
    this.#make = make;
  }

  get(a: string, b?: string, c?: string, d?: string): T {
    let branch = child(this.#root, a);
    if (b !== undefined) branch = child(branch, b);
    if (c !== undefined) branch = child(branch, c);
    if (d !== undefined) branch = child(branch, d);
    return branch.series ??= this.#add([a, b, c, d]);
  }

  values(): IterableIterator<T> {
    return this.#all.values();
  }

  clear(): void {
    this.#root = { next: undefined, series: undefined };
    this.#all = [];
  }

  #add(values: (string | undefined)[]): T {
    const labels: Labels = {};
    this.#names.forEach((name, i) => labels[name] = values[i]!);
    const series = this.#make(labels);
    this.#all.push(series);
    return series;
  }
}

function child<T>(branch: Branch<T>, value: string): Branch<T> {
  const next = branch.next ??= new Map();
  let found = next.get(value);
  if (found === undefined) {
    found = { next: undefined, series: undefined };
    next.set(value, found);
  }
  return found;
}

function scalars(name: string, labelNames: readonly string[]): Series<Sample> {
  return new Series(labelNames, (labels) => ({ name, labels, value: 0 }));
}

function histograms(name: string, labelNames: readonly string[], bounds: readonly number[]) {
  return new Series<HistogramSample>(labelNames, (labels) => ({
    name,
    labels,
    buckets: [...bounds],
    counts: bounds.map(() => 0),
    count: 0,
    sum: 0,
  }));
}

/** A status as a label: one string per status for the process, not one per request. */
const STATUS_LABELS: string[] = [];
function statusLabel(status: number): string {
  return STATUS_LABELS[status] ??= String(status);
}

function observe(histogram: HistogramSample, value: number): void {
  histogram.count++;
  histogram.sum += value;
  const { buckets, counts } = histogram;
  for (let i = 0; i < buckets.length; i++) {
    if (value <= buckets[i]!) {
      counts[i]!++;
      return;
    }
  }
  // Above the last bound: only in count, which is the +Inf bucket.
}

/** The registry of one process. Methods are called on the data path, so they stay cheap. */
export class Metrics {
  readonly #accepted = scalars("wsgate_connections_accepted_total", ["listener"]);
  readonly #handshakes = scalars("wsgate_handshakes_total", ["result", "status"]);
  readonly #connectFailures = scalars("wsgate_upstream_connect_failures_total", ["upstream", "server"]);
  readonly #upstreamFailures = scalars("wsgate_upstream_failures_total", [
    "route",
    "upstream",
    "server",
    "reason",
  ]);
  readonly #routeRejects = scalars("wsgate_route_rejects_total", ["route", "status"]);
  readonly #bytes = scalars("wsgate_bytes_total", ["direction"]);
  readonly #messages = scalars("wsgate_messages_total", ["direction"]);
  readonly #tunnels = scalars("wsgate_tunnels_total", ["route"]);
  readonly #reloads = scalars("wsgate_reloads_total", ["result"]);
  readonly #resolveFailures = scalars("wsgate_resolve_failures_total", ["upstream", "name"]);
  readonly #auth = scalars("wsgate_auth_total", ["route", "result"]);
  readonly #activeTunnels = scalars("wsgate_active_tunnels", ["route"]);
  readonly #upstreamActive = scalars("wsgate_upstream_active_tunnels", ["upstream", "server"]);
  readonly #healthy = scalars("wsgate_upstream_server_healthy", ["upstream", "server"]);
  readonly #gauges = new Map<string, Sample>();
  readonly #handshakeSeconds = histograms("wsgate_handshake_duration_seconds", ["result"], HANDSHAKE_BUCKETS);
  readonly #tunnelHandshakeSeconds = histograms(
    "wsgate_tunnel_handshake_duration_seconds",
    ["route", "upstream", "server"],
    HANDSHAKE_BUCKETS,
  );
  readonly #tunnelSeconds = histograms("wsgate_tunnel_duration_seconds", ["route"], TUNNEL_BUCKETS);
  // bytes() runs once per relayed chunk: its two series are held directly.
  readonly #bytesUp = this.#bytes.get("up");
  readonly #bytesDown = this.#bytes.get("down");

  constructor() {
    // Exported at 0 from the start, so rate() and alerts see the series before the first event.
    this.#reloads.get("ok");
    this.#reloads.get("failed");
  }

  connectionAccepted(listener: string): void {
    this.#accepted.get(listener).value++;
  }

  /**
   * One answered request. `at` says where it went, for the per-route and per-server figures of
   * the status page: a tunnel's route and upstream server, a refusal's route ("" before one matched).
   */
  handshake(
    result: "tunnel" | "http" | "rejected" | "upstream_error",
    status: number,
    seconds: number,
    at?: { route: string; upstream?: string; server?: string },
  ): void {
    this.#handshakes.get(result, statusLabel(status)).value++;
    observe(this.#handshakeSeconds.get(result), seconds);
    if (at === undefined) return;
    if (result === "rejected" || result === "upstream_error") {
      this.#routeRejects.get(at.route, statusLabel(status)).value++;
    } else if (result === "tunnel" && at.upstream !== undefined && at.server !== undefined) {
      observe(this.#tunnelHandshakeSeconds.get(at.route, at.upstream, at.server), seconds);
    }
  }

  upstreamConnectFailure(upstream: string, server: string): void {
    this.#connectFailures.get(upstream, server).value++;
  }

  /** One failed attempt at an upstream server; `reason` is the phase, or "timeout". */
  upstreamFailure(route: string, upstream: string, server: string, reason: string): void {
    this.#upstreamFailures.get(route, upstream, server, reason).value++;
  }

  /** `up` = client to upstream. */
  bytes(direction: "up" | "down", n: number): void {
    (direction === "up" ? this.#bytesUp : this.#bytesDown).value += n;
  }

  /** Data messages of a frame-tracking tunnel; `up` = client to upstream. */
  messages(direction: "up" | "down", n: number): void {
    this.#messages.get(direction).value += n;
  }

  tunnelOpened(route: string, upstream: string, server: string): void {
    this.#tunnels.get(route).value++;
    this.#activeTunnels.get(route).value++;
    this.#upstreamActive.get(upstream, server).value++;
  }

  tunnelClosed(route: string, upstream: string, server: string, seconds: number): void {
    this.#activeTunnels.get(route).value--;
    this.#upstreamActive.get(upstream, server).value--;
    observe(this.#tunnelSeconds.get(route), seconds);
  }

  /** One request's authentication on a route with `auth`. */
  auth(route: string, result: "ok" | "missing" | "invalid" | "expired" | "denied" | "error"): void {
    this.#auth.get(route, result).value++;
  }

  reload(ok: boolean): void {
    this.#reloads.get(ok ? "ok" : "failed").value++;
  }

  resolveFailure(upstream: string, name: string): void {
    this.#resolveFailures.get(upstream, name).value++;
  }

  /** The health of the servers in use now: a server DNS no longer names leaves the series. */
  setServersHealth(servers: Iterable<{ upstream: string; server: string; healthy: boolean }>): void {
    this.#healthy.clear();
    for (const { upstream, server, healthy } of servers) {
      this.#healthy.get(upstream, server).value = healthy ? 1 : 0;
    }
  }

  /** Gauges without a dedicated method (wsgate_draining 0/1, wsgate_workers, wsgate_info{version,runtime} 1). */
  setGauge(name: GaugeName, labels: Labels, value: number): void {
    const key = seriesKey(name, labels);
    const gauge = this.#gauges.get(key);
    if (gauge) gauge.value = value;
    else this.#gauges.set(key, { name, labels: { ...labels }, value });
  }

  /** A deep copy: later events do not change it. */
  snapshot(): MetricsSnapshot {
    const samples = (...families: Iterable<Sample>[]) =>
      families.flatMap((family) => Array.from(family, (s) => ({ ...s, labels: { ...s.labels } })));
    return {
      counters: samples(
        this.#accepted.values(),
        this.#handshakes.values(),
        this.#connectFailures.values(),
        this.#upstreamFailures.values(),
        this.#routeRejects.values(),
        this.#bytes.values(),
        this.#messages.values(),
        this.#tunnels.values(),
        this.#reloads.values(),
        this.#resolveFailures.values(),
        this.#auth.values(),
      ),
      gauges: samples(
        this.#activeTunnels.values(),
        this.#upstreamActive.values(),
        this.#healthy.values(),
        this.#gauges.values(),
      ),
      histograms: [
        ...this.#handshakeSeconds.values(),
        ...this.#tunnelHandshakeSeconds.values(),
        ...this.#tunnelSeconds.values(),
      ].map(copyHistogram),
    };
  }
}

export function copyHistogram(h: HistogramSample): HistogramSample {
  return { ...h, labels: { ...h.labels }, buckets: [...h.buckets], counts: [...h.counts] };
}

/** Separates the parts of a series key: no name, address or status used as a label holds a NUL. */
const SEP = "\0";

/** Name plus labels in a canonical (sorted) order: the identity of a series across processes. */
function seriesKey(name: string, labels: Labels): string {
  return name + SEP + Object.keys(labels).sort().map((k) => k + "=" + labels[k]).join(SEP);
}

/**
 * Combines the snapshots of several processes: series with the same name and labels are
 * summed, except the gauges marked `max` in the table above (health, draining, workers, info),
 * which every process reports from the same shared view, and certificate expiry (`min`: a worker
 * still serving the older certificate is what a client may get). Histograms must have the same
 * buckets.
 */
export function mergeSnapshots(snapshots: readonly MetricsSnapshot[]): MetricsSnapshot {
  const counters = new Map<string, Sample>();
  const gauges = new Map<string, Sample>();
  const histograms = new Map<string, HistogramSample>();
  for (const snapshot of snapshots) {
    for (const c of snapshot.counters) mergeInto(counters, c, (a, b) => a + b);
    for (const g of snapshot.gauges) {
      const merge = familyOf(g.name)?.merge;
      mergeInto(gauges, g, merge === "max" ? Math.max : merge === "min" ? Math.min : (a, b) => a + b);
    }
    for (const h of snapshot.histograms) {
      const key = seriesKey(h.name, h.labels);
      const into = histograms.get(key);
      if (!into) {
        histograms.set(key, copyHistogram(h));
        continue;
      }
      addHistogram(into, h);
    }
  }
  return {
    counters: [...counters.values()],
    gauges: [...gauges.values()],
    histograms: [...histograms.values()],
  };
}

/** Adds `from`'s observations to `into` (same family or not; the buckets must be the same). */
export function addHistogram(into: HistogramSample, from: HistogramSample): void {
  if (into.buckets.join() !== from.buckets.join()) {
    throw new Error(`${from.name}: cannot merge histograms with different buckets`);
  }
  from.counts.forEach((n, i) => into.counts[i]! += n);
  into.count += from.count;
  into.sum += from.sum;
}

function mergeInto(
  into: Map<string, Sample>,
  sample: Sample,
  combine: (a: number, b: number) => number,
): void {
  const key = seriesKey(sample.name, sample.labels);
  const existing = into.get(key);
  if (existing) existing.value = combine(existing.value, sample.value);
  else into.set(key, { ...sample, labels: { ...sample.labels } });
}

function familyOf(name: string): Family | undefined {
  return Object.hasOwn(FAMILIES, name) ? FAMILIES[name as keyof typeof FAMILIES] : undefined;
}

/**
 * Prometheus text exposition format 0.0.4: families sorted by name, each with # HELP and
 * # TYPE; series sorted by labels; histograms as cumulative _bucket{le} up to "+Inf", _sum, _count.
 */
export function renderPrometheus(snapshot: MetricsSnapshot): string {
  const families = new Map<string, { type: FamilyType; lines: [string, string][] }>();
  const add = (name: string, type: FamilyType, labels: Labels, lines: string) => {
    const family = families.get(name) ?? { type, lines: [] };
    family.lines.push([seriesKey(name, labels), lines]);
    families.set(name, family);
  };
  for (const c of snapshot.counters) add(c.name, "counter", c.labels, sampleLine(c.name, c.labels, c.value));
  for (const g of snapshot.gauges) add(g.name, "gauge", g.labels, sampleLine(g.name, g.labels, g.value));
  for (const h of snapshot.histograms) add(h.name, "histogram", h.labels, histogramLines(h));
  let text = "";
  for (const name of [...families.keys()].sort()) {
    const family = families.get(name)!;
    const help = familyOf(name)?.help ?? `wsgate ${family.type} ${name}.`;
    text += `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${family.type}\n`;
    for (const [, lines] of family.lines.sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)) text += lines;
  }
  return text;
}

function histogramLines(h: HistogramSample): string {
  let cumulative = 0;
  let lines = "";
  h.buckets.forEach((bound, i) => {
    cumulative += h.counts[i] ?? 0;
    lines += sampleLine(`${h.name}_bucket`, { ...h.labels, le: formatValue(bound) }, cumulative);
  });
  lines += sampleLine(`${h.name}_bucket`, { ...h.labels, le: "+Inf" }, h.count);
  lines += sampleLine(`${h.name}_sum`, h.labels, h.sum);
  return lines + sampleLine(`${h.name}_count`, h.labels, h.count);
}

function sampleLine(name: string, labels: Labels, value: number): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return `${name}${pairs.length ? `{${pairs.join(",")}}` : ""} ${formatValue(value)}\n`;
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function escapeLabelValue(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function escapeHelp(help: string): string {
  return help.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}
