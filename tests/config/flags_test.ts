import assert from "node:assert/strict";
import { type CliFlags, defaultRawConfig, flagError, rawConfigFromFlags } from "../../lib/config/flags.ts";
import { formatAddr } from "../../lib/net/address.ts";
import { formatPath, validateConfig } from "../../lib/config/validate.ts";

const OPTIONS = { source: "command-line flags", baseDir: "/home/me" };

Deno.test("defaultRawConfig is listen 0.0.0.0:8020, route / -> 127.0.0.1:8080", () => {
  const raw = defaultRawConfig();
  assert.deepEqual(raw, {
    servers: [{ listen: ["0.0.0.0:8020"], routes: [{ path: "/", upstream: "default" }] }],
    upstreams: { default: { servers: ["127.0.0.1:8080"] } },
  });
  const { config, issues } = validateConfig(raw, { source: "built-in default", baseDir: "/" });
  assert.deepEqual(issues, []);
  assert.deepEqual(config?.servers[0]?.listen.map(formatAddr), ["0.0.0.0:8020"]);
  assert.deepEqual(config?.upstreams.get("default")?.servers.map((s) => s.address), ["127.0.0.1:8080"]);
});

Deno.test("rawConfigFromFlags builds a one-route config", () => {
  const cases: [string, CliFlags, Record<string, unknown>][] = [
    ["upstream only", { listen: [], upstream: ["127.0.0.1:9000"] }, {
      servers: [{ listen: ["0.0.0.0:8020"], routes: [{ path: "/", upstream: "default" }] }],
      upstreams: { default: { servers: ["127.0.0.1:9000"] } },
    }],
    ["every flag", {
      listen: [":8443", "[::1]:8443"],
      upstream: ["wss://a.internal", "wss://b.internal"],
      path: "/chat/",
      tlsCert: "cert.pem",
      tlsKey: "key.pem",
      idleTimeout: "5m",
      logFormat: "json",
      balance: "least_conn",
    }, {
      servers: [{
        listen: [":8443", "[::1]:8443"],
        tls: { cert: "cert.pem", key: "key.pem" },
        routes: [{ path: "/chat/", upstream: "default", idle_timeout: "5m" }],
      }],
      upstreams: { default: { servers: ["wss://a.internal", "wss://b.internal"], balance: "least_conn" } },
      log: { format: "json" },
    }],
    ["a lone --tls-key is kept for validation to report", { listen: [], upstream: [], tlsKey: "key.pem" }, {
      servers: [{
        listen: ["0.0.0.0:8020"],
        tls: { key: "key.pem" },
        routes: [{ path: "/", upstream: "default" }],
      }],
      upstreams: { default: { servers: ["127.0.0.1:8080"] } },
    }],
  ];
  for (const [name, flags, expected] of cases) assert.deepEqual(rawConfigFromFlags(flags), expected, name);
});

Deno.test("flag configs validate like files", () => {
  const cases: [string, CliFlags, string[]][] = [
    ["valid", { listen: [":9000"], upstream: ["127.0.0.1:1", "127.0.0.1:2"], path: "= /ws" }, []],
    ["--tls-cert without --tls-key", { listen: [], upstream: [], tlsCert: "c.pem" }, [
      'servers[0].tls: missing required key "key"',
    ]],
    ["bad values", {
      listen: ["8020"],
      upstream: ["http://x"],
      path: "chat",
      idleTimeout: "5x",
      logFormat: "xml",
      balance: "fair",
    }, [
      'servers[0].listen[0]: missing port: "8020" is a host name; for port 8020, write ":8020"',
      'servers[0].routes[0].path: must be "/prefix" or "= /exact" (starting with "/", no spaces)',
      'servers[0].routes[0].idle_timeout: must be a duration like 250ms, 30s, 5m, 2h, 1d (unknown unit "x")',
      'upstreams.default.servers[0]: unsupported scheme "http://"; use ws:// or wss://',
      'upstreams.default.balance: unsupported balance "fair"; supported: round_robin, least_conn, ip_hash, hash, random',
      "log.format: must be one of: text, json",
    ]],
  ];
  for (const [name, flags, expected] of cases) {
    const { issues } = validateConfig(rawConfigFromFlags(flags), OPTIONS);
    assert.deepEqual(issues.map((i) => `${formatPath(i.path)}: ${i.message}`), expected, name);
  }
});

Deno.test("rawConfigFromFlags does not share the flag arrays", () => {
  const flags: CliFlags = { listen: [":1"], upstream: ["a:1"] };
  const raw = rawConfigFromFlags(flags) as { servers: { listen: string[] }[] };
  raw.servers[0]!.listen.push(":2");
  assert.deepEqual(flags.listen, [":1"]);
});

Deno.test("rawConfigFromFlags turns --admin into admin.listen", () => {
  const raw = rawConfigFromFlags({ listen: [], upstream: [], admin: "127.0.0.1:9090" });
  assert.deepEqual(raw.admin, { listen: "127.0.0.1:9090" });
  const { config, issues } = validateConfig(raw, { source: "flags", baseDir: "/" });
  assert.deepEqual(issues, []);
  assert.equal(formatAddr(config!.admin!.listen), "127.0.0.1:9090");
});

Deno.test("flagError() names the flag instead of the config key path", () => {
  const cases: [string, string][] = [
    ["servers[0].listen[0]: missing port", "--listen: missing port"],
    ["upstreams.default.servers[1]: bad address", "--upstream: bad address"],
    ["servers[0].routes[0].idle_timeout: must be a duration", "--idle-timeout: must be a duration"],
    ['servers[0].tls: missing required key "key"', "--tls-cert needs --tls-key"],
    ['servers[0].tls: missing required key "cert"', "--tls-key needs --tls-cert"],
    ["log.format: must be one of: text, json", "--log-format: must be one of: text, json"],
    ["limits.max_headers: other", "limits.max_headers: other"],
  ];
  for (const [input, expected] of cases) assert.equal(flagError(input), expected);
});
