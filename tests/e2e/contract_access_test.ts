/**
 * An outsider's black-box check of the README and DESIGN §3-§4 rows on routing, access control,
 * limits and upstream groups, written from the documents only, against the real process.
 */
import assert from "node:assert/strict";
import { type Backend, deadPort, denoEchoBackend, wsEchoBackend } from "./_backends.ts";
import { openDenoWs, RawWs } from "./_clients.ts";
import { ask, head, upgrade, upgradeLines } from "./_contract.ts";
import { CA_PEM, CERTS, oneRouteConfig, startGateway, tempDir, toYaml } from "./_harness.ts";

/** A gateway with one server block, and one upstream group per backend, named as in `groups`. */
const gatewayTo = (groups: Record<string, Backend>, server: Record<string, unknown>) =>
  startGateway({
    config: toYaml({
      servers: [server],
      upstreams: Object.fromEntries(
        Object.entries(groups).map(([name, b]) => [name, { servers: [b.address] }]),
      ),
    }),
  });

Deno.test("routing: hosts like server_name (port and case ignored), longest prefix wins in any order, exact ignores the query", async (t) => {
  await using a = await wsEchoBackend();
  await using b = await wsEchoBackend();
  await using gw = await gatewayTo({ a, b }, {
    listen: "127.0.0.1:0", // one address as a string, as in config.example.yaml
    hosts: ["chat.example.com", "*.rooms.example.com"],
    routes: [
      { path: "/chat/", upstream: "b" },
      { path: "/", upstream: "a" },
      { path: "= /exact", upstream: "b" },
    ],
  });
  const cases: [string, string, "a" | "b" | 404][] = [
    ["chat.example.com", "/chat/x", "b"],
    ["chat.example.com:8020", "/chat/x", "b"],
    ["CHAT.Example.COM", "/x", "a"],
    ["blue.rooms.example.com", "/chat/", "b"],
    ["chat.example.com", "/chatroom", "a"],
    ["chat.example.com", "/exact?x=1", "b"],
    ["other.example.com", "/chat/x", 404],
    ["rooms.example.com", "/", 404],
  ];
  for (const [host, path, want] of cases) {
    await t.step(`Host ${host} ${path} -> ${want}`, async () => {
      const counts = [a.requests.length, b.requests.length];
      const request = head(`GET ${path} HTTP/1.1`, `Host: ${host}`, ...upgradeLines().slice(1));
      await using c = await RawWs.open(gw.port, { request });
      if (want === 404) return assert.equal(c.response.status, 404);
      assert.equal(c.response.status, 101);
      const to = a.requests.length > counts[0]! ? "a" : b.requests.length > counts[1]! ? "b" : "none";
      assert.equal(to, want);
    });
  }
});

Deno.test("access control per route (README): deny, allow_origins -> 403; dot-segments cannot dodge a route", async (t) => {
  await using open = await wsEchoBackend();
  await using guarded = await wsEchoBackend();
  await using gw = await gatewayTo({ open, guarded }, {
    listen: ["127.0.0.1:0"],
    routes: [
      { path: "/public/", upstream: "open" },
      { path: "/admin/", upstream: "guarded", deny: ["127.0.0.1"] },
      { path: "/app/", upstream: "guarded", allow_origins: ["https://app.example.com"] },
    ],
  });
  const cases: [string, string[], number][] = [
    ["/admin/x", [], 403],
    ["/app/x", [], 403],
    ["/app/x", ["Origin: https://evil.example.net"], 403],
    ["/app/x", ["Origin: https://app.example.com"], 101],
    ["/public/x", [], 101],
  ];
  for (const [path, extra, status] of cases) {
    await t.step(`${path} ${extra.join(" ")} -> ${status}`, async () => {
      await using c = await RawWs.open(gw.port, { request: upgrade(path, ...extra) });
      assert.equal(c.response.status, status);
    });
  }
  await t.step({
    name:
      "/public/../admin/x and other dot-segments are refused (400): no route is chosen on a resolved form",
    fn: async () => {
      for (const path of ["/public/../admin/x", "/public/%2e%2e/admin/x", "/public/./../admin/x"]) {
        await using c = await RawWs.open(gw.port, { request: upgrade(path) });
        assert.equal(c.response.status, 400, path);
      }
    },
  });
});

/** One route `/` to group `app` whose servers are written out (mappings allowed). */
const groupConfig = (servers: unknown[]) =>
  toYaml({
    servers: [{ listen: ["127.0.0.1:0"], routes: [{ path: "/", upstream: "app" }] }],
    upstreams: { app: { servers } },
  });

Deno.test("limits (README): max_conns full -> 503 Retry-After: 1; rate -> 429 + Retry-After; connection limits say Retry-After: 5", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: groupConfig([{ address: backend.address, max_conns: 1 }]),
  });
  await using first = await RawWs.open(gw.port, { request: upgrade("/") });
  assert.equal(first.response.status, 101);
  const full = await ask(gw.port, upgrade("/"));
  assert.equal(full.status, 503);
  assert.equal(full.headers.get("retry-after"), "1");

  await using gw2 = await startGateway({
    config: oneRouteConfig([backend.address], { top: { limits: { rate: 1, burst: 1 } } }),
  });
  await using ok = await RawWs.open(gw2.port, { request: upgrade("/") });
  assert.equal(ok.response.status, 101);
  const limited = await ask(gw2.port, upgrade("/"));
  assert.equal(limited.status, 429);
  assert.match(limited.headers.get("retry-after") ?? "", /^[1-9]\d*$/);

  await using gw3 = await startGateway({
    config: oneRouteConfig([backend.address], { top: { limits: { max_connections: 1 } } }),
  });
  await using _held = await RawWs.open(gw3.port, { request: upgrade("/") });
  assert.equal((await ask(gw3.port, upgrade("/"))).headers.get("retry-after"), "5");
});

Deno.test("upstreams (README): down servers are never used, backups only when no primary is left", async () => {
  await using backup = await wsEchoBackend();
  await using down = await wsEchoBackend();
  const servers = [
    { address: `127.0.0.1:${deadPort()}` },
    { address: down.address, down: true },
    { address: backup.address, backup: true },
  ];
  await using gw = await startGateway({ config: groupConfig(servers) });
  for (let i = 0; i < 3; i++) {
    await using c = await RawWs.open(gw.port, { request: upgrade("/") });
    assert.equal(c.response.status, 101);
  }
  assert.equal(down.requests.length, 0);
  assert.equal(backup.requests.length, 3);
});

Deno.test("max_headers (README): more header fields than max_headers -> 431", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address], { top: { limits: { max_headers: 10 } } }),
  });
  const many = Array.from({ length: 11 }, (_, i) => `X-H${i}: 1`);
  assert.equal((await ask(gw.port, head("GET / HTTP/1.1", "Host: gw.test", ...many))).status, 431);
});

Deno.test("limits: over max_connections / max_connections_per_ip -> 503 + Retry-After", async () => {
  await using backend = await wsEchoBackend();
  for (const limits of [{ max_connections: 1 }, { max_connections_per_ip: 1 }]) {
    await using gw = await startGateway({ config: oneRouteConfig([backend.address], { top: { limits } }) });
    await using first = await RawWs.open(gw.port, { request: upgrade("/") });
    assert.equal(first.response.status, 101);
    const res = await ask(gw.port, upgrade("/"));
    assert.equal(res.status, 503, JSON.stringify(limits));
    assert.match(res.headers.get("retry-after") ?? "", /^\d+$/);
    await gw.waitForEvent("reject", { status: "503" });
  }
});

Deno.test("X-Forwarded-For from trusted_proxies is appended to", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address], { top: { trusted_proxies: ["127.0.0.1"] } }),
  });
  await using c = await RawWs.open(gw.port, { request: upgrade("/", "X-Forwarded-For: 203.0.113.9") });
  assert.equal(c.response.status, 101);
  assert.equal(backend.requests.at(-1)!.headers.get("x-forwarded-for"), "203.0.113.9, 127.0.0.1");
});

/** A wss:// echo backend whose certificate (from the test CA) names backend.test, not 127.0.0.1. */
const tlsEchoBackend = () =>
  denoEchoBackend({
    tls: {
      cert: Deno.readTextFileSync(`${CERTS}backend.pem`),
      key: Deno.readTextFileSync(`${CERTS}backend-key.pem`),
    },
  });

Deno.test("config: wss:// upstream with tls.ca and server_name", async () => {
  await using backend = await tlsEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([`wss://${backend.address}`], {
      upstream: { tls: { ca: "ca.pem", server_name: "backend.test" } },
    }),
    files: { "ca.pem": CA_PEM },
  });
  await using c = await openDenoWs(`ws://127.0.0.1:${gw.port}/`);
  c.send("over tls");
  assert.equal(await c.next(), "over tls");
});

Deno.test("upstreams: TLS failure moves on to the next server; unix: and [::1]: upstream addresses", async () => {
  await using tlsBackend = await tlsEchoBackend();
  await using tmp = await tempDir();
  await using unix = await denoEchoBackend({ path: `${tmp.path}/be.sock` });
  const v6 = Deno.serve(
    { hostname: "::1", port: 0, onListen() {} },
    (req) => Deno.upgradeWebSocket(req).response,
  );
  await using gw = await startGateway({
    config: toYaml({
      servers: [{
        listen: ["127.0.0.1:0"],
        routes: [{ path: "/tls/", upstream: "tls" }, { path: "/unix/", upstream: "unix" }, {
          path: "/v6/",
          upstream: "v6",
        }],
      }],
      upstreams: {
        // 127.0.0.1 is not a name in backend.pem, so verification fails and the unix server takes it.
        tls: { servers: [`wss://${tlsBackend.address}`, unix.address], tls: { ca: "ca.pem" } },
        unix: { servers: [unix.address] },
        v6: { servers: [`[::1]:${v6.addr.port}`] },
      },
    }),
    files: { "ca.pem": CA_PEM },
  });
  try {
    for (const path of ["/tls/x", "/unix/x", "/v6/x"]) {
      await using c = await RawWs.open(gw.port, { request: upgrade(path) });
      assert.equal(c.response.status, 101, path);
    }
    assert.equal(tlsBackend.requests.length, 0);
    assert.ok(gw.records("upstream_failed").some((r) => r.fields.upstream?.includes(tlsBackend.address)));
  } finally {
    await v6.shutdown();
  }
});
