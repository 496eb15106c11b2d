import assert from "node:assert/strict";
import { buildStatus, mergeStatuses, type StatusInput, type StatusJson } from "../../lib/admin/status.ts";
import { statusPage } from "../../lib/admin/status_page.ts";
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
  const { totals: _totals, uptimeSeconds: _uptime, ...passed } = buildStatus({ ...input, metrics: _metrics });
  assert.deepEqual(passed, input);
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

/** Just enough DOM for the page's script: elements, text, children, classes, click and submit
 * handlers, input values. */
class FakeElement {
  className = "";
  textContent = "";
  value = "";
  hidden = false;
  disabled = false;
  type = "";
  title = "";
  onclick: (() => unknown) | null = null;
  onsubmit: ((event: { preventDefault(): void }) => unknown) | null = null;
  children: (FakeElement | string)[] = [];
  classes = new Set<string>();
  classList = { add: (c: string) => this.classes.add(c), remove: (c: string) => this.classes.delete(c) };

  append(...nodes: (FakeElement | string)[]): void {
    this.children.push(...nodes);
  }
  replaceChildren(...nodes: (FakeElement | string)[]): void {
    this.children = nodes;
  }
  text(): string {
    return this.textContent + this.children.map((c) => typeof c === "string" ? c : c.text()).join(" ");
  }
  buttons(): FakeElement[] {
    return this.children.flatMap((c) => typeof c === "string" ? [] : c.onclick ? [c] : c.buttons());
  }
}

/** Runs the page's inline script against a fake DOM and a fetch that answers with `answer`. */
function runPage(answer: (url: string, init?: RequestInit) => Response | Promise<Response>) {
  const elements = new Map<string, FakeElement>();
  const byId = (id: string) => elements.get(id) ?? elements.set(id, new FakeElement()).get(id)!;
  const document = { getElementById: byId, createElement: () => new FakeElement() };
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
  const script = statusPage().match(/<script>([\s\S]*)<\/script>/)![1]!;
  new Function("document", "fetch", "setTimeout", "sessionStorage", script)(
    document,
    fetch,
    setTimeout,
    sessionStorage,
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

Deno.test("the status page renders status.json and polls again after 2 s", async () => {
  const page = runPage(() => Response.json(sampleStatus()));
  await settle();
  assert.deepEqual(page.requests, [{ url: "./status.json", method: "GET" }]);
  assert.deepEqual(page.timers.map((t) => t.ms), [2000]);
  const cases: [string, string, string | RegExp][] = [
    ["active tunnels", "active-tunnels", "2"],
    ["bytes down, human readable", "bytes-down", "3.0 MiB"],
    ["uptime and workers", "meta", /up 1d 1h 1m .* 2 workers/],
    ["listeners", "listeners", /0\.0\.0\.0:8020 tcp/],
    ["routes", "routes", /\/ws chat yes/],
    ["upstream servers", "upstreams", /127\.0\.0\.1:8080 .*healthy 1 3/],
  ];
  for (const [name, id, expected] of cases) {
    const text = page.byId(id).text();
    if (typeof expected === "string") assert.equal(text, expected, name);
    else assert.match(text, expected, name);
  }
  assert.equal(page.byId("draining").hidden, true);
  assert.equal(page.byId("error").hidden, true);
});

Deno.test("the status page's Drain button POSTs the encoded server address, then refreshes", async () => {
  const page = runPage(() => Response.json(sampleStatus()));
  await settle();
  const [button] = page.byId("upstreams").buttons();
  assert.equal(button?.text(), "Drain");
  button!.onclick!();
  await settle();
  assert.deepEqual(page.requests.slice(1), [
    { url: "./upstreams/chat/servers/127.0.0.1%3A8080/drain", method: "POST" },
    { url: "./status.json", method: "GET" },
  ]);
});

Deno.test("the status page shows an error banner while the gateway does not answer", async () => {
  let up = false;
  const page = runPage(() =>
    up ? Response.json(sampleStatus()) : Promise.reject(new TypeError("connection refused"))
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
  const page = runPage((_url, init) =>
    new Headers(init?.headers).get("authorization") === "Bearer t0ken"
      ? Response.json(sampleStatus())
      : new Response("no bearer token\n", { status: 401 })
  );
  await settle();
  assert.equal(page.byId("login").hidden, false, "the token form shows");
  assert.match(page.byId("error").text(), /needs the admin token/);
  page.tick();
  await settle();
  assert.equal(page.requests.length, 1, "no polling while the token is asked for");

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
  assert.deepEqual(page.requests.slice(1).map((r) => r.method), ["GET", "POST", "GET"]);
  assert.deepEqual(page.authorizations.slice(1), ["Bearer t0ken", "Bearer t0ken", "Bearer t0ken"]);
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
