/**
 * PROXY protocol end to end. In: v1 and v2 headers from a trusted balancer set the client address
 * that logs, X-Forwarded-For, limits, access lists and ip_hash see; untrusted, malformed, missing
 * or slow headers close the connection, logged. Out: `send_proxy_protocol` puts a v1 or v2 header
 * before the request, and the backend reads the client's address from it.
 */
import assert from "node:assert/strict";
import { wsEchoBackend } from "./_backends.ts";
import { RawWs } from "./_clients.ts";
import { eventually, startGateway, toYaml } from "./_harness.ts";
import { bytes, concat, text, upgradeRequest } from "./_wire.ts";
import { exchange, proxyBackend, proxyV1, proxyV2 } from "./_security.ts";

function behindBalancer(upstream: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const { route, top } = extra as { route?: Record<string, unknown>; top?: Record<string, unknown> };
  return toYaml({
    servers: [{
      listen: ["127.0.0.1:0"],
      proxy_protocol: true,
      routes: [{ path: "/", upstream: "app", ...route }],
    }],
    upstreams: { app: upstream },
    trusted_proxies: ["127.0.0.0/8"],
    ...top,
  });
}

const withHeader = (header: string | Uint8Array, request = upgradeRequest({ path: "/chat" })) =>
  concat([bytes(header), bytes(request)]);

Deno.test("proxy protocol in: v1 and v2 from a trusted balancer set the client address", async (t) => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({ config: behindBalancer({ servers: [backend.address] }) });
  const cases: [string, string | Uint8Array, string, string][] = [
    ["v1 TCP4", proxyV1("203.0.113.7", "198.51.100.1", 40_001, 443), "203.0.113.7", "203.0.113.7:40001"],
    ["v1 TCP6", proxyV1("2001:db8::7", "2001:db8::1", 40_002, 443), "2001:db8::7", "[2001:db8::7]:40002"],
    [
      "v2 IPv4",
      proxyV2("192.0.2.44", "198.51.100.1", { ports: [40_003, 443] }),
      "192.0.2.44",
      "192.0.2.44:40003",
    ],
    [
      "v2 IPv6",
      proxyV2("2001:db8:0:0:0:0:0:9", "2001:db8::1", { ports: [40_004, 443] }),
      "2001:db8::9",
      "[2001:db8::9]:40004",
    ],
    [
      "v2 LOCAL (a health check): the balancer's own address",
      proxyV2("", "", { local: true }),
      "127.0.0.1",
      "",
    ],
  ];
  for (const [name, header, ip, client] of cases) {
    await t.step(name, async () => {
      const outcome = await exchange(gw.port, withHeader(header), { untilHead: true });
      assert.match(text(outcome.raw), /^HTTP\/1\.1 101 /);
      const seen = backend.requests.at(-1)!;
      assert.equal(seen.headers.get("x-forwarded-for"), ip);
      assert.equal(seen.headers.get("x-real-ip"), ip);
      if (client) await gw.waitForEvent("access", { client, status: "101" });
    });
  }
  await t.step("the header and the request may arrive in pieces; the tunnel works", async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: gw.port });
    const all = withHeader(proxyV1("203.0.113.8", "198.51.100.1"));
    for (let at = 0; at < all.length; at += 7) {
      await conn.write(all.subarray(at, at + 7));
      await new Promise((r) => setTimeout(r, 1));
    }
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    assert.match(text(buf.subarray(0, n ?? 0)), /^HTTP\/1\.1 101 /);
    conn.close();
    assert.equal(backend.requests.at(-1)?.headers.get("x-forwarded-for"), "203.0.113.8");
  });
});

Deno.test("proxy protocol in: untrusted, malformed, missing and slow headers close the connection, logged", async (t) => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: behindBalancer({ servers: [backend.address] }, { top: { limits: { handshake_timeout: "1s" } } }),
  });
  await using elsewhere = await startGateway({
    config: behindBalancer({ servers: [backend.address] }, { top: { trusted_proxies: ["10.0.0.0/8"] } }),
  });
  const cases: [string, number, string | Uint8Array, RegExp][] = [
    [
      "untrusted peer",
      elsewhere.port,
      withHeader(proxyV1("203.0.113.7", "198.51.100.1")),
      /not in trusted_proxies/,
    ],
    ["no header (plain HTTP)", gw.port, upgradeRequest(), /no PROXY protocol header/],
    [
      "malformed v1",
      gw.port,
      withHeader("PROXY TCP4 203.0.113.999 1.2.3.4 1 2\r\n"),
      /malformed PROXY header/,
    ],
    [
      "v2 with a bad version",
      gw.port,
      withHeader(Uint8Array.from([...proxyV2("1.2.3.4", "5.6.7.8")].map((b, i) => i === 12 ? 0x11 : b))),
      /version 1 is not 2/,
    ],
    ["header never finished", gw.port, "PROXY TCP4 203.0.113.7 ", /no complete PROXY header within 1000 ms/],
  ];
  for (const [name, port, data, reason] of cases) {
    await t.step(name, async () => {
      const outcome = await exchange(port, data, { timeoutMs: 3_000 });
      assert.equal(outcome.closed, true);
      assert.equal(outcome.raw.length, 0, "closed without an answer");
      const log = port === gw.port ? gw : elsewhere;
      const record = await log.waitForLine(reason);
      assert.match(record, /proxy_rejected/);
    });
  }
  assert.equal(backend.requests.length, 0);
  // The listener still serves a good client.
  const ok = await exchange(gw.port, withHeader(proxyV1("203.0.113.7", "198.51.100.1")), { untilHead: true });
  assert.match(text(ok.raw), /^HTTP\/1\.1 101 /);
});

Deno.test("proxy protocol in: the real client drives limits, access lists and X-Forwarded-For trust", async (t) => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: behindBalancer({ servers: [backend.address] }, {
      route: { allow: ["203.0.113.0/24"] },
      top: { limits: { max_connections_per_ip: 1 } },
    }),
  });
  await t.step("allow list: the stated client, not the balancer, is checked", async () => {
    const outside = await exchange(gw.port, withHeader(proxyV1("198.51.100.9", "198.51.100.1")));
    assert.equal(outside.response?.status, 403);
  });
  await t.step("per-IP limit: one client behind the balancer does not block another", async () => {
    await using _held = await exchangeOpen(gw.port, proxyV1("203.0.113.1", "198.51.100.1"));
    const second = await exchange(gw.port, withHeader(proxyV1("203.0.113.2", "198.51.100.1")), {
      untilHead: true,
    });
    assert.match(text(second.raw), /^HTTP\/1\.1 101 /);
    const again = await exchange(gw.port, withHeader(proxyV1("203.0.113.1", "198.51.100.1")));
    assert.equal(again.response?.status, 503);
  });
  await t.step("X-Forwarded-For from a client behind a trusted balancer is still not trusted", async () => {
    const request = upgradeRequest({ headers: [["X-Forwarded-For", "6.6.6.6"]] });
    const outcome = await exchange(gw.port, withHeader(proxyV1("203.0.113.3", "198.51.100.1"), request), {
      untilHead: true,
    });
    assert.match(text(outcome.raw), /^HTTP\/1\.1 101 /);
    assert.equal(backend.requests.at(-1)?.headers.get("x-forwarded-for"), "203.0.113.3");
  });
});

/** A connection that stays open (a tunnel) until disposed. */
async function exchangeOpen(port: number, header: string): Promise<AsyncDisposable> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(withHeader(header));
  const buf = new Uint8Array(4096);
  const n = await conn.read(buf);
  assert.match(text(buf.subarray(0, n ?? 0)), /^HTTP\/1\.1 101 /);
  return { [Symbol.asyncDispose]: () => Promise.resolve(conn.close()) };
}

Deno.test("proxy protocol in: ip_hash places clients by the address in the header", async () => {
  await using a = await wsEchoBackend();
  await using b = await wsEchoBackend();
  await using gw = await startGateway({
    config: behindBalancer({ servers: [a.address, b.address], balance: "ip_hash" }),
  });
  const sources = Array.from({ length: 8 }, (_, i) => `198.51.${100 + i}.7`);
  const placed = new Map<string, Set<number>>();
  for (const source of [...sources, ...sources, ...sources]) {
    const before = [a.requests.length, b.requests.length];
    const outcome = await exchange(gw.port, withHeader(proxyV1(source, "198.51.100.1")), { untilHead: true });
    assert.match(text(outcome.raw), /^HTTP\/1\.1 101 /);
    const server = a.requests.length > before[0]! ? 0 : 1;
    placed.set(source, (placed.get(source) ?? new Set()).add(server));
  }
  for (const [source, servers] of placed) assert.equal(servers.size, 1, `${source} always on one server`);
  assert.equal(new Set([...placed.values()].flatMap((s) => [...s])).size, 2, "both servers get clients");
});

Deno.test("proxy protocol out: send_proxy_protocol v1 and v2 reach the backend before the request", async (t) => {
  for (const version of ["v1", "v2"] as const) {
    await t.step(version, async () => {
      await using backend = proxyBackend();
      await using gw = await startGateway({
        config: toYaml({
          servers: [{ listen: ["127.0.0.1:0"], routes: [{ path: "/", upstream: "app" }] }],
          upstreams: { app: { servers: [backend.address], send_proxy_protocol: version } },
        }),
      });
      await using ws = await RawWs.open(gw.port);
      assert.equal(ws.response.status, 101);
      const local = ws.conn.localAddr as Deno.NetAddr;
      const [received] = backend.received;
      assert.deepEqual(received?.proxy, {
        version: version === "v1" ? 1 : 2,
        family: "TCP4",
        source: "127.0.0.1",
        dest: "127.0.0.1",
        sourcePort: local.port,
        destPort: gw.port,
      });
      assert.match(received.head, /^GET \/ HTTP\/1\.1\r\n/);
      await ws.sendText("through");
      assert.ok(await ws.next(), "the tunnel carries data after the header");
    });
  }
  await t.step("health checks send a LOCAL header too", async () => {
    await using backend = proxyBackend();
    await using _gw = await startGateway({
      config: toYaml({
        servers: [{ listen: ["127.0.0.1:0"], routes: [{ path: "/", upstream: "app" }] }],
        upstreams: {
          app: {
            servers: [backend.address],
            send_proxy_protocol: "v2",
            health_check: { type: "websocket", path: "/healthz", interval: "200ms" },
          },
        },
      }),
    });
    await eventually(() => backend.received.length > 0, 5_000, "a health check");
    assert.equal(backend.received[0]?.proxy?.family, "LOCAL");
    assert.match(backend.received[0]?.head ?? "", /^GET \/healthz HTTP\/1\.1\r\n/);
  });
  await t.step("in and out: the client stated by the balancer is passed on", async () => {
    await using backend = proxyBackend();
    await using gw = await startGateway({
      config: behindBalancer({ servers: [backend.address], send_proxy_protocol: "v2" }),
    });
    const outcome = await exchange(gw.port, withHeader(proxyV1("2001:db8::7", "2001:db8::1", 5555, 443)), {
      untilHead: true,
    });
    assert.match(text(outcome.raw), /^HTTP\/1\.1 101 /);
    assert.deepEqual(backend.received[0]?.proxy, {
      version: 2,
      family: "TCP6",
      source: "2001:db8:0:0:0:0:0:7",
      dest: "2001:db8:0:0:0:0:0:1",
      sourcePort: 5555,
      destPort: 443,
    });
  });
});
