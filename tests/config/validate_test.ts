import assert from "node:assert/strict";
import { type Config, DEFAULTS } from "../../lib/config/schema.ts";
import { formatPath, type KeyPath, validateConfig } from "../../lib/config/validate.ts";

const OPTIONS = { source: "test.yaml", baseDir: "/etc/wsgate" };
const BASE = {
  servers: [{ listen: "127.0.0.1:8020", routes: [{ path: "/", upstream: "app" }] }],
  upstreams: { app: { servers: ["127.0.0.1:8080"] } },
};

Deno.test("validateConfig fills every default", () => {
  const { config, issues, files } = validateConfig(BASE, OPTIONS);
  assert.deepEqual(issues, []);
  assert.deepEqual(files, []);
  const expected: Config = {
    source: "test.yaml",
    servers: [{
      listen: [{ transport: "tcp", hostname: "127.0.0.1", port: 8020 }],
      routes: [{
        path: "/",
        match: "/",
        exact: false,
        upstream: "app",
        websocket_only: false,
        read_timeout: 86_400_000,
        send_timeout: 86_400_000,
        idle_timeout: 0,
      }],
      proxy_protocol: false,
      keepalive_timeout: 75_000,
      max_requests_per_connection: 1_000,
    }],
    upstreams: new Map([["app", {
      name: "app",
      balance: "round_robin",
      servers: [{
        address: "127.0.0.1:8080",
        addr: { transport: "tcp", hostname: "127.0.0.1", port: 8080 },
        tls: false,
        hostname: "127.0.0.1",
        weight: 1,
        max_conns: 0,
        backup: false,
        max_fails: 1,
        fail_timeout: 10_000,
        down: false,
      }],
      discovered: [],
      tls: { verify: true },
      connect_timeout: 5_000,
      retries: 0,
      keepalive: 0,
      keepalive_timeout: 60_000,
    }]]),
    limits: {
      handshake_timeout: 10_000,
      max_head_bytes: 16_384,
      max_headers: 100,
      max_request_line: 8_192,
      max_connections: 100_000,
      max_connections_per_ip: 0,
      rate: 0,
      burst: 1,
    },
    log: { format: "text", access: true },
    shutdown_timeout: 30_000,
    trusted_proxies: [],
    request_id_header: "X-Request-Id",
    workers: 1,
    watch_config: false,
  };
  assert.deepEqual(config, expected);
});

Deno.test("validateConfig reads every key", () => {
  const raw = {
    servers: [{
      listen: [":8443", "[::1]:8443", "unix:/run/wsgate.sock"],
      tls: [
        { cert: "chat.pem", key: "/keys/chat.key", hosts: ["Chat.Example.com"] },
        { cert: "default.pem", key: "default.key" },
      ],
      hosts: ["Chat.Example.com", "*.example.com"],
      routes: [
        {
          path: "= /ws",
          upstream: "live",
          websocket_only: true,
          read_timeout: "1h",
          send_timeout: 30,
          idle_timeout: "5m",
        },
        { path: "/", upstream: "live" },
      ],
    }],
    upstreams: {
      live: {
        balance: "round_robin",
        servers: ["wss://b.internal", { address: "ws://[::1]:9000", weight: 3 }, "unix:/run/app.sock"],
        tls: { server_name: "backend.internal", ca: "ca.pem", verify: false },
        connect_timeout: "250ms",
      },
    },
    limits: { handshake_timeout: "2s", max_head_bytes: 1_024, max_headers: 10_000 },
    log: { format: "json", access: false },
    shutdown_timeout: 0,
  };
  const { config, issues, files } = validateConfig(raw, OPTIONS);
  assert.deepEqual(issues, []);
  assert.ok(config);
  const server = config.servers[0]!;
  assert.deepEqual(server.listen, [
    { transport: "tcp", hostname: "0.0.0.0", port: 8443 },
    { transport: "tcp", hostname: "::1", port: 8443 },
    { transport: "unix", path: "/run/wsgate.sock" },
  ]);
  assert.deepEqual(server.hosts, ["chat.example.com", "*.example.com"]);
  assert.deepEqual(server.tls, [
    {
      cert_file: "/etc/wsgate/chat.pem",
      key_file: "/keys/chat.key",
      cert: "",
      key: "",
      hosts: ["chat.example.com"],
    },
    { cert_file: "/etc/wsgate/default.pem", key_file: "/etc/wsgate/default.key", cert: "", key: "" },
  ]);
  assert.deepEqual(server.routes[0], {
    path: "= /ws",
    match: "/ws",
    exact: true,
    upstream: "live",
    websocket_only: true,
    read_timeout: 3_600_000,
    send_timeout: 30_000,
    idle_timeout: 300_000,
  });
  const live = config.upstreams.get("live");
  assert.deepEqual(
    live?.servers.map(({ address, tls, hostname, weight }) => [address, tls, hostname, weight]),
    [
      ["wss://b.internal", true, "b.internal", 1],
      ["ws://[::1]:9000", false, "::1", 3],
      ["unix:/run/app.sock", false, "localhost", 1],
    ],
  );
  assert.deepEqual(live?.tls, {
    server_name: "backend.internal",
    ca_file: "/etc/wsgate/ca.pem",
    verify: false,
  });
  assert.equal(live?.connect_timeout, 250);
  assert.deepEqual(config.limits, {
    ...DEFAULTS.limits,
    handshake_timeout: 2_000,
    max_head_bytes: 1_024,
    max_headers: 10_000,
    burst: 1,
  });
  assert.deepEqual(config.log, { format: "json", access: false });
  assert.equal(config.shutdown_timeout, 0);

  assert.deepEqual(files.map((f) => [formatPath(f.path), f.file]), [
    ["servers[0].tls[0].cert", "/etc/wsgate/chat.pem"],
    ["servers[0].tls[0].key", "/keys/chat.key"],
    ["servers[0].tls[1].cert", "/etc/wsgate/default.pem"],
    ["servers[0].tls[1].key", "/etc/wsgate/default.key"],
    ["upstreams.live.tls.ca", "/etc/wsgate/ca.pem"],
  ]);
  for (const file of files) file.fill(`PEM of ${file.file}`);
  assert.equal(server.tls?.[1]?.key, "PEM of /etc/wsgate/default.key");
  assert.equal(config.upstreams.get("live")?.tls.ca, "PEM of /etc/wsgate/ca.pem");
});

Deno.test("validateConfig never throws on garbage", () => {
  const inputs: unknown[] = [
    undefined,
    0,
    "servers",
    true,
    { servers: null, upstreams: null, limits: null, log: [], shutdown_timeout: {} },
    { servers: [null, [], 1], upstreams: { a: null, b: [], c: { servers: [null, [], { address: null }] } } },
    {
      servers: [{
        listen: [[]],
        tls: [null, "x", { cert: {}, key: [], hosts: {} }],
        hosts: 1,
        routes: [null],
      }],
    },
    {
      servers: [{ routes: [{ path: null, upstream: {}, read_timeout: [] }] }],
      upstreams: { a: { tls: [] } },
    },
  ];
  for (const input of inputs) {
    const result = validateConfig(input, OPTIONS);
    assert.ok(result.issues.length > 0, JSON.stringify(input));
    assert.equal(result.config, undefined);
  }
});

Deno.test("formatPath writes key paths like code", () => {
  const cases: [KeyPath, string][] = [
    [[], ""],
    [["servers"], "servers"],
    [["upstreams", "websocket", "servers", 1, "weight"], "upstreams.websocket.servers[1].weight"],
    [["upstreams", "my-app_2", "tls"], "upstreams.my-app_2.tls"],
    [["upstreams", "api.v1", "servers"], 'upstreams["api.v1"].servers'],
  ];
  for (const [path, text] of cases) assert.equal(formatPath(path), text);
});

Deno.test("validateConfig reads admin.listen and workers", () => {
  const { config, issues } = validateConfig(
    { ...BASE, admin: { listen: "127.0.0.1:9090" }, workers: "auto" },
    OPTIONS,
  );
  assert.deepEqual(issues, []);
  assert.deepEqual(config?.admin, {
    listen: { transport: "tcp", hostname: "127.0.0.1", port: 9090 },
    hosts: [],
  });
  assert.equal(config?.workers, "auto");
  const bad = validateConfig({ ...BASE, admin: { listen: "nowhere" }, workers: 0 }, OPTIONS);
  assert.deepEqual(bad.issues.map((i) => i.path.join(".")), ["admin.listen", "workers"]);
  assert.match(bad.issues[1]!.message, /must be "auto" or an integer/);
});
