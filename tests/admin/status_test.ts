import assert from "node:assert/strict";
import { buildStatus, mergeStatuses, type StatusInput, type StatusJson } from "../../lib/admin/status.ts";
import { statusPage } from "../../lib/admin/status_page.ts";
import type { TunnelsJson } from "../../lib/admin/tunnels.ts";
import type { HistoryJson } from "../../lib/observe/history.ts";
import { Metrics } from "../../lib/observe/metrics.ts";

function statusInput(metrics: Metrics, times: { startedAt: number; now: number }): StatusInput {
  return {
    version: "0.1.0",
    runtime: "deno 2.9.6",
    ...times,
    draining: false,
    workers: 2,
    configSource: "wsgate.yaml",
    listeners: [{ addr: "0.0.0.0:8020", transport: "tcp" }],
    routes: [{ hosts: "*", path: "/ws", upstream: "chat", websocketOnly: true }],
    upstreams: [{
      name: "chat",
      balance: "round_robin",
      servers: [
        {
          address: "127.0.0.1:8080",
          weight: 1,
          active: 3,
          healthy: true,
          drained: false,
          down: false,
          backup: false,
        },
      ],
    }],
    metrics: metrics.snapshot(),
  };
}

Deno.test("buildStatus() derives the totals from the metrics", () => {
  const metrics = new Metrics();
  ["a", "a", "b"].forEach((listener) => metrics.connectionAccepted(listener));
  metrics.handshake("tunnel", 101, 0.01);
  metrics.handshake("rejected", 404, 0.001);
  metrics.tunnelOpened("/ws", "chat", "127.0.0.1:8080");
  metrics.tunnelOpened("/other", "chat", "127.0.0.1:8080");
  metrics.tunnelOpened("/other", "chat", "127.0.0.1:8080");
  metrics.tunnelClosed("/other", "chat", "127.0.0.1:8080", 1);
  metrics.bytes("up", 10);
  metrics.bytes("down", 2048);
  [true, false, true].forEach((ok) => metrics.reload(ok));

  const status = buildStatus(statusInput(metrics, { startedAt: 0, now: 1 }));
  assert.deepEqual(status.totals, {
    activeTunnels: 2,
    acceptedConnections: 3,
    handshakes: 2,
    bytesUp: 10,
    bytesDown: 2048,
    reloads: 3,
    reloadsFailed: 1,
  });
});

Deno.test("buildStatus() passes the input through, without the raw metrics", () => {
  const { metrics: _metrics, ...input } = statusInput(new Metrics(), { startedAt: 0, now: 0 });
  const { totals: _totals, uptimeSeconds: _uptime, unrouted: _unrouted, certificates: _certs, ...passed } =
    buildStatus({
      ...input,
      metrics: _metrics,
    });
  // Without the figures added per route and per server, what is left is the input.
  const routes = passed.routes.map(({ stats: _stats, ...route }) => route);
  const upstreams = passed.upstreams.map((group) => ({
    ...group,
    servers: group.servers.map(({ stats: _stats, ...server }) => server),
  }));
  assert.deepEqual({ ...passed, routes, upstreams }, input);
});

Deno.test("buildStatus() lists ACME certificates from the expiry gauge, soonest first", () => {
  const metrics = new Metrics();
  const now = Date.UTC(2026, 11, 7);
  metrics.setGauge(
    "wsgate_certificate_expiry_seconds",
    { domain: "b.example.com" },
    now / 1000 + 90 * 86_400,
  );
  metrics.setGauge("wsgate_certificate_expiry_seconds", { domain: "a.example.com" }, now / 1000 + 86_400);
  const status = buildStatus(statusInput(metrics, { startedAt: now, now }));
  assert.deepEqual(status.certificates, [
    { domain: "a.example.com", expires: "2026-12-08T00:00:00.000Z", expiresInSeconds: 86_400 },
    { domain: "b.example.com", expires: "2027-03-07T00:00:00.000Z", expiresInSeconds: 90 * 86_400 },
  ]);
});

Deno.test("buildStatus() adds rejects, upstream failures and handshake percentiles per route and server", () => {
  const metrics = new Metrics();
  const at = { route: "/ws", upstream: "chat", server: "127.0.0.1:8080" };
  for (const ms of [2, 3, 4, 40]) metrics.handshake("tunnel", 101, ms / 1000, at);
  metrics.tunnelOpened("/ws", "chat", "127.0.0.1:8080");
  metrics.handshake("rejected", 403, 0.001, { route: "/ws" });
  metrics.handshake("upstream_error", 502, 0.01, { route: "/ws" });
  metrics.handshake("rejected", 404, 0.001, { route: "" });
  metrics.upstreamFailure("/ws", "chat", "127.0.0.1:8080", "connect");
  metrics.upstreamFailure("/ws", "chat", "127.0.0.1:8080", "timeout");

  const status = buildStatus(statusInput(metrics, { startedAt: 0, now: 0 }));
  const route = status.routes[0]!.stats;
  assert.deepEqual(route.rejects, { "403": 1, "502": 1 });
  assert.equal(route.upstreamFailures, 2);
  assert.deepEqual([route.open, route.opened], [1, 1]);
  assert.equal(route.handshake.count, 4);
  // Rank 2 of 4 is the first of the two observations in (2.5 ms, 5 ms]: halfway into that bucket.
  assert.equal(route.handshake.p50Ms, 3.75);
  assert.deepEqual(status.unrouted.rejects, { "404": 1 });
  const server = status.upstreams[0]!.servers[0]!.stats;
  assert.deepEqual(server.failures, { connect: 1, timeout: 1 });
  assert.deepEqual(server.handshake, route.handshake, "one server: the same observations");
});

Deno.test("buildStatus() computes whole seconds of uptime", () => {
  const cases: [string, number, number, number][] = [
    ["just started", 1_000_000, 1_000_000, 0],
    ["rounds down", 1_000_000, 1_002_999, 2],
    ["one day", 0, 86_400_000, 86_400],
    ["clock stepped back", 5_000, 1_000, 0],
  ];
  for (const [name, startedAt, now, seconds] of cases) {
    assert.equal(buildStatus(statusInput(new Metrics(), { startedAt, now })).uptimeSeconds, seconds, name);
  }
});

Deno.test("statusPage() is one self-contained HTML document", () => {
  const page = statusPage();
  const cases: [string, boolean][] = [
    ["starts with a doctype", page.startsWith("<!DOCTYPE html>")],
    ["ends the document", page.trimEnd().endsWith("</html>")],
    ["has head and body", page.includes("<head>") && page.includes("<body>")],
    ["no absolute http(s) URL", !/https?:\/\//i.test(page)],
    ["no external script, style or image", !/\s(src|href)=/i.test(page) && !/@import|url\(/i.test(page)],
    ["active tunnels element", page.split('id="active-tunnels"').length === 2],
    ["polls status.json relative to itself", page.includes('"./status.json"')],
  ];
  for (const [name, ok] of cases) assert.ok(ok, name);
});

/** Just enough DOM for the page's script: elements, text, children, classes, attributes, styles,
 * click and submit handlers, input values; SVG nodes are the same fake elements. */
class FakeElement {
  className = "";
  textContent = "";
  value = "";
  hidden = false;
  disabled = false;
  type = "";
  title = "";
  style: Record<string, string> = {};
  attributes = new Map<string, string>();
  onclick: (() => unknown) | null = null;
  onsubmit: ((event: { preventDefault(): void }) => unknown) | null = null;
  children: (FakeElement | string)[] = [];
  classes = new Set<string>();
  classList = { add: (c: string) => this.classes.add(c), remove: (c: string) => this.classes.delete(c) };

  constructor(readonly tag = "div") {}

  append(...nodes: (FakeElement | string)[]): void {
    this.children.push(...nodes);
  }
  replaceChildren(...nodes: (FakeElement | string)[]): void {
    this.children = nodes;
  }
  setAttribute(name: string, value: string): void {
    this.attributes.set(name, value);
  }
  text(): string {
    return this.textContent + this.children.map((c) => typeof c === "string" ? c : c.text()).join(" ");
  }
  buttons(): FakeElement[] {
    return this.children.flatMap((c) => typeof c === "string" ? [] : c.onclick ? [c] : c.buttons());
  }
  /** Descendants with this tag name. */
  all(tag: string): FakeElement[] {
    return this.children.flatMap((c) =>
      typeof c === "string" ? [] : [...(c.tag === tag ? [c] : []), ...c.all(tag)]
    );
  }
}

/** What the fake gateway answers: a document per endpoint, or a whole reply. */
type Answer = (url: string, init?: RequestInit) => Response | Promise<Response>;

/** Runs the page's inline script against a fake DOM and a fetch that answers with `answer`. */
function runPage(answer: Answer) {
  const elements = new Map<string, FakeElement>();
  const byId = (id: string) => elements.get(id) ?? elements.set(id, new FakeElement()).get(id)!;
  const document = {
    getElementById: byId,
    createElement: (tag: string) => new FakeElement(tag),
    createElementNS: (_ns: unknown, tag: string) => new FakeElement(tag),
  };
  const requests: { url: string; method: string }[] = [];
  /** The Authorization header of each request, in the same order. */
  const authorizations: (string | undefined)[] = [];
  const fetch = (url: string, init?: RequestInit) => {
    requests.push({ url, method: init?.method ?? "GET" });
    authorizations.push(new Headers(init?.headers).get("authorization") ?? undefined);
    return Promise.resolve(answer(url, init));
  };
  const stored = new Map<string, string>();
  const sessionStorage = {
    getItem: (key: string) => stored.get(key) ?? null,
    setItem: (key: string, value: string) => stored.set(key, value),
    removeItem: (key: string) => stored.delete(key),
  };
  const timers: { fn: () => void; ms: number }[] = [];
  const setTimeout = (fn: () => void, ms: number) => timers.push({ fn, ms });
  const addEventListener = () => {};
  const script = statusPage().match(/<script>([\s\S]*)<\/script>/)![1]!;
  new Function("document", "fetch", "setTimeout", "sessionStorage", "addEventListener", script)(
    document,
    fetch,
    setTimeout,
    sessionStorage,
    addEventListener,
  );
  /** Runs the timers set so far (the next poll). */
  const tick = () => timers.splice(0).forEach((t) => t.fn());
  return { byId, requests, authorizations, timers, tick, stored };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

function sampleStatus(): StatusJson {
  const metrics = new Metrics();
  metrics.tunnelOpened("/ws", "chat", "127.0.0.1:8080");
  metrics.tunnelOpened("/ws", "chat", "127.0.0.1:8080");
  metrics.bytes("down", 3 * 1024 * 1024);
  return buildStatus(statusInput(metrics, { startedAt: 0, now: 90_061_000 }));
}

/** Five samples 5 s apart; the open tunnels go 0, 1, 2, 3, 4 (or from `first`). */
function sampleHistory(first = 0): HistoryJson {
  const samples = [0, 1, 2, 3, 4].map((i) => ({
    t: 1_700_000_000_000 + i * 5_000,
    tunnels: first + i,
    handshakes: i,
    opened: i,
    bytesUp: 100 * i,
    bytesDown: 2048 * i,
    upstreamFailures: 0,
    rejects: i === 2 ? { "404": 0.2 } : {},
    p50Ms: i === 3 ? null : 2 + i,
    p99Ms: i === 3 ? null : 20 + i,
  }));
  return { intervalSeconds: 5, windowSeconds: 900, samples };
}

const sampleTunnels = (): TunnelsJson => ({
  now: "2024-01-01T00:01:05.000Z",
  total: 2,
  sort: "oldest",
  tunnels: [
    {
      id: "0-7",
      client: "127.0.0.1:50000",
      route: "/ws",
      upstream: "chat",
      server: "127.0.0.1:8080",
      started: "2024-01-01T00:00:00.000Z",
      bytes_up: 10,
      bytes_down: 2048,
      messages_up: 1,
      messages_down: 2,
    },
    {
      id: "1-9",
      client: "127.0.0.1:50001",
      route: "/raw",
      upstream: "chat",
      server: "127.0.0.1:8080",
      started: "2024-01-01T00:01:00.000Z",
      bytes_up: 0,
      bytes_down: 0,
    },
  ],
});

/** A gateway that answers every endpoint the page polls, and 200 to every POST. */
function gatewayAnswers(history = sampleHistory()): Answer {
  return (url, init) => {
    if (init?.method === "POST") return Response.json({ ok: true });
    if (url.startsWith("./history.json")) return Response.json(history);
    if (url.startsWith("./tunnels.json")) return Response.json(sampleTunnels());
    return Response.json(sampleStatus());
  };
}

const POLL = ["./status.json", "./history.json", "./tunnels.json?sort=oldest&limit=100"];
const polled = (urls = POLL) => urls.map((url) => ({ url, method: "GET" }));

Deno.test("the status page renders status.json and polls again after 2 s", async () => {
  const page = runPage(gatewayAnswers());
  await settle();
  assert.deepEqual(page.requests, polled());
  assert.deepEqual(page.timers.map((t) => t.ms), [2000]);
  const cases: [string, string, string | RegExp][] = [
    ["active tunnels", "active-tunnels", "2"],
    ["bytes down, human readable", "bytes-down", "3.0 MiB"],
    ["uptime and workers", "meta", /up 1d 1h 1m .* 2 workers/],
    ["listeners", "listeners", /0\.0\.0\.0:8020 tcp/],
    ["routes", "routes", /\/ws chat yes 2 2 - 0 -/],
    ["upstream servers", "upstreams", /127\.0\.0\.1:8080 .*healthy 1 3 - -/],
  ];
  for (const [name, id, expected] of cases) {
    const text = page.byId(id).text();
    if (typeof expected === "string") assert.equal(text, expected, name);
    else assert.match(text, expected, name);
  }
  assert.equal(page.byId("draining").hidden, true);
  assert.equal(page.byId("error").hidden, true);
  assert.equal(page.byId("unrouted").hidden, true);
});

Deno.test("the status page draws each chart's lines from history.json and redraws them from the next", async () => {
  let history = sampleHistory();
  const page = runPage((url, init) => gatewayAnswers(history)(url, init));
  await settle();
  const lines = (chart: string) =>
    page.byId(`plot-${chart}`).all("path").filter((p) => p.attributes.get("class") === "line");
  const d = (chart: string) => lines(chart).map((p) => p.attributes.get("d"));
  const point = String.raw`[\d.]+ [\d.]+`;
  for (const chart of ["tunnels", "handshakes", "bytes", "rejects", "failures"]) {
    assert.ok(lines(chart).length > 0, `${chart} has a line`);
    for (const path of d(chart)) assert.match(path ?? "", new RegExp(`^M${point}(L${point}){4}$`), chart);
  }
  // No handshake latency in the fourth interval: the line breaks there instead of bridging it.
  for (const path of d("latency")) assert.match(path ?? "", new RegExp(`^M${point}(L${point}){2}M${point}$`));
  assert.deepEqual(lines("rejects").map((p) => p.attributes.get("data-series")), ["404 no route"]);
  assert.match(page.byId("legend-bytes").text(), /up \(client to upstream\) +400 B\/s .*down +8\.0 KiB\/s/);
  assert.match(page.byId("legend-tunnels").text(), /open +4/, "the legend shows the newest sample");

  const before = d("tunnels");
  history = sampleHistory(10);
  page.tick();
  await settle();
  assert.notDeepEqual(d("tunnels"), before, "the next poll redraws");
  assert.match(page.byId("legend-tunnels").text(), /open +14/);
});

Deno.test("the status page lists tunnels.json, sorts on request, and Close POSTs the encoded id", async () => {
  const page = runPage(gatewayAnswers());
  await settle();
  const rows = page.byId("tunnels").all("tr").slice(1);
  assert.deepEqual(rows.map((r) => r.attributes.get("data-id")), ["0-7", "1-9"]);
  assert.match(
    rows[0]!.text(),
    /0-7 +127\.0\.0\.1:50000 +\/ws +chat +127\.0\.0\.1:8080 +1m 5s +10 B +2\.0 KiB +1 \/ 2/,
  );
  assert.match(rows[1]!.text(), /5s .* raw/, "a raw tunnel counts no messages");
  assert.equal(page.byId("tunnel-count").text(), "2");

  page.byId("sort-busiest").onclick!();
  await settle();
  assert.deepEqual(
    page.requests.slice(3),
    polled(["./status.json", "./history.json", "./tunnels.json?sort=busiest&limit=100"]),
  );

  const close = rows[0]!.buttons().find((b) => b.text() === "Close")!;
  close.onclick!();
  await settle();
  assert.deepEqual(page.requests.slice(6, 7), [{ url: "./tunnels/0-7/close", method: "POST" }]);
  assert.equal(page.requests.length, 10, "then a refresh");
  assert.equal(page.byId("error").hidden, true);
});

Deno.test("the status page's Drain button POSTs the encoded server address, then refreshes", async () => {
  const page = runPage(gatewayAnswers());
  await settle();
  const [button] = page.byId("upstreams").buttons();
  assert.equal(button?.text(), "Drain");
  button!.onclick!();
  await settle();
  assert.deepEqual(page.requests.slice(3), [
    { url: "./upstreams/chat/servers/127.0.0.1%3A8080/drain", method: "POST" },
    ...polled(),
  ]);
});

Deno.test("the status page shows an error banner while the gateway does not answer", async () => {
  let up = false;
  const answers = gatewayAnswers();
  const page = runPage((url, init) =>
    up ? answers(url, init) : Promise.reject(new TypeError("connection refused"))
  );
  await settle();
  assert.equal(page.byId("error").hidden, false);
  assert.match(page.byId("error").text(), /Cannot reach the gateway \(connection refused\)/);
  assert.ok(page.byId("main").classes.has("stale"));

  up = true;
  page.tick();
  await settle();
  assert.equal(page.byId("error").hidden, true, "cleared by the next successful poll");
  assert.ok(!page.byId("main").classes.has("stale"));
  assert.equal(page.byId("active-tunnels").text(), "2");
});

Deno.test("the status page asks for the admin token on a 401 and sends it with its requests", async () => {
  const answers = gatewayAnswers();
  const page = runPage((url, init) =>
    new Headers(init?.headers).get("authorization") === "Bearer t0ken"
      ? answers(url, init)
      : new Response("no bearer token\n", { status: 401 })
  );
  await settle();
  assert.equal(page.byId("login").hidden, false, "the token form shows");
  assert.match(page.byId("error").text(), /needs the admin token/);
  const asked = page.requests.length;
  page.tick();
  await settle();
  assert.equal(page.requests.length, asked, "no polling while the token is asked for");

  page.byId("token").value = " t0ken ";
  page.byId("login").onsubmit!({ preventDefault: () => {} });
  await settle();
  assert.equal(page.byId("login").hidden, true);
  assert.equal(page.byId("error").hidden, true);
  assert.equal(page.byId("active-tunnels").text(), "2");
  assert.equal(page.byId("token").value, "", "the input does not keep it");
  assert.deepEqual([...page.stored.values()], ["t0ken"], "kept for this tab only");

  page.byId("upstreams").buttons()[0]!.onclick!();
  await settle();
  const after = page.requests.slice(asked);
  assert.deepEqual(after.map((r) => r.method), ["GET", "GET", "GET", "POST", "GET", "GET", "GET"]);
  assert.ok(page.authorizations.slice(asked).every((a) => a === "Bearer t0ken"), "every request has it");
});

Deno.test("the status page forgets a token the gateway refuses and asks again", async () => {
  const page = runPage(() => new Response("wrong bearer token\n", { status: 401 }));
  page.stored.set("wsgate-admin-token", "old");
  await settle();
  assert.equal(page.byId("login").hidden, false);
  assert.equal(page.stored.size, 0);
});

Deno.test("mergeStatuses() sums tunnels and totals over workers", () => {
  const base = {
    version: "0",
    runtime: "test",
    startedAt: 0,
    now: 5000,
    draining: false,
    workers: 1,
    configSource: "t.yaml",
    listeners: [],
    routes: [],
    metrics: { counters: [], gauges: [], histograms: [] },
  };
  const worker = (active: number, healthy: boolean) =>
    buildStatus({
      ...base,
      upstreams: [{
        name: "u",
        balance: "round_robin",
        servers: [{ address: "a", weight: 1, active, healthy, drained: false, down: false, backup: false }],
      }],
      metrics: {
        counters: [{ name: "wsgate_handshakes_total", labels: {}, value: active * 10 }],
        gauges: [{ name: "wsgate_active_tunnels", labels: { route: "/" }, value: active }],
        histograms: [],
      },
    });
  const merged = mergeStatuses([worker(2, true), worker(3, false)], {
    draining: true,
    workers: 2,
  }) as StatusJson;
  assert.equal(merged.upstreams[0]!.servers[0]!.active, 5);
  assert.equal(merged.upstreams[0]!.servers[0]!.healthy, false);
  assert.equal(merged.totals.activeTunnels, 5);
  assert.equal(merged.totals.handshakes, 50);
  assert.equal(merged.workers, 2);
  assert.equal(merged.draining, true);
});
