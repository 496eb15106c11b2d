/** The DNS keys of `upstreams:` (resolve, srv, resolver) and `watch_config`: values read, defaults, errors at their positions. */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { loadConfigFile } from "../../lib/config/load.ts";
import { formatPath, validateConfig } from "../../lib/config/validate.ts";
import { describeConfig } from "../../lib/config/summary.ts";

const OPTIONS = { source: "test.yaml", baseDir: "/etc/wsgate" };
const ROUTES = [{ listen: "127.0.0.1:8020", routes: [{ path: "/", upstream: "app" }] }];

function validate(app: Record<string, unknown>, top: Record<string, unknown> = {}) {
  return validateConfig({ servers: ROUTES, upstreams: { app }, ...top }, OPTIONS);
}

function problems(app: Record<string, unknown>): string[] {
  return validate(app).issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
}

Deno.test("discovery keys: resolve and srv entries, the resolver, watch_config", () => {
  const { config, issues } = validate({
    servers: [
      "10.0.0.1:8080",
      { address: "App.Default.svc.cluster.local.:8080", resolve: true, max_conns: 10 },
      { address: "wss://secure.svc:8443", resolve: true },
      { srv: "_ws._tcp.app.default.svc.cluster.local", max_fails: 3 },
      { address: "plain.svc:80", resolve: false },
    ],
    resolver: { nameservers: ["10.96.0.10", "[fd00::10]:5353"], interval: "5s", timeout: "1s" },
  }, { watch_config: true });
  assert.deepEqual(issues, []);
  const app = config!.upstreams.get("app")!;
  assert.deepEqual(app.servers.map((s) => s.address), ["10.0.0.1:8080", "plain.svc:80"]);
  assert.deepEqual(app.discovered.map((d) => [d.type, d.name, d.port, d.tls, d.hostname]), [
    ["resolve", "app.default.svc.cluster.local", 8080, false, "App.Default.svc.cluster.local."],
    ["resolve", "secure.svc", 8443, true, "secure.svc"],
    ["srv", "_ws._tcp.app.default.svc.cluster.local", 0, false, ""],
  ]);
  assert.equal(app.discovered[0]!.options.max_conns, 10);
  assert.equal(app.discovered[2]!.options.max_fails, 3);
  assert.deepEqual(app.resolver, {
    interval: 5_000,
    timeout: 1_000,
    nameservers: [
      { transport: "tcp", hostname: "10.96.0.10", port: 53 },
      { transport: "tcp", hostname: "fd00::10", port: 5353 },
    ],
  });
  // DNS decides how many servers there are: retries follow them when not set.
  assert.equal(app.retries, undefined);
  assert.equal(config!.watch_config, true);
  assert.deepEqual(
    describeConfig(config!).at(-1)?.split(": ")[1],
    [
      "10.0.0.1:8080",
      "plain.svc:80",
      "resolve:App.Default.svc.cluster.local.:8080",
      "resolve:wss://secure.svc:8443",
      "srv:_ws._tcp.app.default.svc.cluster.local",
    ].join(", "),
  );
});

Deno.test("discovery keys: defaults: system name servers, every 10s, 2s timeout; watch_config off", () => {
  const { config } = validate({ servers: [{ address: "app.svc:80", resolve: true }] });
  assert.deepEqual(config!.upstreams.get("app")!.resolver, { interval: 10_000, timeout: 2_000 });
  assert.equal(config!.watch_config, false);
  const { config: plain } = validate({ servers: ["a:1", "b:1"] });
  assert.equal(plain!.upstreams.get("app")!.resolver, undefined);
  assert.equal(plain!.upstreams.get("app")!.retries, 1);
});

Deno.test("discovery keys: each mistake named at its key", () => {
  assert.deepEqual(
    problems({
      servers: [
        { address: "10.0.0.1:80", resolve: true },
        { address: "unix:/run/app.sock", resolve: true },
        { address: "app.svc", resolve: true },
        { address: "app.svc:80", resolve: "yes" },
        { srv: "_ws._tcp.app", weight: 2, backup: true },
        { srv: "_ws._tcp.app", address: "a:1" },
        { srv: "bad name!" },
        { srv: 5 },
      ],
      resolver: { nameservers: ["kube-dns:53"], interval: "0s", timeout: "soon", cache: 1 },
    }),
    [
      'upstreams.app.servers[0].resolve: needs a host name to look up; "10.0.0.1:80" is not one',
      'upstreams.app.servers[1].resolve: needs a host name to look up; "unix:/run/app.sock" is not one',
      "upstreams.app.servers[2].address: missing port (expected host:port, :port, [ipv6]:port or unix:/path)",
      "upstreams.app.servers[3].resolve: must be true or false",
      "upstreams.app.servers[4].weight: SRV records give each server its weight",
      "upstreams.app.servers[4].backup: SRV records give each server its priority (lowest = primaries)",
      'upstreams.app.servers[5].address: a server is either "address" or "srv", not both',
      'upstreams.app.servers[6].srv: must be a DNS name, like "_ws._tcp.app.default.svc.cluster.local"',
      'upstreams.app.servers[7].srv: must be a DNS name, like "_ws._tcp.app.default.svc.cluster.local"',
      'upstreams.app.resolver.cache: unknown key "cache"; expected one of: nameservers, interval, timeout',
      'upstreams.app.resolver.nameservers: invalid name server "kube-dns:53" (expected an IP address, like 10.96.0.10:53 or [fd00::a]:53)',
      "upstreams.app.resolver.interval: must be greater than 0",
      'upstreams.app.resolver.timeout: must be a duration like 250ms, 30s, 5m, 2h, 1d (cannot read "soon")',
    ],
  );
  assert.deepEqual(problems({ servers: [{ srv: "_a._tcp.b" }], resolver: { interval: "50ms" } }), [
    "upstreams.app.resolver.interval: must be at least 100ms: every worker asks at this pace",
  ]);
  assert.deepEqual(problems({ servers: ["a:1"], resolver: { interval: "5s" } }), [
    'upstreams.app.resolver: only used by servers with "resolve: true" or "srv:"',
  ]);
  assert.deepEqual(validate({ servers: ["a:1"] }, { watch_config: "yes" }).issues.map((i) => i.message), [
    "must be true or false",
  ]);
});

Deno.test("discovery keys: errors carry file:line:col", async () => {
  const yaml = [
    "servers:",
    "  - listen: 127.0.0.1:8020",
    "    routes: [{ path: /, upstream: app }]",
    "upstreams:",
    "  app:",
    "    servers:",
    "      - { srv: _ws._tcp.app, weight: 3 }",
    "    resolver: { nameservers: [dns.local] }",
  ].join("\n");
  const result = await loadConfigFile("/etc/wsgate/wsgate.yaml", () => Promise.resolve(yaml));
  assert.deepEqual(result.errors, [
    "/etc/wsgate/wsgate.yaml:7:30: upstreams.app.servers[0].weight: SRV records give each server its weight",
    '/etc/wsgate/wsgate.yaml:8:30: upstreams.app.resolver.nameservers: invalid name server "dns.local" (expected an IP address, like 10.96.0.10:53 or [fd00::a]:53)',
  ]);
});

Deno.test("config.example.yaml's commented DNS lines are valid when uncommented", async () => {
  const text = await Deno.readTextFile(new URL("../../config.example.yaml", import.meta.url));
  const line = (prefix: string) => {
    const found = text.split("\n").find((l) => l.trimStart().startsWith(prefix));
    assert.ok(found, prefix);
    return parse(found.trimStart().replace(/^# /, "")) as unknown;
  };
  const entries = [line('# - { address: "app.default'), line("# - { srv:")].flat();
  const resolver = line("# resolver:") as Record<string, unknown>;
  const { config, issues } = validate(
    { servers: entries, ...resolver },
    line("watch_config:") as Record<string, unknown>,
  );
  assert.deepEqual(issues, []);
  assert.deepEqual(config!.upstreams.get("app")!.discovered.map((d) => d.type), ["resolve", "srv"]);
  assert.equal(config!.watch_config, false);
});
