/**
 * An outsider's black-box check of the README and DESIGN §3-§4 rows on routing and upstream
 * addresses, written from the documents only, against the real process. Access control is in
 * security_test.ts and ambiguity_test.ts, limits in limits_test.ts and balance_test.ts, backups and
 * down servers in balance_test.ts, a wss:// upstream's verification in tls_test.ts.
 */
import assert from "node:assert/strict";
import { type Backend, denoEchoBackend, wsEchoBackend } from "./_backends.ts";
import { RawWs } from "./_clients.ts";
import { head, upgrade, upgradeLines } from "./_contract.ts";
import { CA_PEM, CERTS, startGateway, tempDir, toYaml } from "./_harness.ts";

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

Deno.test("routing: hosts like server_name (port and case ignored), longest prefix wins in any order, exact ignores the query and nothing longer", async (t) => {
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
    ["chat.example.com", "/exact/more", "a"], // = /exact is that path only
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

/** A wss:// echo backend whose certificate (from the test CA) names backend.test, not 127.0.0.1. */
const tlsEchoBackend = () =>
  denoEchoBackend({
    tls: {
      cert: Deno.readTextFileSync(`${CERTS}backend.pem`),
      key: Deno.readTextFileSync(`${CERTS}backend-key.pem`),
    },
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
