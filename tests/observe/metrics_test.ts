import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import {
  HANDSHAKE_BUCKETS,
  type HistogramSample,
  mergeSnapshots,
  Metrics,
  type MetricsSnapshot,
  renderPrometheus,
  type Sample,
} from "../../lib/observe/metrics.ts";

/** What parse-prometheus-text-format returns (it ships no types); values stay strings. */
interface ParsedFamily {
  name: string;
  help: string;
  type: string;
  metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string> }[];
}
const parse = parsePrometheusTextFormat as (text: string) => ParsedFamily[];

/**
 * Every sample line as name+labels -> value. The parser folds a labelled histogram into one
 * bucket map and drops its labels, _sum and _count, so the series are read with the TYPE lines
 * removed: each _bucket/_sum/_count name then parses as a family of its own, labels intact.
 */
function series(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const family of parse(text.replace(/^# TYPE .*\n/gm, ""))) {
    for (const m of family.metrics) {
      const labels = Object.entries(m.labels ?? {}).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(",");
      out.set(`${family.name}{${labels}}`, parseFloat(m.value!));
    }
  }
  return out;
}

const find = <T extends Sample | HistogramSample>(list: T[], name: string, labels: Record<string, string>) =>
  list.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels));

Deno.test("Metrics records each event in its documented series", () => {
  const cases: {
    name: string;
    act: (m: Metrics) => void;
    kind: "counters" | "gauges";
    series: string;
    labels: Record<string, string>;
    value: number;
  }[] = [
    {
      name: "accepted connections per listener",
      act: (m) => ["a", "a", "b"].forEach((l) => m.connectionAccepted(l)),
      kind: "counters",
      series: "wsgate_connections_accepted_total",
      labels: { listener: "a" },
      value: 2,
    },
    {
      name: "handshakes by result and status",
      act: (m) => [101, 101, 404].forEach((s) => m.handshake(s === 101 ? "tunnel" : "rejected", s, 0.01)),
      kind: "counters",
      series: "wsgate_handshakes_total",
      labels: { result: "tunnel", status: "101" },
      value: 2,
    },
    {
      name: "upstream connect failures",
      act: (m) => m.upstreamConnectFailure("ws", "10.0.0.1:80"),
      kind: "counters",
      series: "wsgate_upstream_connect_failures_total",
      labels: { upstream: "ws", server: "10.0.0.1:80" },
      value: 1,
    },
    {
      name: "bytes up add up",
      act: (m) => [10, 20, 30].forEach((n) => m.bytes("up", n)),
      kind: "counters",
      series: "wsgate_bytes_total",
      labels: { direction: "up" },
      value: 60,
    },
    {
      name: "bytes down exist before any traffic",
      act: () => {},
      kind: "counters",
      series: "wsgate_bytes_total",
      labels: { direction: "down" },
      value: 0,
    },
    {
      name: "tunnels opened, including closed ones",
      act: (m) => {
        m.tunnelOpened("/ws", "u", "s");
        m.tunnelOpened("/ws", "u", "s");
        m.tunnelClosed("/ws", "u", "s", 5);
      },
      kind: "counters",
      series: "wsgate_tunnels_total",
      labels: { route: "/ws" },
      value: 2,
    },
    {
      name: "active tunnels per route go down on close",
      act: (m) => {
        m.tunnelOpened("/ws", "u", "s");
        m.tunnelOpened("/ws", "u", "t");
        m.tunnelClosed("/ws", "u", "s", 5);
      },
      kind: "gauges",
      series: "wsgate_active_tunnels",
      labels: { route: "/ws" },
      value: 1,
    },
    {
      name: "active tunnels per upstream server",
      act: (m) => {
        m.tunnelOpened("/a", "u", "s");
        m.tunnelOpened("/b", "u", "s");
      },
      kind: "gauges",
      series: "wsgate_upstream_active_tunnels",
      labels: { upstream: "u", server: "s" },
      value: 2,
    },
    {
      name: "wsgate's own error answers per route and status (not tunnels or relayed answers)",
      act: (m) => {
        m.handshake("rejected", 403, 0.001, { route: "/ws" });
        m.handshake("upstream_error", 403, 0.001, { route: "/ws" });
        m.handshake("http", 403, 0.001, { route: "/ws" });
        m.handshake("rejected", 403, 0.001);
      },
      kind: "counters",
      series: "wsgate_route_rejects_total",
      labels: { route: "/ws", status: "403" },
      value: 2,
    },
    {
      name: 'refusals before a route matched, under route=""',
      act: (m) => m.handshake("rejected", 404, 0.001, { route: "" }),
      kind: "counters",
      series: "wsgate_route_rejects_total",
      labels: { route: "", status: "404" },
      value: 1,
    },
    {
      name: "failed upstream attempts by route, server and reason",
      act: (m) => ["connect", "connect", "timeout"].forEach((r) => m.upstreamFailure("/ws", "u", "s", r)),
      kind: "counters",
      series: "wsgate_upstream_failures_total",
      labels: { route: "/ws", upstream: "u", server: "s", reason: "connect" },
      value: 2,
    },
    {
      name: "failed reloads",
      act: (m) => [true, false, false].forEach((ok) => m.reload(ok)),
      kind: "counters",
      series: "wsgate_reloads_total",
      labels: { result: "failed" },
      value: 2,
    },
    {
      name: "server health is the last value set",
      act: (m) =>
        [true, false].forEach((h) => m.setServersHealth([{ upstream: "u", server: "s", healthy: h }])),
      kind: "gauges",
      series: "wsgate_upstream_server_healthy",
      labels: { upstream: "u", server: "s" },
      value: 0,
    },
    {
      name: "generic gauge, overwritten",
      act: (m) => [1, 0].forEach((v) => m.setGauge("wsgate_draining", {}, v)),
      kind: "gauges",
      series: "wsgate_draining",
      labels: {},
      value: 0,
    },
  ];
  for (const c of cases) {
    const metrics = new Metrics();
    c.act(metrics);
    assert.equal(find(metrics.snapshot()[c.kind], c.series, c.labels)?.value, c.value, c.name);
  }
});

Deno.test("histograms count per bucket (le inclusive), above the last bound only in count", () => {
  const metrics = new Metrics();
  for (const seconds of [0.001, 0.002, 0.3, 11, 11]) metrics.handshake("http", 200, seconds);
  const h = find(metrics.snapshot().histograms, "wsgate_handshake_duration_seconds", { result: "http" })!;
  assert.deepEqual(h.buckets, HANDSHAKE_BUCKETS);
  assert.deepEqual(h.counts, [1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
  assert.equal(h.count, 5);
  assert.equal(h.sum, 0.001 + 0.002 + 0.3 + 11 + 11);
});

Deno.test("a tunnel's handshake is also observed per route and upstream server", () => {
  const metrics = new Metrics();
  metrics.handshake("tunnel", 101, 0.004, { route: "/ws", upstream: "u", server: "s" });
  metrics.handshake("tunnel", 101, 0.004, { route: "/ws" }); // no server: only the overall histogram
  metrics.handshake("rejected", 400, 0.004, { route: "/ws" });
  const labels = { route: "/ws", upstream: "u", server: "s" };
  const h = find(metrics.snapshot().histograms, "wsgate_tunnel_handshake_duration_seconds", labels)!;
  assert.deepEqual([h.count, h.counts[2]], [1, 1]);
  assert.equal(metrics.snapshot().histograms.filter((x) => x.name === h.name).length, 1);
});

Deno.test("snapshot() is a copy that later events do not change", () => {
  const metrics = new Metrics();
  metrics.tunnelClosed("/", "u", "s", 2);
  const before = metrics.snapshot();
  const copy = structuredClone(before);
  metrics.tunnelClosed("/", "u", "s", 2);
  metrics.setGauge("wsgate_workers", {}, 4);
  assert.deepEqual(before, copy);
});

function workerSnapshot(tunnels: number, healthy: boolean): MetricsSnapshot {
  const metrics = new Metrics();
  for (let i = 0; i < tunnels; i++) metrics.tunnelOpened("/ws", "u", "s");
  metrics.tunnelClosed("/ws", "u", "s", 30);
  metrics.bytes("up", 100);
  metrics.setServersHealth([{ upstream: "u", server: "s", healthy }]);
  metrics.setGauge("wsgate_workers", {}, 3);
  return metrics.snapshot();
}

Deno.test("mergeSnapshots() sums across workers, max for the shared-view gauges", () => {
  const merged = mergeSnapshots([
    workerSnapshot(1, false),
    workerSnapshot(2, true),
    workerSnapshot(4, false),
  ]);
  const cases: [string, Sample[], string, Record<string, string>, number][] = [
    ["counter summed", merged.counters, "wsgate_tunnels_total", { route: "/ws" }, 7],
    ["bytes summed", merged.counters, "wsgate_bytes_total", { direction: "up" }, 300],
    ["active tunnels summed", merged.gauges, "wsgate_active_tunnels", { route: "/ws" }, 4],
    ["health is max", merged.gauges, "wsgate_upstream_server_healthy", { upstream: "u", server: "s" }, 1],
    ["workers is max, not 9", merged.gauges, "wsgate_workers", {}, 3],
  ];
  for (const [name, list, series, labels, value] of cases) {
    assert.equal(find(list, series, labels)?.value, value, name);
  }
  const h = find(merged.histograms, "wsgate_tunnel_duration_seconds", { route: "/ws" })!;
  assert.equal(h.count, 3);
  assert.equal(h.sum, 90);
  assert.deepEqual(h.counts, [0, 0, 3, 0, 0, 0, 0, 0, 0]);
});

Deno.test("mergeSnapshots() takes the earliest certificate expiry: a worker still serving the old one", () => {
  const worker = (expiry: number) => {
    const metrics = new Metrics();
    metrics.setGauge("wsgate_certificate_expiry_seconds", { domain: "a.example.com" }, expiry);
    return metrics.snapshot();
  };
  const merged = mergeSnapshots([worker(2_000), worker(1_000), worker(3_000)]);
  assert.equal(
    find(merged.gauges, "wsgate_certificate_expiry_seconds", { domain: "a.example.com" })?.value,
    1_000,
  );
});

Deno.test("mergeSnapshots() keeps series only one worker has, and ignores label order", () => {
  const a: MetricsSnapshot = {
    counters: [{ name: "x", labels: { p: "1", q: "2" }, value: 1 }],
    gauges: [],
    histograms: [],
  };
  const b: MetricsSnapshot = {
    counters: [{ name: "x", labels: { q: "2", p: "1" }, value: 2 }, { name: "y", labels: {}, value: 5 }],
    gauges: [],
    histograms: [],
  };
  assert.deepEqual(mergeSnapshots([a, b]).counters, [
    { name: "x", labels: { p: "1", q: "2" }, value: 3 },
    { name: "y", labels: {}, value: 5 },
  ]);
  assert.deepEqual(mergeSnapshots([]), { counters: [], gauges: [], histograms: [] });
});

Deno.test("mergeSnapshots() refuses histograms with different buckets", () => {
  const h = (buckets: number[]): MetricsSnapshot => ({
    counters: [],
    gauges: [],
    histograms: [{ name: "h", labels: {}, buckets, counts: buckets.map(() => 0), count: 0, sum: 0 }],
  });
  assert.throws(() => mergeSnapshots([h([1, 2]), h([1, 3])]), /different buckets/);
});

Deno.test("renderPrometheus() output parses as the text format, with the values recorded", () => {
  const metrics = new Metrics();
  metrics.connectionAccepted("0.0.0.0:8020");
  metrics.handshake("tunnel", 101, 0.004);
  metrics.handshake("rejected", 400, 0.0001);
  metrics.tunnelOpened("/ws", "chat", "127.0.0.1:8080");
  metrics.bytes("down", 1.5e9);
  metrics.setGauge("wsgate_info", { version: "0.1.0", runtime: "deno 2.9.6" }, 1);
  const text = renderPrometheus(metrics.snapshot());

  const families = parse(text);
  const names = families.map((f) => f.name);
  assert.deepEqual(names, [...names].sort(), "families sorted by name");
  for (const f of families) {
    assert.match(f.name, /^wsgate_[a-z_]+$/);
    assert.notEqual(f.type, "UNTYPED", `${f.name} has a # TYPE`);
    assert.ok(f.help.length > 10, `${f.name} has a # HELP`);
  }
  const types = Object.fromEntries(families.map((f) => [f.name, f.type]));
  assert.equal(types["wsgate_bytes_total"], "COUNTER");
  assert.equal(types["wsgate_active_tunnels"], "GAUGE");
  assert.equal(types["wsgate_handshake_duration_seconds"], "HISTOGRAM");

  const values = series(text);
  const cases: [string, number][] = [
    ['wsgate_connections_accepted_total{listener="0.0.0.0:8020"}', 1],
    ['wsgate_handshakes_total{result="tunnel",status="101"}', 1],
    ['wsgate_handshakes_total{result="rejected",status="400"}', 1],
    ['wsgate_active_tunnels{route="/ws"}', 1],
    ['wsgate_upstream_active_tunnels{upstream="chat",server="127.0.0.1:8080"}', 1],
    ['wsgate_bytes_total{direction="down"}', 1.5e9],
    ['wsgate_bytes_total{direction="up"}', 0],
    ['wsgate_reloads_total{result="ok"}', 0],
    ['wsgate_info{version="0.1.0",runtime="deno 2.9.6"}', 1],
  ];
  for (const [key, value] of cases) assert.equal(values.get(key), value, key);
  for (const [key, value] of values) assert.ok(Number.isFinite(value), `${key} has a numeric value`);
  assert.ok(text.endsWith("\n") && !text.includes("\n\n"), "one line per record, LF-terminated");
});

Deno.test("renderPrometheus() escapes label values (backslash, quote, newline)", () => {
  const cases: [string, string, string][] = [
    ["backslash", "C:\\dir", "C:\\\\dir"],
    ["quote", 'say "hi"', 'say \\"hi\\"'],
    ["newline", "a\nb", "a\\nb"],
    ["all three", '\\"\n', '\\\\\\"\\n'],
  ];
  for (const [name, value, escaped] of cases) {
    const text = renderPrometheus({
      counters: [],
      gauges: [{ name: "g", labels: { v: value }, value: 1 }],
      histograms: [],
    });
    assert.ok(text.includes(`g{v="${escaped}"} 1\n`), `${name}: ${text}`);
    assert.equal(parse(text)[0]?.metrics[0]?.labels?.["v"], value, `${name} round-trips`);
  }
});

Deno.test("renderPrometheus() writes histograms as cumulative buckets up to +Inf, _sum and _count", () => {
  const metrics = new Metrics();
  for (const seconds of [0.5, 30, 30, 7200, 1e6]) metrics.tunnelClosed("/chat", "u", "s", seconds);
  const text = renderPrometheus({ counters: [], gauges: [], histograms: metrics.snapshot().histograms });

  const [family] = parse(text);
  assert.equal(family?.type, "HISTOGRAM");
  assert.deepEqual(family?.metrics[0]?.buckets, {
    "1": "1",
    "10": "1",
    "60": "3",
    "300": "3",
    "900": "3",
    "3600": "3",
    "14400": "4",
    "86400": "4",
    "604800": "4",
    "+Inf": "5",
  });
  const values = series(text);
  assert.equal(values.get('wsgate_tunnel_duration_seconds_bucket{route="/chat",le="+Inf"}'), 5);
  assert.equal(values.get('wsgate_tunnel_duration_seconds_sum{route="/chat"}'), 0.5 + 30 + 30 + 7200 + 1e6);
  assert.equal(values.get('wsgate_tunnel_duration_seconds_count{route="/chat"}'), 5);
});

Deno.test("renderPrometheus() formats special values and falls back to a generic HELP", () => {
  const text = renderPrometheus({
    counters: [],
    gauges: [
      { name: "wsgate_x", labels: {}, value: Infinity },
      { name: "wsgate_x", labels: { a: "1" }, value: NaN },
    ],
    histograms: [],
  });
  assert.equal(
    text,
    '# HELP wsgate_x wsgate gauge wsgate_x.\n# TYPE wsgate_x gauge\nwsgate_x +Inf\nwsgate_x{a="1"} NaN\n',
  );
});

Deno.test("setServersHealth(): a server no longer listed (DNS dropped it) leaves the series", () => {
  const metrics = new Metrics();
  metrics.setServersHealth([{ upstream: "u", server: "a", healthy: true }, {
    upstream: "u",
    server: "b",
    healthy: false,
  }]);
  metrics.setServersHealth([{ upstream: "u", server: "b", healthy: true }]);
  const healthy = metrics.snapshot().gauges.filter((g) => g.name === "wsgate_upstream_server_healthy");
  assert.deepEqual(healthy.map((g) => [g.labels.server, g.value]), [["b", 1]]);
});

Deno.test("resolveFailure() counts per upstream and name", () => {
  const metrics = new Metrics();
  metrics.resolveFailure("app", "app.test");
  metrics.resolveFailure("app", "app.test");
  const sample = metrics.snapshot().counters.find((c) => c.name === "wsgate_resolve_failures_total");
  assert.deepEqual(sample, {
    name: "wsgate_resolve_failures_total",
    labels: { upstream: "app", name: "app.test" },
    value: 2,
  });
});

Deno.test("series are told apart by each label value, whatever the values hold, in the order first seen", () => {
  const metrics = new Metrics();
  // Values that would join to the same text under one separator, or look like one.
  metrics.tunnelOpened("/a", "b\0c", "s");
  metrics.tunnelOpened("/a", "b", "\0cs");
  metrics.tunnelOpened("/a", "b", "\0cs");
  metrics.tunnelOpened("/z", "b", "\0cs");
  const active = metrics.snapshot().gauges.filter((s) => s.name === "wsgate_upstream_active_tunnels");
  assert.deepEqual(active.map((s) => [s.labels, s.value]), [
    [{ upstream: "b\0c", server: "s" }, 1],
    [{ upstream: "b", server: "\0cs" }, 3],
  ]);
  const tunnels = metrics.snapshot().counters.filter((s) => s.name === "wsgate_tunnels_total");
  assert.deepEqual(tunnels.map((s) => [s.labels.route, s.value]), [["/a", 3], ["/z", 1]]);
  metrics.tunnelClosed("/a", "b", "\0cs", 2);
  const after = metrics.snapshot().gauges.filter((s) => s.name === "wsgate_upstream_active_tunnels");
  assert.deepEqual(after.map((s) => s.value), [1, 2]);
});
