/** The security keys: limits, trusted_proxies, route access lists, PROXY protocol in and out. */
import assert from "node:assert/strict";
import { loadConfigFile } from "../../lib/config/load.ts";
import { formatPath, validateConfig } from "../../lib/config/validate.ts";
import { formatIp } from "../../lib/net/cidr.ts";

const OPTIONS = { source: "test.yaml", baseDir: "/etc/wsgate" };

function raw(extra: {
  top?: Record<string, unknown>;
  server?: Record<string, unknown>;
  route?: Record<string, unknown>;
  upstream?: Record<string, unknown>;
} = {}): Record<string, unknown> {
  return {
    servers: [{
      listen: "127.0.0.1:8020",
      routes: [{ path: "/", upstream: "app", ...extra.route }],
      ...extra.server,
    }],
    upstreams: { app: { servers: ["127.0.0.1:8080"], ...extra.upstream } },
    ...extra.top,
  };
}

function problems(input: Record<string, unknown>): string[] {
  return validateConfig(input, OPTIONS).issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
}

Deno.test("security defaults: limits, no trusted proxies, no PROXY, no access lists", () => {
  const { config, issues } = validateConfig(raw(), OPTIONS);
  assert.deepEqual(issues, []);
  assert.deepEqual(config?.limits, {
    handshake_timeout: 10_000,
    max_head_bytes: 16_384,
    max_headers: 100,
    max_request_line: 8_192,
    max_connections: 100_000,
    max_connections_per_ip: 0,
    rate: 0,
    burst: 1,
  });
  assert.deepEqual(config?.trusted_proxies, []);
  assert.equal(config?.servers[0]?.proxy_protocol, false);
  const route = config?.servers[0]?.routes[0];
  assert.equal(route && "allow_origins" in route, false);
  assert.equal(route && "allow" in route, false);
  assert.equal(config?.upstreams.get("app")?.send_proxy_protocol, undefined);
});

Deno.test("security keys are read", () => {
  const { config, issues } = validateConfig(
    raw({
      top: {
        limits: {
          max_connections: 50,
          max_connections_per_ip: 5,
          max_request_line: 1_024,
          rate: 2.5,
          handshake_timeout: "3s",
        },
        trusted_proxies: ["10.0.0.0/8", "::1"],
      },
      server: { proxy_protocol: true },
      route: {
        allow_origins: ["https://app.example.com", "*.example.org"],
        allow: ["192.0.2.0/24", "2001:db8::/32"],
        deny: "192.0.2.66",
      },
      upstream: { send_proxy_protocol: "v2" },
    }),
    OPTIONS,
  );
  assert.deepEqual(issues, []);
  assert.ok(config);
  assert.deepEqual(
    { ...config.limits, handshake_timeout: undefined },
    {
      handshake_timeout: undefined,
      max_head_bytes: 16_384,
      max_headers: 100,
      max_request_line: 1_024,
      max_connections: 50,
      max_connections_per_ip: 5,
      rate: 2.5,
      burst: 3, // rate rounded up
    },
  );
  assert.deepEqual(config.trusted_proxies.map((c) => [c.text, formatIp(c.network), c.bits]), [
    ["10.0.0.0/8", "10.0.0.0", 104],
    ["::1", "::1", 128],
  ]);
  assert.equal(config.servers[0]?.proxy_protocol, true);
  const route = config.servers[0]!.routes[0]!;
  assert.deepEqual(route.allow_origins?.map((p) => p.text), ["https://app.example.com", "*.example.org"]);
  assert.deepEqual(route.allow?.map((c) => c.text), ["192.0.2.0/24", "2001:db8::/32"]);
  assert.deepEqual(route.deny?.map((c) => c.text), ["192.0.2.66"]);
  assert.equal(config.upstreams.get("app")?.send_proxy_protocol, 2);
});

Deno.test("an explicit burst wins over the rate", () => {
  const { config } = validateConfig(raw({ top: { limits: { rate: 10, burst: 40 } } }), OPTIONS);
  assert.equal(config?.limits.burst, 40);
});

const invalid: { name: string; input: Record<string, unknown>; expect: string[] }[] = [
  {
    name: "limits out of range and of the wrong type",
    input: raw({
      top: {
        limits: {
          max_connections: 0,
          max_connections_per_ip: 1.5,
          max_request_line: 100,
          rate: -1,
          burst: 0,
        },
      },
    }),
    expect: [
      "limits.rate: must be a number of handshakes per second from 0 (off) to 1000000",
      "limits.burst: must be an integer from 1 to 10000000",
      "limits.max_request_line: must be an integer from 256 to 1048576",
      "limits.max_connections: must be an integer from 1 to 10000000",
      "limits.max_connections_per_ip: must be an integer from 0 to 10000000",
    ],
  },
  {
    name: "burst without rate",
    input: raw({ top: { limits: { burst: 5 } } }),
    expect: ["limits.burst: has no effect without rate (handshakes per second)"],
  },
  {
    name: "unknown limit",
    input: raw({ top: { limits: { max_conections: 5 } } }),
    expect: ['limits.max_conections: unknown key "max_conections"; did you mean "max_connections"?'],
  },
  {
    name: "bad CIDRs in trusted_proxies",
    input: raw({ top: { trusted_proxies: ["10.0.0.1/8", "300.0.0.0/8", "::/200", 7] } }),
    expect: [
      "trusted_proxies[3]: must be a string",
      'trusted_proxies[0]: "10.0.0.1/8" has host bits set; did you mean 10.0.0.0/8?',
      'trusted_proxies[1]: "300.0.0.0/8" is not an IPv4 or IPv6 address or CIDR block (like 10.0.0.0/8, fd00::/8)',
      'trusted_proxies[2]: "::/200": the prefix length must be 0 to 128',
    ],
  },
  {
    name: "bad route access lists",
    input: raw({
      route: { allow_origins: ["https://a.test/", "*"], allow: ["localhost"], deny: "10.0.0.0/40" },
    }),
    expect: [
      'servers[0].routes[0].allow_origins[0]: invalid origin pattern "https://a.test/" (an origin has no path: ' +
      "remove the trailing /)",
      'servers[0].routes[0].allow_origins[1]: invalid origin pattern "*" (like https://app.example.com, ' +
      "https://*.example.com or *.example.com)",
      'servers[0].routes[0].allow[0]: "localhost" is not an IPv4 or IPv6 address or CIDR block (like 10.0.0.0/8, ' +
      "fd00::/8)",
      'servers[0].routes[0].deny: "10.0.0.0/40": the prefix length must be 0 to 32',
    ],
  },
  {
    name: "empty allow list",
    input: raw({ route: { allow: [] } }),
    expect: ["servers[0].routes[0].allow: must not be empty"],
  },
  {
    name: "proxy_protocol without trusted_proxies",
    input: raw({ server: { proxy_protocol: true } }),
    expect: [
      "trusted_proxies: is required when a server has proxy_protocol: true (PROXY headers are only accepted " +
      "from these peers)",
    ],
  },
  {
    name: "proxy_protocol not a boolean",
    input: raw({ server: { proxy_protocol: "yes" } }),
    expect: ["servers[0].proxy_protocol: must be true or false"],
  },
  {
    name: "proxy_protocol with tls",
    input: raw({
      top: { trusted_proxies: ["10.0.0.0/8"] },
      server: { proxy_protocol: true, tls: { cert: "c.pem", key: "k.pem" } },
    }),
    expect: [
      "servers[0].proxy_protocol: cannot be combined with tls: the PROXY header comes before the TLS " +
      "handshake, which the runtimes perform on accept (terminate TLS at the balancer, or drop proxy_protocol)",
    ],
  },
  {
    name: "send_proxy_protocol version",
    input: raw({ upstream: { send_proxy_protocol: 2 } }),
    expect: ['upstreams.app.send_proxy_protocol: must be "v1" or "v2"'],
  },
];

for (const { name, input, expect } of invalid) {
  Deno.test(`security keys rejected: ${name}`, () => {
    assert.deepEqual(problems(input), expect);
  });
}

Deno.test("servers sharing a listen address must agree on proxy_protocol", () => {
  const server = { listen: "127.0.0.1:8020", routes: [{ path: "/", upstream: "app" }] };
  const input = {
    servers: [server, { ...server, hosts: ["b.test"], proxy_protocol: true }],
    upstreams: { app: { servers: ["127.0.0.1:8080"] } },
    trusted_proxies: ["127.0.0.1"],
  };
  assert.deepEqual(problems(input), [
    'servers[1].listen: listen address "127.0.0.1:8020" is also used by servers[0] without proxy_protocol; ' +
    "both must set it alike",
  ]);
});

Deno.test("loadConfigFile points at the line and column of each security problem", async () => {
  const yaml = [
    "servers:",
    "  - listen: 127.0.0.1:8020",
    "    proxy_protocol: true",
    "    routes:",
    "      - path: /",
    "        upstream: app",
    "        allow: [10.0.0.0/8, 10.0.0.1/8]",
    '        allow_origins: ["https://ok.test", "https://bad.test/"]',
    "upstreams:",
    "  app:",
    "    servers: [127.0.0.1:8080]",
    "    send_proxy_protocol: v3",
    "trusted_proxies: [192.168.0.0/33]",
    "limits: { rate: fast }",
  ].join("\n");
  const result = await loadConfigFile("sec.yaml", () => Promise.resolve(yaml));
  assert.deepEqual(result.errors, [
    'sec.yaml:7:29: servers[0].routes[0].allow[1]: "10.0.0.1/8" has host bits set; did you mean 10.0.0.0/8?',
    'sec.yaml:8:44: servers[0].routes[0].allow_origins[1]: invalid origin pattern "https://bad.test/" (an ' +
    "origin has no path: remove the trailing /)",
    'sec.yaml:12:26: upstreams.app.send_proxy_protocol: must be "v1" or "v2"',
    'sec.yaml:13:19: trusted_proxies[0]: "192.168.0.0/33": the prefix length must be 0 to 32',
    "sec.yaml:14:17: limits.rate: must be a number of handshakes per second from 0 (off) to 1000000",
  ]);
});
