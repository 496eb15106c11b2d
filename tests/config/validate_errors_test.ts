/** validateConfig on broken configs: the exact message and key path of each problem. */
import assert from "node:assert/strict";
import { type ConfigIssue, formatPath, type KeyPath, validateConfig } from "../../lib/config/validate.ts";

const OPTIONS = { source: "test.yaml", baseDir: "/etc/wsgate" };
const BASE = {
  servers: [{ listen: "127.0.0.1:8020", routes: [{ path: "/", upstream: "app" }] }],
  upstreams: { app: { servers: ["127.0.0.1:8080"] } },
};
const DURATION = "must be a duration like 250ms, 30s, 5m, 2h, 1d";
const ADDRESS_FORMS = "expected host:port, :port, [ipv6]:port or unix:/path";
const ROUTE_PATH = 'must be "/prefix" or "= /exact" (starting with "/", no spaces)';

/** BASE with values set (undefined deletes the key). */
function configWith(...changes: [KeyPath, unknown][]): Record<string, unknown> {
  const raw: Record<string, unknown> = structuredClone(BASE);
  for (const [path, value] of changes) {
    let target = raw as Record<string | number, unknown>;
    for (const part of path.slice(0, -1)) target = target[part] as Record<string | number, unknown>;
    const last = path.at(-1)!;
    if (value === undefined) delete target[last];
    else target[last] = value;
  }
  return raw;
}

function describe(issue: ConfigIssue): string {
  return issue.path.length === 0 ? issue.message : `${formatPath(issue.path)}: ${issue.message}`;
}

function problems(raw: unknown): string[] {
  return validateConfig(raw, OPTIONS).issues.map(describe);
}

Deno.test("validateConfig reports each problem with its key path", () => {
  const cases: [string, unknown, string[]][] = [
    ["not a mapping", ["servers"], ["must be a mapping (key: value)"]],
    ["empty", null, ["must be a mapping (key: value)"]],
    ["no servers", configWith([["servers"], undefined]), ['missing required key "servers"']],
    ["no upstreams", configWith([["upstreams"], undefined]), ['missing required key "upstreams"']],
    ["servers not a list", configWith([["servers"], {}]), ["servers: must be a list"]],
    ["servers empty", configWith([["servers"], []]), ["servers: must not be empty"]],
    ["server not a mapping", configWith([["servers", 0], "x"]), [
      "servers[0]: must be a mapping (key: value)",
    ]],
    ["unknown top-level key", configWith([["upstream"], {}]), [
      'upstream: unknown key "upstream"; did you mean "upstreams"?',
    ]],
    ["misspelt key", configWith([["servers", 0, "lisen"], ":80"], [["servers", 0, "listen"], undefined]), [
      'servers[0].lisen: unknown key "lisen"; did you mean "listen"?',
      'servers[0]: missing required key "listen"',
    ]],
    ["unknown key far from any", configWith([["servers", 0, "color"], "red"]), [
      'servers[0].color: unknown key "color"; expected one of: listen, tls, hosts, routes, proxy_protocol, ' +
      "keepalive_timeout, max_requests_per_connection",
    ]],
    ["listen wrong type", configWith([["servers", 0, "listen"], 8020]), [
      "servers[0].listen: must be a string or a list of strings",
    ]],
    ["listen empty list", configWith([["servers", 0, "listen"], []]), [
      "servers[0].listen: must not be empty",
    ]],
    ["listen bad entries", configWith([["servers", 0, "listen"], [":80", 5, "", "nope"]]), [
      "servers[0].listen[1]: must be a string",
      "servers[0].listen[2]: must not be empty",
      `servers[0].listen[3]: missing port (${ADDRESS_FORMS})`,
    ]],
    ["duplicate listen", configWith([["servers", 0, "listen"], [":80", "0.0.0.0:80"]]), [
      'servers[0].listen[1]: duplicate listen address "0.0.0.0:80"',
    ]],
    [
      "TLS and plain on one address",
      configWith([["servers", 1], {
        listen: ["127.0.0.1:8020"],
        tls: { cert: "c.pem", key: "k.pem" },
        routes: [{ path: "/", upstream: "app" }],
      }]),
      [
        'servers[1].listen[0]: listen address "127.0.0.1:8020" is also used by servers[0] without TLS; both must use TLS or neither',
      ],
    ],
    ["no routes", configWith([["servers", 0, "routes"], undefined]), [
      'servers[0]: missing required key "routes"',
    ]],
    ["route without path", configWith([["servers", 0, "routes", 0, "path"], undefined]), [
      'servers[0].routes[0]: missing required key "path"',
    ]],
    ["relative route path", configWith([["servers", 0, "routes", 0, "path"], "chat/"]), [
      `servers[0].routes[0].path: ${ROUTE_PATH}`,
    ]],
    ["exact marker alone", configWith([["servers", 0, "routes", 0, "path"], "= "]), [
      `servers[0].routes[0].path: ${ROUTE_PATH}`,
    ]],
    ["space in path", configWith([["servers", 0, "routes", 0, "path"], "/a b"]), [
      `servers[0].routes[0].path: ${ROUTE_PATH}`,
    ]],
    ["path not a string", configWith([["servers", 0, "routes", 0, "path"], 5]), [
      `servers[0].routes[0].path: ${ROUTE_PATH}`,
    ]],
    [
      "duplicate route path",
      configWith([["servers", 0, "routes"], [
        { path: "/a", upstream: "app" },
        { path: "= /a", upstream: "app" },
        { path: "/a", upstream: "app" },
        { path: "=/a", upstream: "app" },
      ]]),
      [
        'servers[0].routes[2].path: duplicate route path "/a" (also routes[0])',
        'servers[0].routes[3].path: duplicate route path "=/a" (also routes[1])',
      ],
    ],
    ["misspelt upstream", configWith([["servers", 0, "routes", 0, "upstream"], "apps"]), [
      'servers[0].routes[0].upstream: unknown upstream "apps"; did you mean "app"?',
    ]],
    ["unknown upstream", configWith([["servers", 0, "routes", 0, "upstream"], "chat"]), [
      'servers[0].routes[0].upstream: unknown upstream "chat"; defined: app',
    ]],
    ["upstream not a string", configWith([["servers", 0, "routes", 0, "upstream"], ["app"]]), [
      "servers[0].routes[0].upstream: must be a string",
    ]],
    ["websocket_only not boolean", configWith([["servers", 0, "routes", 0, "websocket_only"], "yes"]), [
      "servers[0].routes[0].websocket_only: must be true or false",
    ]],
    ["bad duration unit", configWith([["servers", 0, "routes", 0, "read_timeout"], "5w"]), [
      `servers[0].routes[0].read_timeout: ${DURATION} (unknown unit "w")`,
    ]],
    ["duration of wrong type", configWith([["servers", 0, "routes", 0, "send_timeout"], true]), [
      `servers[0].routes[0].send_timeout: ${DURATION}`,
    ]],
    ["zero read_timeout", configWith([["servers", 0, "routes", 0, "read_timeout"], 0]), [
      "servers[0].routes[0].read_timeout: must be greater than 0",
    ]],
    ["tls cert without key", configWith([["servers", 0, "tls"], { cert: "c.pem" }]), [
      'servers[0].tls: missing required key "key"',
    ]],
    ["tls key without cert", configWith([["servers", 0, "tls"], { key: "k.pem" }]), [
      'servers[0].tls: missing required key "cert"',
    ]],
    ["tls not a mapping", configWith([["servers", 0, "tls"], "c.pem"]), [
      "servers[0].tls: must be a mapping (key: value)",
    ]],
    ["tls empty list", configWith([["servers", 0, "tls"], []]), ["servers[0].tls: must not be empty"]],
    [
      "two default certificates",
      configWith([["servers", 0, "tls"], [
        { cert: "a.pem", key: "a.key" },
        { cert: "b.pem", key: "b.key", hosts: ["b.example.com"] },
        { cert: "c.pem", key: "c.key" },
      ]]),
      [
        'servers[0].tls[2]: only one certificate may omit "hosts" (the default); servers[0].tls[0] already does',
      ],
    ],
    ["bad host names", configWith([["servers", 0, "hosts"], ["a b", "ok.example.com", "*", "x.*.com"]]), [
      'servers[0].hosts[0]: invalid host name "a b" (use names like chat.example.com or *.example.com)',
      'servers[0].hosts[2]: invalid host name "*" (use names like chat.example.com or *.example.com)',
      'servers[0].hosts[3]: invalid host name "x.*.com" (use names like chat.example.com or *.example.com)',
    ]],
    ["empty hosts", configWith([["servers", 0, "hosts"], []]), ["servers[0].hosts: must not be empty"]],
    ["upstreams not a mapping", configWith([["upstreams"], ["app"]]), [
      "upstreams: must be a mapping (key: value)",
    ]],
    ["no upstream groups", configWith([["upstreams"], {}]), [
      'servers[0].routes[0].upstream: unknown upstream "app"; defined: none',
      "upstreams: must define at least one upstream group",
    ]],
    ["bad group name", configWith([["upstreams", "a b"], { servers: [":1"] }]), [
      'upstreams["a b"]: invalid upstream name "a b" (use letters, digits, _ - .)',
      `upstreams["a b"].servers[0]: missing host (${ADDRESS_FORMS})`,
    ]],
    ["unsupported balance", configWith([["upstreams", "app", "balance"], "fair"]), [
      'upstreams.app.balance: unsupported balance "fair"; supported: round_robin, least_conn, ip_hash, hash, random',
    ]],
    ["group without servers", configWith([["upstreams", "app", "servers"], undefined]), [
      'upstreams.app: missing required key "servers"',
    ]],
    ["bad server address", configWith([["upstreams", "app", "servers", 0], "localhost"]), [
      `upstreams.app.servers[0]: missing port (${ADDRESS_FORMS})`,
    ]],
    [
      "bad server address in a mapping",
      configWith([["upstreams", "app", "servers", 0], { address: "http://a" }]),
      [
        'upstreams.app.servers[0].address: unsupported scheme "http://"; use ws:// or wss://',
      ],
    ],
    ["server without address", configWith([["upstreams", "app", "servers", 0], { weight: 2 }]), [
      'upstreams.app.servers[0]: missing required key "address"',
    ]],
    [
      "bad weights",
      configWith([["upstreams", "app", "servers"], [
        { address: "a:1", weight: 0 },
        { address: "a:2", weight: 1.5 },
        { address: "a:3", weight: "2" },
        { address: "a:4", wieght: 2 },
      ]]),
      [
        "upstreams.app.servers[0].weight: must be a positive integer",
        "upstreams.app.servers[1].weight: must be a positive integer",
        "upstreams.app.servers[2].weight: must be a positive integer",
        'upstreams.app.servers[3].wieght: unknown key "wieght"; did you mean "weight"?',
      ],
    ],
    ["upstream tls", configWith([["upstreams", "app", "tls"], { verfy: false, server_name: 1, ca: "" }]), [
      'upstreams.app.tls.verfy: unknown key "verfy"; did you mean "verify"?',
      "upstreams.app.tls.server_name: must be a string",
      "upstreams.app.tls.ca: must not be empty",
    ]],
    ["zero connect_timeout", configWith([["upstreams", "app", "connect_timeout"], "0s"]), [
      "upstreams.app.connect_timeout: must be greater than 0",
    ]],
    [
      "limits out of range",
      configWith([["limits"], { max_head_bytes: 100, max_headers: 0, handshake_timeout: "x" }]),
      [
        "limits.handshake_timeout: " + DURATION + ' (cannot read "x")',
        "limits.max_head_bytes: must be an integer from 1024 to 1048576",
        "limits.max_headers: must be an integer from 1 to 10000",
      ],
    ],
    ["log", configWith([["log"], { format: "xml", access: "yes" }]), [
      "log.format: must be one of: text, json",
      "log.access: must be true or false",
    ]],
    ["log not a mapping", configWith([["log"], "json"]), ["log: must be a mapping (key: value)"]],
    ["negative shutdown_timeout", configWith([["shutdown_timeout"], "-1s"]), [
      `shutdown_timeout: ${DURATION} (negative)`,
    ]],
  ];
  for (const [name, raw, expected] of cases) {
    const result = validateConfig(raw, OPTIONS);
    assert.deepEqual(result.issues.map(describe), expected, name);
    assert.equal(result.config, undefined, name);
  }
});

Deno.test("validateConfig accepts what looks odd but is fine", () => {
  const cases: [string, unknown][] = [
    ["two plain servers on one address (virtual hosts)", configWith([["servers", 1], BASE.servers[0]])],
    [
      "two servers on ephemeral ports",
      configWith(
        [["servers", 0, "listen"], "127.0.0.1:0"],
        [["servers", 1], { ...BASE.servers[0], listen: "127.0.0.1:0", tls: { cert: "c", key: "k" } }],
      ),
    ],
    [
      "prefix and exact route on one path",
      configWith([["servers", 0, "routes", 1], { path: "= /", upstream: "app" }]),
    ],
    [
      "idle_timeout 0 = off, shutdown_timeout 0",
      configWith(
        [["servers", 0, "routes", 0, "idle_timeout"], 0],
        [["shutdown_timeout"], "0"],
      ),
    ],
    ["unused upstream group", configWith([["upstreams", "spare"], { servers: ["127.0.0.1:9"] }])],
  ];
  for (const [name, raw] of cases) assert.deepEqual(problems(raw), [], name);
});

Deno.test("validateConfig reports every problem at once", () => {
  const raw = {
    servers: [
      { listen: "nope", routes: [{ path: "x", upstream: "missing" }] },
      { lisen: ":80", routes: [] },
    ],
    upstreams: { app: { servers: [{ address: "127.0.0.1:8080", weight: -1 }] } },
    log: { format: "yaml" },
  };
  assert.deepEqual(problems(raw), [
    `servers[0].listen: missing port (${ADDRESS_FORMS})`,
    `servers[0].routes[0].path: ${ROUTE_PATH}`,
    'servers[0].routes[0].upstream: unknown upstream "missing"; defined: app',
    'servers[1].lisen: unknown key "lisen"; did you mean "listen"?',
    'servers[1]: missing required key "listen"',
    "servers[1].routes: must not be empty",
    "upstreams.app.servers[0].weight: must be a positive integer",
    "log.format: must be one of: text, json",
  ]);
});

Deno.test("unknown keys point at the key, other issues at the value", () => {
  const { issues } = validateConfig(
    configWith([["servers", 0, "lisen"], ":80"], [["log"], { format: 1 }]),
    OPTIONS,
  );
  assert.deepEqual(issues, [
    { path: ["servers", 0, "lisen"], message: 'unknown key "lisen"; did you mean "listen"?', atKey: true },
    { path: ["log", "format"], message: "must be one of: text, json" },
  ]);
});
