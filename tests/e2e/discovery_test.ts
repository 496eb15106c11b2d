/**
 * DNS discovery (DESIGN §3c) against a real DNS server on loopback (dnsmasq, _dns.ts) and real
 * backends on distinct loopback addresses 127.0.0.x: initial answers, addresses added and removed
 * under open tunnels, a dead name server, SRV weights and backups, a name that resolves late,
 * per-server state across re-resolution and reload, and hash picks that agree across instances.
 */
import assert from "node:assert/strict";
import { type Backend, denoEchoBackend, wsEchoBackend } from "./_backends.ts";
import { backendOf, handshake, handshakes } from "./_balance.ts";
import { openNodeWs } from "./_clients.ts";
import { Dnsmasq } from "./_dns.ts";
import { CA_PEM, CERTS, eventually, type Gateway, startGateway, toYaml } from "./_harness.ts";
import { EchoLoop, metric, progress, scrapeMetrics, viaWsClient } from "./_ops.ts";
import { parseResponse, rawRequest, text } from "./_wire.ts";

type WsBackend = Awaited<ReturnType<typeof wsEchoBackend>>;

interface Backends extends AsyncDisposable {
  /** Typed as four for destructuring; as long as asked for. */
  list: [WsBackend, WsBackend, WsBackend, WsBackend];
}

/** Echo backends on 127.0.0.2, .3 ... sharing one port, as the pods behind one name do. */
async function loopbackBackends(count: number): Promise<Backends> {
  for (;;) {
    const first = await wsEchoBackend({ host: "127.0.0.2" });
    const port = Number(first.address.split(":")[1]);
    const all = [first];
    try {
      for (let i = 1; i < count; i++) all.push(await wsEchoBackend({ host: `127.0.0.${2 + i}`, port }));
      return {
        list: all as Backends["list"],
        [Symbol.asyncDispose]: () => Promise.all(all.map((b) => b.close())).then(() => {}),
      };
    } catch {
      // The port is taken on one of the other addresses: try another.
      await Promise.all(all.map((b) => b.close()));
    }
  }
}

const portOf = (backend: Backend) => Number(backend.address.split(":")[1]);
const hostOf = (backend: Backend) => backend.address.split(":")[0]!;

function config(dns: Dnsmasq, servers: unknown[], upstream: Record<string, unknown> = {}): string {
  return toYaml({
    servers: [{ listen: ["127.0.0.1:0"], routes: [{ path: "/", upstream: "app" }] }],
    upstreams: {
      app: {
        servers,
        resolver: { nameservers: [dns.nameserver], interval: "300ms", timeout: "1s" },
        ...upstream,
      },
    },
    admin: { listen: "127.0.0.1:0" },
  });
}

interface ServerStatus {
  address: string;
  weight: number;
  backup: boolean;
  drained: boolean;
  active: number;
}

async function statusServers(gw: Gateway): Promise<ServerStatus[]> {
  const answer = await gw.admin("GET", "/status.json");
  assert.equal(answer.status, 200);
  const status = JSON.parse(text(answer.body)) as { upstreams: { name: string; servers: ServerStatus[] }[] };
  return status.upstreams.find((u) => u.name === "app")!.servers;
}

/** Which backends (by index) `count` new tunnels reached. */
async function landings(
  gw: Gateway,
  backends: readonly Backend[],
  count: number,
  tag: string,
): Promise<number[]> {
  const statuses = await handshakes(gw.port, { count, parallel: 4, path: (i) => `/${tag}/${i}` });
  assert.deepEqual(statuses, new Array(count).fill(101), tag);
  const counts = backends.map(() => 0);
  for (let i = 0; i < count; i++) counts[backendOf(backends, `/${tag}/${i}`)]!++;
  return counts;
}

Deno.test("discovery: every A answer is a server; an added one takes tunnels, a removed one only keeps its own", async () => {
  await using backends = await loopbackBackends(3);
  const [a, b, c] = backends.list;
  await using dns = await Dnsmasq.start({ "app.test": [hostOf(a), hostOf(b)] });
  await using gw = await startGateway({
    config: config(dns, [{ address: `app.test:${portOf(a)}`, resolve: true }]),
  });
  // The first answers are in use from the first connection on.
  assert.deepEqual(await landings(gw, backends.list, 8, "initial"), [4, 4, 0]);
  assert.deepEqual((await statusServers(gw)).map((s) => s.address), [a.address, b.address]);
  const families = await scrapeMetrics(gw);
  assert.equal(metric(families, "wsgate_upstream_server_healthy", { upstream: "app", server: a.address }), 1);

  await using held = await openNodeWs(`ws://127.0.0.1:${gw.port}/held`);
  const holder = backends.list.find((x) => x.requests.some((r) => r.url === "/held"))!;
  const loop = new EchoLoop("held", viaWsClient(held));
  try {
    const kept = holder === a ? b : a;
    await dns.setHosts({ "app.test": [hostOf(kept), hostOf(c)] });
    await gw.waitForEvent("upstream_added", { upstream: "app", server: c.address });
    await gw.waitForEvent("upstream_removed", { upstream: "app", server: holder.address, open_tunnels: "1" });
    const after = await landings(gw, backends.list, 8, "after");
    assert.equal(after[backends.list.indexOf(holder)], 0, "no new tunnel on the removed address");
    assert.equal(after[backends.list.indexOf(kept)], 4);
    assert.equal(after[backends.list.indexOf(c)], 4);
    // The removed server's tunnel runs on, untouched, and is still counted against it.
    await progress([loop], 20);
    const status = await statusServers(gw);
    assert.deepEqual(status.map((s) => s.address).sort(), [kept.address, c.address].sort());
    const scraped = await scrapeMetrics(gw);
    assert.throws(
      () => metric(scraped, "wsgate_upstream_server_healthy", { upstream: "app", server: holder.address }),
      /no series/,
      "a removed server leaves /metrics' health series",
    );
    assert.equal(
      metric(scraped, "wsgate_upstream_server_healthy", { upstream: "app", server: c.address }),
      1,
    );
  } finally {
    await loop.stop();
  }
  assert.equal(loop.failure, undefined);
});

Deno.test("discovery: a dead name server keeps the last answer, resolve_failed once, counted each time", async () => {
  await using backends = await loopbackBackends(2);
  const [a, b] = backends.list;
  await using dns = await Dnsmasq.start({ "app.test": [hostOf(a), hostOf(b)] });
  await using gw = await startGateway({
    config: config(dns, [{ address: `app.test:${portOf(a)}`, resolve: true }]),
  });
  await dns.stop();
  await gw.waitForEvent("resolve_failed", {
    upstream: "app",
    name: "app.test",
    note: "keeping the last answer",
  });
  await eventually(
    async () =>
      metric(await scrapeMetrics(gw), "wsgate_resolve_failures_total", {
        upstream: "app",
        name: "app.test",
      }) >= 3,
    10_000,
    "three failed rounds",
  );
  assert.deepEqual(await landings(gw, backends.list, 6, "dead-dns"), [3, 3]);
  assert.equal(gw.records("resolve_failed").length, 1, "one line per failure streak");
  assert.equal(gw.records("upstream_removed").length, 0);
  await dns.restart();
  await gw.waitForEvent("resolve_recovered", { upstream: "app", name: "app.test" });
});

Deno.test("discovery: SRV weights balance, the lowest priority are primaries and the rest backups", async () => {
  await using backends = await loopbackBackends(3);
  const [a, b, c] = backends.list;
  const port = portOf(a);
  await using dns = await Dnsmasq.start(
    { "a.test": [hostOf(a)], "b.test": [hostOf(b)], "c.test": [hostOf(c)] },
    [
      { name: "_ws._tcp.app.test", target: "a.test", port, priority: 10, weight: 3 },
      { name: "_ws._tcp.app.test", target: "b.test", port, priority: 10, weight: 1 },
      { name: "_ws._tcp.app.test", target: "c.test", port, priority: 20, weight: 5 },
    ],
  );
  await using gw = await startGateway({ config: config(dns, [{ srv: "_ws._tcp.app.test" }]) });
  assert.deepEqual(
    (await statusServers(gw)).map((s) => [s.address, s.weight, s.backup]),
    [[a.address, 3, false], [b.address, 1, false], [c.address, 5, true]],
  );
  assert.deepEqual(await landings(gw, backends.list, 20, "weights"), [15, 5, 0]);
  // Primaries gone from the answer: the backup takes everything.
  await dns.setSrv([{ name: "_ws._tcp.app.test", target: "c.test", port, priority: 20, weight: 5 }]);
  await gw.waitForEvent("upstream_removed", { server: b.address });
  await eventually(async () => (await statusServers(gw)).length === 1, 5_000, "one server left");
  assert.deepEqual(await landings(gw, backends.list, 4, "backup"), [0, 0, 4]);
});

Deno.test("discovery: a name that does not resolve at start is a warning and 502 until it resolves", async () => {
  await using backends = await loopbackBackends(1);
  const [a] = backends.list;
  await using dns = await Dnsmasq.start({});
  // First no name server at all, then one that has no such name, then the name.
  await dns.stop();
  await using gw = await startGateway({
    config: config(dns, [{ address: `late.test:${portOf(a)}`, resolve: true }]),
  });
  const failed = await gw.waitForEvent("resolve_failed", { upstream: "app", name: "late.test" });
  assert.equal(failed.level, "warn");
  assert.equal(failed.fields.note, "no servers from this name until it resolves");
  const refused = async (tag: string) => {
    assert.equal(await handshake(gw.port, { path: `/${tag}` }), 502, tag);
    const plain = parseResponse(
      await rawRequest(gw.port, `GET /${tag}-plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    );
    assert.equal(plain.status, 502, tag);
  };
  await refused("no-dns");
  await dns.restart();
  await gw.waitForEvent("resolve_recovered", { name: "late.test" });
  assert.equal(
    (await gw.waitForEvent("resolve_empty", { upstream: "app", name: "late.test" })).level,
    "warn",
  );
  await refused("nxdomain");
  // IPv4 only: the AAAA question has no answer, which is not a failure.
  await dns.setHosts({ "late.test": [hostOf(a)] });
  await gw.waitForEvent("upstream_added", { upstream: "app", server: a.address });
  assert.equal(await handshake(gw.port, { path: "/late" }), 101);
  assert.equal(gw.records("resolve_failed").length, 1);
  assert.equal(a.requests.length, 1, "nothing reached the backend before its name resolved");
});

Deno.test("discovery: a drained server stays drained across a re-resolution and a reload", async () => {
  await using backends = await loopbackBackends(3);
  const [a, b, c] = backends.list;
  await using dns = await Dnsmasq.start({ "app.test": [hostOf(a), hostOf(b)] });
  const yaml = config(dns, [{ address: `app.test:${portOf(a)}`, resolve: true }]);
  await using gw = await startGateway({ config: yaml });
  const drain = await gw.admin("POST", `/upstreams/app/servers/${encodeURIComponent(a.address)}/drain`);
  assert.equal(drain.status, 200);
  await dns.setHosts({ "app.test": [hostOf(a), hostOf(b), hostOf(c)] });
  await gw.waitForEvent("upstream_added", { server: c.address });
  assert.deepEqual(await landings(gw, backends.list, 6, "resolved"), [0, 3, 3]);
  // A reload builds new groups from the same answers: the drain is kept by address.
  await gw.writeConfig(yaml.replace('interval: "300ms"', 'interval: "400ms"'));
  Deno.kill(gw.pid, "SIGHUP");
  await gw.waitForEvent("reloaded");
  assert.deepEqual((await statusServers(gw)).map((s) => [s.address, s.drained]), [
    [a.address, true],
    [b.address, false],
    [c.address, false],
  ]);
  assert.deepEqual(await landings(gw, backends.list, 6, "reloaded"), [0, 3, 3]);
});

Deno.test("discovery: hash picks depend only on the answered addresses: two instances agree", async () => {
  await using backends = await loopbackBackends(4);
  await using dns = await Dnsmasq.start({ "app.test": backends.list.map(hostOf) });
  const yaml = config(dns, [{ address: `app.test:${portOf(backends.list[0])}`, resolve: true }], {
    balance: "hash",
    hash_key: "header:X-User",
  });
  await using one = await startGateway({ config: yaml });
  await using two = await startGateway({ config: yaml });
  const keys = Array.from({ length: 24 }, (_, i) => `user-${i}`);
  const picks = async (gw: Gateway, tag: string) => {
    const landed: number[] = [];
    for (const key of keys) {
      const path = `/${tag}/${key}`;
      assert.equal(await handshake(gw.port, { path, headers: [["X-User", key]] }), 101);
      landed.push(backendOf(backends.list, path));
    }
    return landed;
  };
  const first = await picks(one, "one");
  assert.deepEqual(await picks(two, "two"), first);
  assert.ok(new Set(first).size > 1, `keys spread over the servers: ${first}`);
});

Deno.test("discovery under attack: 300 addresses in one answer (past UDP's 512 bytes) all become servers", async () => {
  await using backends = await loopbackBackends(2);
  const [a, b] = backends.list;
  // 298 addresses nobody listens on, and two that answer.
  const many = Array.from({ length: 298 }, (_, i) => `127.1.${i >> 7}.${(i & 0x7f) + 1}`);
  await using dns = await Dnsmasq.start({ "app.test": [...many, hostOf(a), hostOf(b)] });
  await using gw = await startGateway({
    config: config(dns, [{ address: `app.test:${portOf(a)}`, resolve: true }], { balance: "least_conn" }),
  });
  assert.equal((await statusServers(gw)).length, 300);
  assert.equal(gw.records("upstream_added").length, 300);
  // Dead addresses are tried and taken out (max_fails 1); every tunnel still finds a live one.
  const statuses = await handshakes(gw.port, { count: 10, parallel: 2, path: (i) => `/many/${i}` });
  assert.deepEqual(statuses, new Array(10).fill(101));
});

Deno.test("discovery under attack: answers flapping every interval keep the tunnels and each server's state", async () => {
  await using backends = await loopbackBackends(3);
  const [a, b, c] = backends.list;
  await using dns = await Dnsmasq.start({ "app.test": [hostOf(a), hostOf(b)] });
  await using gw = await startGateway({
    config: config(dns, [{ address: `app.test:${portOf(a)}`, resolve: true }]),
  });
  await using held = await openNodeWs(`ws://127.0.0.1:${gw.port}/held`);
  const holder = backends.list.find((x) => x.requests.some((r) => r.url === "/held"))!;
  const loop = new EchoLoop("held", viaWsClient(held));
  const drain = await gw.admin("POST", `/upstreams/app/servers/${encodeURIComponent(c.address)}/drain`);
  assert.equal(drain.status, 404, "c is not a server yet");
  try {
    for (let round = 0; round < 4; round++) {
      // The holder leaves and comes back; c comes and goes.
      const answer = round % 2 === 0 ? [hostOf(c)] : [hostOf(holder), hostOf(c)];
      const removals = gw.records("upstream_removed").length;
      const additions = gw.records("upstream_added").length;
      await dns.setHosts({ "app.test": answer });
      await eventually(
        () =>
          gw.records("upstream_removed").length > removals || gw.records("upstream_added").length > additions,
        5_000,
        `round ${round} applied`,
      );
      await progress([loop], 5);
    }
    // Back in the answer, the removed-then-re-added server still counts its open tunnel.
    const status = await statusServers(gw);
    assert.equal(status.find((s) => s.address === holder.address)?.active, 1, JSON.stringify(status));
  } finally {
    await loop.stop();
  }
  assert.equal(loop.failure, undefined);
  assert.ok(loop.count > 0);
});

Deno.test("discovery under attack: SRV targets at the gateway's own listener or admin address are ignored", async () => {
  await using backends = await loopbackBackends(1);
  const [a] = backends.list;
  const port = portOf(a);
  const srv = (target: string, at: number) => ({
    name: "_ws._tcp.app.test",
    target,
    port: at,
    priority: 10,
    weight: 1,
  });
  await using dns = await Dnsmasq.start({ "a.test": [hostOf(a)], "self.test": ["127.0.0.1"] }, [
    srv("a.test", port),
  ]);
  await using gw = await startGateway({ config: config(dns, [{ srv: "_ws._tcp.app.test" }]) });
  // Each would chain one request through the gateway until its descriptors run out.
  await dns.setSrv([srv("a.test", port), srv("self.test", gw.port), srv("self.test", gw.adminPort)]);
  for (const own of [gw.port, gw.adminPort]) {
    const ignored = await gw.waitForEvent("upstream_ignored", {
      upstream: "app",
      server: `127.0.0.1:${own}`,
    });
    assert.match(String(ignored.fields.reason), new RegExp(`own listener 127\\.0\\.0\\.1:${own}`));
  }
  // The backend alone is a server, and later rounds (every 300 ms) log nothing new.
  assert.deepEqual((await statusServers(gw)).map((s) => s.address), [a.address]);
  assert.deepEqual(await landings(gw, [a], 6, "own"), [6]);
  assert.equal(gw.records("upstream_ignored").length, 2);
  assert.equal(
    gw.records("upstream_added").filter((r) => String(r.fields.server).startsWith("127.0.0.1:")).length,
    0,
  );
});

Deno.test("discovery: an AAAA answer is a server too, dialled over IPv6", async () => {
  await using v6 = await wsEchoBackend({ host: "::1" });
  const port = Number(v6.address.slice(v6.address.lastIndexOf(":") + 1));
  await using v4 = await wsEchoBackend({ host: "127.0.0.2", port });
  await using dns = await Dnsmasq.start({ "dual.test": ["::1", "127.0.0.2"] });
  await using gw = await startGateway({
    config: config(dns, [{ address: `dual.test:${port}`, resolve: true }]),
  });
  assert.deepEqual((await statusServers(gw)).map((s) => s.address), [`127.0.0.2:${port}`, `[::1]:${port}`]);
  assert.deepEqual(await landings(gw, [v4, v6], 4, "dual"), [2, 2]);
});

Deno.test("discovery: wss:// with resolve: TLS to each address, verified for the name looked up", async () => {
  const read = (name: string) => Deno.readTextFileSync(`${CERTS}${name}`);
  await using backend = await denoEchoBackend({
    tls: { cert: read("backend.pem"), key: read("backend-key.pem") },
  });
  await using dns = await Dnsmasq.start({ "backend.test": ["127.0.0.1"], "other.test": ["127.0.0.1"] });
  const gateway = (name: string) =>
    startGateway({
      files: { "ca.pem": CA_PEM },
      config: config(dns, [{ address: `wss://${name}:${portOf(backend)}`, resolve: true }], {
        tls: { ca: "ca.pem" },
      }),
    });
  {
    await using gw = await gateway("backend.test");
    assert.deepEqual((await statusServers(gw)).map((s) => s.address), [`wss://127.0.0.1:${portOf(backend)}`]);
    assert.equal(await handshake(gw.port, { path: "/tls" }), 101);
    assert.equal(backend.requests.at(-1)?.url, "/tls");
  }
  // The certificate names backend.test, not the name that was looked up: refused.
  await using gw = await gateway("other.test");
  assert.equal(await handshake(gw.port, { path: "/wrong-name" }), 502);
  assert.ok(!backend.requests.some((r) => r.url === "/wrong-name"));
});
