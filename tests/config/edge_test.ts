/** The edge keys of §3a: what validation keeps, and each error message with its key path and position. */
import assert from "node:assert/strict";
import { loadConfigFile } from "../../lib/config/load.ts";
import { formatPath, validateConfig } from "../../lib/config/validate.ts";
import { renderTemplate } from "../../lib/net/placeholders.ts";
import { describeConfig } from "../../lib/config/summary.ts";
import type { RouteConfig } from "../../lib/config/schema.ts";

const OPTIONS = { source: "test.yaml", baseDir: "/etc/wsgate" };

function withRoute(route: Record<string, unknown>, top: Record<string, unknown> = {}) {
  return {
    servers: [{ listen: "127.0.0.1:8020", routes: [route] }],
    upstreams: { app: { servers: ["127.0.0.1:8080"] } },
    ...top,
  };
}

function problems(route: Record<string, unknown>, top: Record<string, unknown> = {}): string[] {
  return validateConfig(withRoute(route, top), OPTIONS).issues.map((i) =>
    `${formatPath(i.path)}: ${i.message}`
  );
}

function routeOf(route: Record<string, unknown>, top: Record<string, unknown> = {}): RouteConfig {
  const { config, issues } = validateConfig(withRoute(route, top), OPTIONS);
  assert.deepEqual(issues, []);
  return config!.servers[0]!.routes[0]!;
}

const R = "servers[0].routes[0]";
const FACTS = {
  clientIp: "192.0.2.7",
  clientPort: "1",
  host: "h",
  uri: "/u",
  scheme: "http" as const,
  requestId: "r",
};

Deno.test("edge config: rewrites, rules and fixed answers are read and compiled", () => {
  const route = routeOf({
    path: "/api/",
    upstream: "app",
    strip_prefix: true,
    add_prefix: "/v2",
    request_headers: {
      set: { "X-Env": "prod", Host: "{host}", "X-Port": 8080 },
      add: { "X-Tag": "edge" },
      remove: ["Cookie"],
    },
    response_headers: { remove: ["Server"] },
  });
  assert.deepEqual(route.rewrite, { strip: true, add: "/v2" });
  const rules = route.request_headers!;
  assert.deepEqual(rules.drop, ["cookie", "x-env", "x-port"]); // Host: replaced only when sendable
  assert.deepEqual(rules.set.map((t) => [t.name, renderTemplate(t.value, FACTS)]), [
    ["X-Env", "prod"],
    ["Host", "h"],
    ["X-Port", "8080"],
  ]);
  assert.deepEqual(route.response_headers, { drop: ["server"], set: [], add: [] });
  const redirect = routeOf({ path: "/", redirect: { to: "https://{host}{uri}" } });
  assert.equal(redirect.upstream, "");
  assert.equal(redirect.answer?.kind === "redirect" && redirect.answer.status, 302);
  const respond = routeOf({ path: "= /ping", respond: { body: "ok\n" } });
  assert.deepEqual(respond.answer, {
    kind: "respond",
    status: 200,
    body: "ok\n",
    content_type: "text/plain; charset=utf-8",
  });
  const summary = describeConfig(
    validateConfig({
      servers: [{
        listen: "127.0.0.1:8020",
        routes: [
          { path: "/", redirect: { to: "https://{host}{uri}", status: 308 } },
          { path: "= /ping", respond: {} },
          { path: "/api/", upstream: "app", strip_prefix: true, add_prefix: "/v2" },
        ],
      }],
      upstreams: { app: { servers: ["127.0.0.1:8080"] } },
    }, OPTIONS).config!,
  );
  assert.deepEqual(summary.slice(1, 4), [
    "  route / -> redirect 308 https://{host}{uri}",
    "  route = /ping -> respond 200",
    "  route /api/ -> app (strip_prefix add_prefix=/v2)",
  ]);
  const plain = routeOf({ path: "/", upstream: "app" });
  assert.deepEqual(Object.keys(plain).filter((k) => /rewrite|headers|answer/.test(k)), []);
});

Deno.test('edge config: request_id_header defaults to X-Request-Id, "" turns it off', () => {
  assert.equal(
    validateConfig(withRoute({ path: "/", upstream: "app" }), OPTIONS).config?.request_id_header,
    "X-Request-Id",
  );
  const off = validateConfig(withRoute({ path: "/", upstream: "app" }, { request_id_header: "" }), OPTIONS);
  assert.equal(off.config?.request_id_header, "");
});

Deno.test("edge config: each problem with its key path", () => {
  const cases: [string, Record<string, unknown>, Record<string, unknown>, string[]][] = [
    ["no target", { path: "/" }, {}, [`${R}: needs one of "upstream", "redirect" or "respond"`]],
    ["two targets", { path: "/", upstream: "app", respond: {} }, {}, [
      `${R}.respond: cannot be combined with "upstream": a route has exactly one of upstream, redirect or respond`,
    ]],
    [
      "upstream-only keys on a fixed answer",
      {
        path: "/",
        respond: {},
        strip_prefix: true,
        request_headers: {},
        websocket_only: true,
      },
      {},
      [
        `${R}.websocket_only: has no effect on a route answered by "respond" (no upstream is contacted)`,
        `${R}.strip_prefix: has no effect on a route answered by "respond" (no upstream is contacted)`,
        `${R}.request_headers: has no effect on a route answered by "respond" (no upstream is contacted)`,
      ],
    ],
    ["redirect without to, bad status", { path: "/", redirect: { status: 200 } }, {}, [
      `${R}.redirect: missing required key "to"`,
      `${R}.redirect.status: must be one of: 301, 302, 303, 307, 308`,
    ]],
    ["redirect to an unknown placeholder", { path: "/", redirect: { to: "https://{hots}{uri}" } }, {}, [
      `${R}.redirect.to: unknown placeholder "{hots}"; did you mean "{host}"?`,
    ]],
    [
      "respond: status, body, type",
      {
        path: "/",
        respond: { status: 101, body: 5, content_type: "a\nb" },
      },
      {},
      [
        `${R}.respond.status: must be an HTTP status from 200 to 599`,
        `${R}.respond.body: must be a string`,
        `${R}.respond.content_type: must not contain control characters (CR, LF, tab, NUL ...)`,
      ],
    ],
    ["respond: a 204 with a body", { path: "/", respond: { status: 204, body: "x" } }, {}, [
      `${R}.respond.body: must be empty: a 204 answer has no body`,
    ]],
    ["respond: a body too large", { path: "/", respond: { body: "x".repeat(65_537) } }, {}, [
      `${R}.respond.body: must be at most 65536 bytes (it has 65537)`,
    ]],
    [
      "strip_prefix not a boolean, add_prefix forms",
      {
        path: "/",
        upstream: "app",
        strip_prefix: "yes",
        add_prefix: "v2",
      },
      {},
      [`${R}.strip_prefix: must be true or false`, `${R}.add_prefix: must be a path starting with "/"`],
    ],
    ["add_prefix with a trailing slash", { path: "/", upstream: "app", add_prefix: "/v2/" }, {}, [
      `${R}.add_prefix: must not end with "/" (the request path brings its own): "/v2" makes /x into /v2/x`,
    ]],
    ["add_prefix /", { path: "/", upstream: "app", add_prefix: "/" }, {}, [
      `${R}.add_prefix: "/" adds nothing; leave add_prefix out`,
    ]],
    ["add_prefix with a query", { path: "/", upstream: "app", add_prefix: "/v2?x" }, {}, [
      `${R}.add_prefix: may only hold URI path characters (no query, fragment or spaces)`,
    ]],
    ["add_prefix with a bad escape", { path: "/", upstream: "app", add_prefix: "/v%2" }, {}, [
      `${R}.add_prefix: has a bad %-escape`,
    ]],
    ["add_prefix with a dot-segment", { path: "/", upstream: "app", add_prefix: "/a/%2E%2e/b" }, {}, [
      `${R}.add_prefix: must not hold "//" or a dot-segment ("." or "..")`,
    ]],
    ["rules not a mapping, unknown op", { path: "/", upstream: "app", request_headers: { put: {} } }, {}, [
      `${R}.request_headers.put: unknown key "put"; expected one of: set, add, remove`,
    ]],
    [
      "gateway-owned headers",
      {
        path: "/",
        upstream: "app",
        request_headers: {
          set: { Connection: "x", "Sec-WebSocket-Protocol": "x", "X-Forwarded-For": "x", "X-Real-IP": "x" },
          add: { "Content-Length": "1", Forwarded: "x" },
          remove: ["Transfer-Encoding", "Upgrade", "TE"],
        },
        response_headers: { set: { "sec-websocket-accept": "x" } },
      },
      {},
      [
        `${R}.request_headers.set.Connection: "Connection" is written by the gateway and cannot be changed by header rules`,
        `${R}.request_headers.set.Sec-WebSocket-Protocol: "Sec-WebSocket-Protocol" is written by the gateway and cannot be changed by header rules`,
        `${R}.request_headers.set.X-Forwarded-For: "X-Forwarded-For" is written by the gateway and cannot be changed by header rules`,
        `${R}.request_headers.set.X-Real-IP: "X-Real-IP" is written by the gateway and cannot be changed by header rules`,
        `${R}.request_headers.add.Content-Length: "Content-Length" is written by the gateway and cannot be changed by header rules`,
        `${R}.request_headers.add.Forwarded: "Forwarded" is written by the gateway and cannot be changed by header rules`,
        `${R}.request_headers.remove[0]: "Transfer-Encoding" is written by the gateway and cannot be changed by header rules`,
        `${R}.request_headers.remove[1]: "Upgrade" is written by the gateway and cannot be changed by header rules`,
        `${R}.request_headers.remove[2]: "TE" is written by the gateway and cannot be changed by header rules`,
        `${R}.response_headers.set.sec-websocket-accept: "sec-websocket-accept" is written by the gateway and cannot be changed by header rules`,
      ],
    ],
    [
      "Host only by set, request ID header not at all",
      {
        path: "/",
        upstream: "app",
        request_headers: { add: { Host: "x" }, remove: ["host"], set: { "x-request-id": "{client_ip}" } },
      },
      {},
      [
        `${R}.request_headers.set.x-request-id: "x-request-id" is the request_id_header, written by the gateway`,
        `${R}.request_headers.add.Host: "Host" can only be set (a request carries exactly one Host)`,
        `${R}.request_headers.remove[0]: "host" can only be set (a request carries exactly one Host)`,
      ],
    ],
    [
      "invalid names",
      {
        path: "/",
        upstream: "app",
        request_headers: { set: { "X_User": "x", "X User": "x" }, remove: ["a:b"] },
      },
      {},
      [
        `${R}.request_headers.set.X_User: invalid header name "X_User": use "-" instead of "_" (names with "_" are dropped before forwarding)`,
        `${R}.request_headers.set["X User"]: invalid header name "X User" (letters, digits and !#$%&'*+.^\`|~- only)`,
        `${R}.request_headers.remove[0]: invalid header name "a:b" (letters, digits and !#$%&'*+.^\`|~- only)`,
      ],
    ],
    [
      "values",
      {
        path: "/",
        upstream: "app",
        response_headers: {
          set: {
            "X-A": "",
            "X-B": "a\r\nX-C: d",
            "X-D": ["x"],
            "X-E": "{nope}",
            "X-F": "{jwt.a b}",
            "X-G": "{host",
          },
        },
      },
      {},
      [
        `${R}.response_headers.set.X-A: must not be empty (a value that renders empty is never sent)`,
        `${R}.response_headers.set.X-B: must not contain control characters (CR, LF, tab, NUL ...)`,
        `${R}.response_headers.set.X-D: must be a string`,
        `${R}.response_headers.set.X-E: unknown placeholder "{nope}"; known: {client_ip} {client_port} {host} {uri} {path} {query} {scheme} {request_id} {tls.client.subject} {tls.client.fingerprint} {tls.client.verified} {jwt.CLAIM}`,
        `${R}.response_headers.set.X-F: invalid claim name in placeholder "{jwt.a b}"; known: {client_ip} {client_port} {host} {uri} {path} {query} {scheme} {request_id} {tls.client.subject} {tls.client.fingerprint} {tls.client.verified} {jwt.CLAIM}`,
        `${R}.response_headers.set.X-G: unclosed placeholder at "{host" (write {{ for a literal {); known: {client_ip} {client_port} {host} {uri} {path} {query} {scheme} {request_id} {tls.client.subject} {tls.client.fingerprint} {tls.client.verified} {jwt.CLAIM}`,
      ],
    ],
    [
      "duplicates",
      {
        path: "/",
        upstream: "app",
        response_headers: { set: { "X-A": "1", "x-a": "2" }, remove: ["X-A", "Server", "server"] },
      },
      {},
      [
        `${R}.response_headers.set.x-a: "x-a" is listed twice (names ignore case)`,
        `${R}.response_headers.remove[2]: "server" is listed twice (names ignore case)`,
        `${R}.response_headers.remove[0]: "X-A" is also in set, which already removes what the client sent`,
      ],
    ],
    [
      "{request_id} with request IDs off",
      {
        path: "/",
        upstream: "app",
        response_headers: { set: { "X-Req": "{request_id}" } },
      },
      { request_id_header: "" },
      [
        `${R}.response_headers.set.X-Req: uses {request_id}, but request_id_header is "" (request IDs are off)`,
      ],
    ],
    ["request_id_header forms", { path: "/", upstream: "app" }, { request_id_header: "X_Id" }, [
      `request_id_header: invalid header name "X_Id": use "-" instead of "_" (names with "_" are dropped before forwarding)`,
    ]],
    ["request_id_header owned", { path: "/", upstream: "app" }, { request_id_header: "X-Forwarded-Id" }, [
      `request_id_header: "X-Forwarded-Id" is written by the gateway for another purpose`,
    ]],
    ["request_id_header type", { path: "/", upstream: "app" }, { request_id_header: 5 }, [
      `request_id_header: must be a header name, or "" (off)`,
    ]],
  ];
  for (const [name, route, top, expected] of cases) assert.deepEqual(problems(route, top), expected, name);
});

Deno.test("edge config: a bad placeholder or owned header is reported at its line and column", async () => {
  const yaml = `servers:
  - listen: ["127.0.0.1:8020"]
    routes:
      - path: /api/
        upstream: app
        request_headers:
          set: { X-Client: "{clinet_ip}", Connection: close }
      - path: /
        redirect: { to: "https://{host}{url}", status: 308 }
upstreams:
  app: { servers: ["127.0.0.1:8080"] }
`;
  const result = await loadConfigFile("/etc/wsgate/wsgate.yaml", () => Promise.resolve(yaml));
  assert.deepEqual(result.errors, [
    `/etc/wsgate/wsgate.yaml:7:28: servers[0].routes[0].request_headers.set.X-Client: unknown placeholder "{clinet_ip}"; did you mean "{client_ip}"?`,
    `/etc/wsgate/wsgate.yaml:7:43: servers[0].routes[0].request_headers.set.Connection: "Connection" is written by the gateway and cannot be changed by header rules`,
    `/etc/wsgate/wsgate.yaml:9:25: servers[0].routes[1].redirect.to: unknown placeholder "{url}"; did you mean "{uri}"?`,
  ]);
});
