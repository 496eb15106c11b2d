/** The `upstreams:` keys of balancing, health and retries: values read, defaults, and each error with its position. */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { loadConfigFile } from "../../lib/config/load.ts";
import { formatPath, validateConfig } from "../../lib/config/validate.ts";

const OPTIONS = { source: "test.yaml", baseDir: "/etc/wsgate" };
const ROUTES = [{ listen: "127.0.0.1:8020", routes: [{ path: "/", upstream: "app" }] }];

function validate(app: Record<string, unknown>) {
  return validateConfig({ servers: ROUTES, upstreams: { app } }, OPTIONS);
}

function problems(app: Record<string, unknown>): string[] {
  return validate(app).issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
}

Deno.test("upstreams: every balancing, health and retry key is read", () => {
  const { config, issues } = validate({
    balance: "hash",
    hash_key: "cookie:sid",
    retries: 1,
    servers: [
      "127.0.0.1:8080",
      { address: "127.0.0.1:8081", weight: 3, max_conns: 100, max_fails: 5, fail_timeout: "30s" },
      { address: "127.0.0.1:8082", backup: true, down: true, max_fails: 0 },
    ],
    health_check: {
      type: "http",
      interval: "1s",
      timeout: "500ms",
      path: "/healthz?full=1",
      rise: 1,
      fall: 5,
      expect_status: [200, 204],
    },
  });
  assert.deepEqual(issues, []);
  const app = config!.upstreams.get("app")!;
  assert.equal(app.balance, "hash");
  assert.deepEqual(app.hash_key, { source: "cookie", name: "sid" });
  assert.equal(app.retries, 1);
  assert.deepEqual(
    app.servers.map(({ weight, max_conns, backup, max_fails, fail_timeout, down }) => ({
      weight,
      max_conns,
      backup,
      max_fails,
      fail_timeout,
      down,
    })),
    [
      { weight: 1, max_conns: 0, backup: false, max_fails: 1, fail_timeout: 10_000, down: false },
      { weight: 3, max_conns: 100, backup: false, max_fails: 5, fail_timeout: 30_000, down: false },
      { weight: 1, max_conns: 0, backup: true, max_fails: 0, fail_timeout: 10_000, down: true },
    ],
  );
  assert.deepEqual(app.health_check, {
    type: "http",
    interval: 1_000,
    timeout: 500,
    path: "/healthz?full=1",
    rise: 1,
    fall: 5,
    expect_status: [200, 204],
  });
});

Deno.test("upstreams: defaults: round_robin, every server tried once, health checks only when asked for", () => {
  const cases: [string, Record<string, unknown>, Record<string, unknown>][] = [
    ["no health check, retries = servers - 1", { servers: ["a:1", "b:1", "c:1"] }, {
      balance: "round_robin",
      retries: 2,
      health_check: undefined,
      hash_key: undefined,
    }],
    ["health check defaults", { servers: ["a:1"], health_check: {} }, {
      retries: 0,
      health_check: { type: "tcp", interval: 5_000, timeout: 2_000, path: "/", rise: 2, fall: 3 },
    }],
    ["websocket check", { servers: ["a:1"], health_check: { type: "websocket", path: "/ws" } }, {
      health_check: { type: "websocket", interval: 5_000, timeout: 2_000, path: "/ws", rise: 2, fall: 3 },
    }],
    ["each policy", { servers: ["a:1"], balance: "least_conn" }, { balance: "least_conn" }],
    ["hash on ip", { servers: ["a:1"], balance: "hash", hash_key: "ip" }, { hash_key: { source: "ip" } }],
  ];
  for (const [name, app, expected] of cases) {
    const { config, issues } = validate(app);
    assert.deepEqual(issues, [], name);
    const group = config!.upstreams.get("app")! as unknown as Record<string, unknown>;
    for (const [key, value] of Object.entries(expected)) {
      assert.deepEqual(group[key], value, `${name}: ${key}`);
    }
  }
});

Deno.test("upstreams: each invalid balancing, health or retry value is reported with its key path", () => {
  const cases: [string, Record<string, unknown>, string[]][] = [
    ["unknown balance", { servers: ["a:1"], balance: "fair" }, [
      'upstreams.app.balance: unsupported balance "fair"; supported: round_robin, least_conn, ip_hash, hash, random',
    ]],
    ["hash without hash_key", { servers: ["a:1"], balance: "hash" }, [
      'upstreams.app: missing required key "hash_key"',
    ]],
    ["a bad hash_key is reported even when balance is not hash", { servers: ["a:1"], hash_key: "body:x" }, [
      'upstreams.app.hash_key: must be header:NAME, cookie:NAME, query:NAME or ip, not "body:x"',
    ]],
    ["bad hash_key", { servers: ["a:1"], balance: "hash", hash_key: "body:x" }, [
      'upstreams.app.hash_key: must be header:NAME, cookie:NAME, query:NAME or ip, not "body:x"',
    ]],
    ["hash_key not a string", { servers: ["a:1"], balance: "hash", hash_key: 7 }, [
      "upstreams.app.hash_key: must be header:NAME, cookie:NAME, query:NAME or ip",
    ]],
    ["retries negative", { servers: ["a:1"], retries: -1 }, [
      "upstreams.app.retries: must be an integer from 0 to 100",
    ]],
    ["server options", {
      servers: [{ address: "a:1", max_conns: -1, backup: "yes", max_fails: 1.5, fail_timeout: 0, down: 1 }],
    }, [
      "upstreams.app.servers[0].max_conns: must be an integer from 0 to 1000000",
      "upstreams.app.servers[0].backup: must be true or false",
      "upstreams.app.servers[0].max_fails: must be an integer from 0 to 1000",
      "upstreams.app.servers[0].fail_timeout: must be greater than 0",
      "upstreams.app.servers[0].down: must be true or false",
    ]],
    ["unknown server key", { servers: [{ address: "a:1", max_con: 5 }] }, [
      'upstreams.app.servers[0].max_con: unknown key "max_con"; did you mean "max_conns"?',
    ]],
    ["health_check not a mapping", { servers: ["a:1"], health_check: "tcp" }, [
      "upstreams.app.health_check: must be a mapping (key: value)",
    ]],
    ["health_check values", {
      servers: ["a:1"],
      health_check: { type: "grpc", interval: 0, timeout: "soon", rise: 0, fall: 101, fails: 2 },
    }, [
      'upstreams.app.health_check.fails: unknown key "fails"; expected one of: type, interval, timeout, path, rise, fall, expect_status',
      "upstreams.app.health_check.type: must be one of: tcp, http, websocket",
      "upstreams.app.health_check.interval: must be greater than 0",
      'upstreams.app.health_check.timeout: must be a duration like 250ms, 30s, 5m, 2h, 1d (cannot read "soon")',
      "upstreams.app.health_check.rise: must be an integer from 1 to 100",
      "upstreams.app.health_check.fall: must be an integer from 1 to 100",
    ]],
    ["path and expect_status need the right type", {
      servers: ["a:1"],
      health_check: { path: "/healthz", expect_status: 200 },
    }, [
      "upstreams.app.health_check.path: only used with type: http or websocket",
      "upstreams.app.health_check.expect_status: only used with type: http",
    ]],
    ["bad path and statuses", {
      servers: ["a:1"],
      health_check: { type: "http", path: "healthz", expect_status: [200, 700] },
    }, [
      "upstreams.app.health_check.expect_status: must be an HTTP status (100..599) or a list of them",
      'upstreams.app.health_check.path: must be a request path starting with "/" (no spaces)',
    ]],
  ];
  for (const [name, app, expected] of cases) assert.deepEqual(problems(app), expected, name);
});

Deno.test("upstreams: problems in a file point at line and column", async () => {
  const yaml = [
    "servers: [{ listen: ':8020', routes: [{ path: /, upstream: app }] }]",
    "upstreams:",
    "  app:",
    "    balance: hash",
    "    servers:",
    "      - { address: 127.0.0.1:8080, max_conns: lots }",
    "    health_check: { type: websocket, rise: 0 }",
    "",
  ].join("\n");
  const result = await loadConfigFile("/etc/wsgate/wsgate.yaml", () => Promise.resolve(yaml));
  assert.deepEqual(result.errors, [
    '/etc/wsgate/wsgate.yaml:4:5: upstreams.app: missing required key "hash_key"',
    "/etc/wsgate/wsgate.yaml:6:47: upstreams.app.servers[0].max_conns: must be an integer from 0 to 1000000",
    "/etc/wsgate/wsgate.yaml:7:44: upstreams.app.health_check.rise: must be an integer from 1 to 100",
  ]);
});

Deno.test("config.example.yaml's worked example 3 (an nginx upstream translated) is valid", async () => {
  const text = await Deno.readTextFile(new URL("../../config.example.yaml", import.meta.url));
  const example = text.slice(text.indexOf("# Worked example 3"));
  const lines = example.slice(example.indexOf("# servers:")).split("\n");
  const yaml = lines.slice(0, lines.findIndex((line) => line.startsWith("# ---"))).map((line) =>
    line.slice(2)
  );
  const { config, issues } = validateConfig(parse(yaml.join("\n")), OPTIONS);
  assert.deepEqual(issues, []);
  const chat = config!.upstreams.get("chat")!;
  assert.equal(chat.balance, "least_conn");
  assert.deepEqual(chat.servers.map((s) => [s.weight, s.max_conns, s.backup]), [
    [1, 5000, false],
    [1, 5000, false],
    [2, 10000, false],
    [1, 0, true],
  ]);
  assert.equal(chat.health_check?.type, "websocket");
});

Deno.test("upstreams: a valid hash_key is accepted and kept (unused, warned about at start) with another balance, as DESIGN's example has it", () => {
  const { config, issues } = validateConfig({
    servers: [{ listen: ["127.0.0.1:0"], routes: [{ path: "/", upstream: "app" }] }],
    upstreams: { app: { servers: ["a:1"], balance: "round_robin", hash_key: "header:X-User-Id" } },
  }, { source: "t.yaml", baseDir: "/" });
  assert.deepEqual(issues, []);
  assert.deepEqual(config?.upstreams.get("app")?.hash_key, { source: "header", name: "X-User-Id" });
});

Deno.test("upstreams: a server that is the gateway's own listener or admin address is refused (a request would loop)", () => {
  const config = (servers: unknown[]) => ({
    servers: [{ listen: ["0.0.0.0:8020", "10.0.0.5:8443"], routes: [{ path: "/", upstream: "app" }] }],
    upstreams: { app: { servers } },
    admin: { listen: "127.0.0.1:9090" },
  });
  const issues = validateConfig(
    config(["127.0.0.1:8020", { address: "[::1]:8020" }, "10.0.0.5:8443", "wss://127.0.0.1:9090"]),
    OPTIONS,
  ).issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
  assert.deepEqual(issues, [
    "upstreams.app.servers[0]: 127.0.0.1:8020 is this gateway's own listener 0.0.0.0:8020: requests would loop",
    "upstreams.app.servers[1]: [::1]:8020 is this gateway's own listener 0.0.0.0:8020: requests would loop",
    "upstreams.app.servers[2]: 10.0.0.5:8443 is this gateway's own listener 10.0.0.5:8443: requests would loop",
    "upstreams.app.servers[3]: wss://127.0.0.1:9090 is this gateway's own listener 127.0.0.1:9090: requests would loop",
  ]);
  // Other ports, another IP of a listener bound to one address, and names pass.
  const fine = config(["127.0.0.1:8021", "127.0.0.1:8443", "10.0.0.6:8443", "app.internal:8020"]);
  assert.deepEqual(validateConfig(fine, OPTIONS).issues, []);
});
