/** Keep-alive and client-certificate keys on servers and upstream groups: defaults, values, each error. */
import assert from "node:assert/strict";
import { formatPath, validateConfig } from "../../lib/config/validate.ts";

const OPTIONS = { source: "test.yaml", baseDir: "/etc/wsgate" };
const TLS = { cert: "c.pem", key: "k.pem" };

function load(server: Record<string, unknown>, group: Record<string, unknown> = {}, unsupported = {}) {
  const raw = {
    servers: [{ listen: "127.0.0.1:8443", routes: [{ path: "/", upstream: "app" }], ...server }],
    upstreams: { app: { servers: ["wss://b.test"], ...group } },
  };
  const result = validateConfig(raw, { ...OPTIONS, unsupported });
  return { ...result, problems: result.issues.map((i) => `${formatPath(i.path)}: ${i.message}`) };
}

Deno.test("keep-alive keys: defaults, values, 0 = one request per connection", () => {
  const plain = load({});
  assert.equal(plain.config?.servers[0]?.keepalive_timeout, 75_000);
  assert.equal(plain.config?.servers[0]?.max_requests_per_connection, 1_000);
  assert.equal(plain.config?.upstreams.get("app")?.keepalive, 0);
  assert.equal(plain.config?.upstreams.get("app")?.keepalive_timeout, 60_000);
  const set = load({ keepalive_timeout: 0, max_requests_per_connection: 5 }, {
    keepalive: 16,
    keepalive_timeout: "90s",
  });
  assert.deepEqual(set.problems, []);
  assert.equal(set.config?.servers[0]?.keepalive_timeout, 0);
  assert.equal(set.config?.servers[0]?.max_requests_per_connection, 5);
  assert.equal(set.config?.upstreams.get("app")?.keepalive, 16);
  assert.equal(set.config?.upstreams.get("app")?.keepalive_timeout, 90_000);
});

Deno.test("keep-alive keys: each error", () => {
  const cases: [string, Record<string, unknown>, Record<string, unknown>, string[]][] = [
    ["negative duration", { keepalive_timeout: -1 }, {}, [
      "servers[0].keepalive_timeout: must be a duration like 250ms, 30s, 5m, 2h, 1d (negative)",
    ]],
    ["zero requests", { max_requests_per_connection: 0 }, {}, [
      "servers[0].max_requests_per_connection: must be an integer from 1 to 1000000",
    ]],
    ["keepalive not a count", {}, { keepalive: "yes" }, [
      "upstreams.app.keepalive: must be an integer from 0 to 10000",
    ]],
    ["upstream timeout zero", {}, { keepalive: 2, keepalive_timeout: 0 }, [
      "upstreams.app.keepalive_timeout: must be greater than 0",
    ]],
    ["with send_proxy_protocol", {}, { keepalive: 4, send_proxy_protocol: "v2" }, [
      "upstreams.app.keepalive: cannot be used with send_proxy_protocol (a PROXY header names one client)",
    ]],
    ["upstream timeout alone", {}, { keepalive_timeout: "5s" }, [
      'upstreams.app.keepalive_timeout: only used with "keepalive" (idle connections kept per server)',
    ]],
  ];
  for (const [name, server, group, expected] of cases) {
    assert.deepEqual(load(server, group).problems, expected, name);
  }
});

Deno.test("client certificates: client_ca with require by default, optional, files to read", () => {
  const required = load({ tls: { ...TLS, client_ca: "clients.pem" } });
  assert.deepEqual(required.problems, []);
  assert.deepEqual(required.config?.servers[0]?.client_auth, {
    ca_file: "/etc/wsgate/clients.pem",
    ca: "",
    mode: "require",
  });
  assert.ok(required.files.some((f) => f.file === "/etc/wsgate/clients.pem"));
  const optional = load({ tls: { ...TLS, client_ca: "/ca.pem", client_auth: "optional" } });
  assert.equal(optional.config?.servers[0]?.client_auth?.mode, "optional");
  // In a list of certificates (SNI), one entry carries it for the listener.
  const sni = load({ tls: [TLS, { ...TLS, hosts: ["a.test"], client_ca: "ca.pem" }] });
  assert.deepEqual(sni.problems, []);
  assert.equal(sni.config?.servers[0]?.client_auth?.ca_file, "/etc/wsgate/ca.pem");
});

Deno.test("client certificates: each error", () => {
  const cases: [string, Record<string, unknown>, string[]][] = [
    ["mode without a CA", { tls: { ...TLS, client_auth: "require" } }, [
      'servers[0].tls.client_auth: needs "client_ca"',
    ]],
    ["unknown mode", { tls: { ...TLS, client_ca: "ca.pem", client_auth: "maybe" } }, [
      "servers[0].tls.client_auth: must be one of: require, optional",
    ]],
    ["twice in a list", {
      tls: [{ ...TLS, client_ca: "a.pem" }, { ...TLS, hosts: ["b.test"], client_ca: "b.pem" }],
    }, [
      "servers[0].tls[1].client_ca: client certificates are set once per server; tls[0] already does",
    ]],
  ];
  for (const [name, server, expected] of cases) assert.deepEqual(load(server).problems, expected, name);
});

Deno.test("client certificates: a runtime that cannot verify them refuses client_ca where it is written", () => {
  const why = "client certificates cannot be verified here";
  const result = load({ tls: { ...TLS, client_ca: "ca.pem" } }, {}, { client_ca: why });
  assert.equal(result.config, undefined);
  assert.deepEqual(result.problems, [`servers[0].tls.client_ca: ${why}`]);
});

Deno.test("servers sharing a listener ask for client certificates alike", () => {
  const raw = {
    servers: [
      {
        listen: "127.0.0.1:8443",
        tls: { ...TLS, client_ca: "ca.pem" },
        hosts: ["a.test"],
        routes: [{ path: "/", upstream: "app" }],
      },
      { listen: "127.0.0.1:8443", tls: TLS, hosts: ["b.test"], routes: [{ path: "/", upstream: "app" }] },
    ],
    upstreams: { app: { servers: ["127.0.0.1:8080"] } },
  };
  const issues = validateConfig(raw, OPTIONS).issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
  assert.deepEqual(issues, [
    'servers[1].listen: listen address "127.0.0.1:8443" is also used by servers[0] with other client_ca/client_auth; both must set them alike',
  ]);
});

Deno.test("upstream client certificate: cert and key together", () => {
  const both = load({}, { tls: { cert: "client.pem", key: "client-key.pem" } });
  assert.deepEqual(both.problems, []);
  assert.deepEqual(both.config?.upstreams.get("app")?.tls.client_cert, {
    cert_file: "/etc/wsgate/client.pem",
    key_file: "/etc/wsgate/client-key.pem",
    cert: "",
    key: "",
  });
  assert.deepEqual(load({}, { tls: { cert: "client.pem" } }).problems, [
    'upstreams.app.tls: a client certificate needs both "cert" and "key"',
  ]);
});
