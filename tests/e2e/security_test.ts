/**
 * Access control end to end: the Origin allow-list, client CIDR allow/deny lists (IPv4, IPv6,
 * IPv4-mapped), and which X-Forwarded-For chains are believed.
 */
import assert from "node:assert/strict";
import { denoEchoBackend, wsEchoBackend } from "./_backends.ts";
import { RawWs } from "./_clients.ts";
import { startGateway, toYaml } from "./_harness.ts";
import { CRLF, parseResponse, upgradeRequest } from "./_wire.ts";
import { exchange, requestFrom } from "./_security.ts";

Deno.test("security: allow_origins lets listed origins through and refuses the rest with 403", async (t) => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: toYaml({
      servers: [{
        listen: ["127.0.0.1:0"],
        routes: [
          { path: "/app/", upstream: "app", allow_origins: ["https://app.test", "https://*.example.com"] },
          { path: "/", upstream: "app" },
        ],
      }],
      upstreams: { app: { servers: [backend.address] } },
    }),
  });
  const cases: [string, string | undefined, number][] = [
    ["exact origin", "https://app.test", 101],
    ["subdomain of a wildcard", "https://chat.example.com", 101],
    ["deeper subdomain of a wildcard", "https://a.b.example.com", 101],
    ["other scheme", "http://app.test", 403],
    ["other port", "https://app.test:8443", 403],
    ["the wildcard's own apex", "https://example.com", 403],
    ["look-alike suffix", "https://app.test.evil.net", 403],
    ["a sandboxed page (null)", "null", 403],
    ["no Origin header", undefined, 403],
  ];
  for (const [name, origin, status] of cases) {
    await t.step(`${name} -> ${status}`, async () => {
      const before = backend.requests.length;
      const headers: [string, string][] = origin === undefined ? [] : [["Origin", origin]];
      const outcome = await exchange(gw.port, upgradeRequest({ path: "/app/ws", headers }), {
        untilHead: true,
      });
      assert.equal(outcome.response?.status, status);
      assert.equal(backend.requests.length - before, status === 101 ? 1 : 0);
    });
  }
  await t.step("a route without allow_origins takes any origin", async () => {
    await using ws = await RawWs.open(gw.port, {
      request: upgradeRequest({ path: "/", headers: [["Origin", "https://anything.test"]] }),
    });
    assert.equal(ws.response.status, 101);
  });
  const refused = gw.records("reject").filter((r) => r.fields.status === "403");
  assert.ok(refused.some((r) => /origin "https:\/\/example.com" is not allowed/.test(r.fields.reason ?? "")));
  assert.ok(refused.some((r) => /no Origin header/.test(r.fields.reason ?? "")));
});

const GET = (path: string, extra: string[] = []) =>
  [`GET ${path} HTTP/1.1`, "Host: h", "Connection: close", ...extra].join(CRLF) + CRLF + CRLF;

Deno.test("security: allow and deny client CIDR lists (IPv4)", async (t) => {
  await using backend = await denoEchoBackend();
  await using gw = await startGateway({
    config: toYaml({
      servers: [{
        listen: ["127.0.0.1:0"],
        routes: [
          { path: "/allow/", upstream: "app", allow: ["127.0.0.2/32", "10.0.0.0/8"] },
          { path: "/deny/", upstream: "app", deny: ["127.0.0.2"] },
          { path: "/both/", upstream: "app", allow: ["127.0.0.0/8"], deny: ["127.0.0.2"] },
        ],
      }],
      upstreams: { app: { servers: [backend.address] } },
    }),
  });
  const cases: [string, string, number][] = [
    ["/allow/", "127.0.0.1", 403],
    ["/allow/", "127.0.0.2", 200],
    ["/deny/", "127.0.0.1", 200],
    ["/deny/", "127.0.0.2", 403],
    ["/both/", "127.0.0.3", 200],
    ["/both/", "127.0.0.2", 403],
  ];
  for (const [path, from, status] of cases) {
    await t.step(`${path} from ${from} -> ${status}`, async () => {
      const response = parseResponse(await requestFrom(from, gw.port, GET(path)));
      assert.equal(response.status, status);
    });
  }
  const reasons = gw.records("reject").map((r) => r.fields.reason);
  assert.ok(reasons.includes("127.0.0.1 is not in the route's allow list"), JSON.stringify(reasons));
  assert.ok(reasons.includes("127.0.0.2 is in the route's deny list"), JSON.stringify(reasons));
});

Deno.test("security: CIDR lists over IPv6, and IPv4 clients of a dual-stack listener", async (t) => {
  await using backend = await denoEchoBackend();
  await using gw = await startGateway({
    config: toYaml({
      servers: [{
        listen: ["[::]:0"],
        routes: [
          { path: "/v6/", upstream: "app", allow: ["::1/128"] },
          { path: "/v4/", upstream: "app", allow: ["127.0.0.0/8"] },
          { path: "/no6/", upstream: "app", deny: ["::/0"] },
        ],
      }],
      upstreams: { app: { servers: [backend.address] } },
    }),
  });
  const ask = async (hostname: string, path: string) =>
    (await exchange(gw.port, GET(path), { hostname })).response?.status;
  const cases: [string, string, number][] = [
    ["::1", "/v6/", 200],
    ["127.0.0.1", "/v6/", 403],
    // The listener reports ::ffff:127.0.0.1; it still matches 127.0.0.0/8.
    ["127.0.0.1", "/v4/", 200],
    ["::1", "/v4/", 403],
    // ::/0 covers IPv4-mapped addresses too.
    ["127.0.0.1", "/no6/", 403],
  ];
  for (const [from, path, status] of cases) {
    await t.step(`${path} from ${from} -> ${status}`, async () => {
      assert.equal(await ask(from, path), status);
    });
  }
  // Logs and X-Real-IP show the IPv4 client as IPv4.
  assert.equal(backend.requests.find((r) => r.url === "/v4/")?.headers.get("x-real-ip"), "127.0.0.1");
});

Deno.test("security: X-Forwarded-For is appended to only for trusted_proxies, else replaced", async (t) => {
  await using backend = await denoEchoBackend();
  await using gw = await startGateway({
    config: toYaml({
      servers: [{ listen: ["127.0.0.1:0"], routes: [{ path: "/", upstream: "app" }] }],
      upstreams: { app: { servers: [backend.address] } },
      trusted_proxies: ["127.0.0.2"],
    }),
  });
  const cases: [string, string, string][] = [
    ["a trusted proxy's chain is kept", "127.0.0.2", "203.0.113.9, 127.0.0.2"],
    ["anyone else's is replaced by the peer address", "127.0.0.1", "127.0.0.1"],
    ["a forged chain from an untrusted address is dropped", "127.0.0.3", "127.0.0.3"],
  ];
  for (const [name, from, xff] of cases) {
    await t.step(name, async () => {
      const response = parseResponse(
        await requestFrom(from, gw.port, GET("/x", ["X-Forwarded-For: 203.0.113.9", "X-Real-IP: 6.6.6.6"])),
      );
      assert.equal(response.status, 200);
      const seen = backend.requests.at(-1)!;
      assert.equal(seen.headers.get("x-forwarded-for"), xff);
      assert.equal(seen.headers.get("x-real-ip"), from);
    });
  }
});
