/** The admin listener with real traffic: Prometheus numbers, draining an upstream server, log ids. */
import assert from "node:assert/strict";
import { type Backend, wsEchoBackend } from "./_backends.ts";
import { openNodeWs, RawWs } from "./_clients.ts";
import { type Gateway, oneRouteConfig, startGateway } from "./_harness.ts";
import { EchoLoop, metric, parseMetrics, progress, viaWsClient } from "./_ops.ts";
import { Opcode, rawRequest, text, upgradeRequest } from "./_wire.ts";

const ADMIN = { admin: { listen: "127.0.0.1:0" } };

async function metrics(gw: Gateway) {
  const answer = await gw.admin("GET", "/metrics");
  assert.equal(answer.status, 200);
  assert.match(answer.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return parseMetrics(text(answer.body));
}

/** Frame size on the wire for a payload under 126 bytes: 2 head bytes, plus the mask from a client. */
const frameSize = (payload: number, masked: boolean) => 2 + (masked ? 4 : 0) + payload;

Deno.test("admin: /metrics parses as Prometheus text and counts what the test did", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({ config: oneRouteConfig([backend.address], { top: ADMIN }) });
  const clients = await Promise.all([0, 1, 2].map((i) => RawWs.open(gw.port, { path: `/m${i}` })));
  let up = 0;
  let down = 0;
  try {
    for (const [i, client] of clients.entries()) {
      for (let n = 0; n <= i; n++) {
        const message = `client ${i} message ${n}`;
        await client.sendText(message);
        up += frameSize(message.length, true);
        const echo = await client.next();
        assert.equal(echo?.opcode, Opcode.text);
        assert.equal(text(echo.payload), message);
        down += frameSize(echo.payload.length, false);
      }
    }
    const bad = [
      upgradeRequest({ headers: [["Sec-WebSocket-Key", "not base64 of 16 bytes"]] }),
      "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
    ];
    for (const request of bad) assert.match(text(await rawRequest(gw.port, request)), /^HTTP\/1\.1 400 /);

    const open = await metrics(gw);
    assert.equal(metric(open, "wsgate_active_tunnels", { route: "/" }), 3, "the gauge counts open tunnels");
    assert.equal(
      metric(open, "wsgate_upstream_active_tunnels", { upstream: "app", server: backend.address }),
      3,
    );
    // Long-lived tunnels count their bytes as they go, not only when they close.
    assert.equal(metric(open, "wsgate_bytes_total", { direction: "up" }), up, "live bytes up");
    assert.equal(metric(open, "wsgate_bytes_total", { direction: "down" }), down, "live bytes down");
  } finally {
    for (const client of clients) {
      await client.closeWrite();
      down += (await client.reader.readToEnd(5_000)).length;
      await client[Symbol.asyncDispose]();
    }
  }
  const access = await Promise.all([0, 1, 2].map((i) => gw.waitForEvent("access", { path: `/m${i}` })));
  const logged = (key: string) => access.reduce((n, r) => n + Number(r.fields[key]), 0);
  assert.equal(logged("up_bytes"), up, "the access log counts what was sent");
  assert.equal(logged("down_bytes"), down, "the access log counts what came back");

  const after = await metrics(gw);
  const cases: [string, Record<string, string>, number][] = [
    ["wsgate_handshakes_total", { result: "tunnel", status: "101" }, 3],
    ["wsgate_handshakes_total", { result: "rejected", status: "400" }, 2],
    ["wsgate_tunnels_total", { route: "/" }, 3],
    ["wsgate_connections_accepted_total", { listener: "127.0.0.1:0" }, 5],
    ["wsgate_bytes_total", { direction: "up" }, up],
    ["wsgate_bytes_total", { direction: "down" }, down],
    ["wsgate_active_tunnels", { route: "/" }, 0],
    ["wsgate_upstream_server_healthy", { upstream: "app", server: backend.address }, 1],
    ["wsgate_draining", {}, 0],
    ["wsgate_reloads_total", { result: "ok" }, 0],
  ];
  for (const [name, labels, value] of cases) {
    assert.equal(metric(after, name, labels), value, `${name}${JSON.stringify(labels)}`);
  }
  const tunnelSeconds = after.find((f) => f.name === "wsgate_tunnel_duration_seconds");
  assert.equal(tunnelSeconds?.type, "HISTOGRAM");

  const json = await gw.admin("GET", "/metrics.json");
  assert.equal(json.status, 200);
  assert.ok(Array.isArray((JSON.parse(text(json.body)) as { counters: unknown[] }).counters));
});

/** Opens `n` tunnels one after the other and tells which backend saw each upgrade. */
async function landings(gw: Gateway, backends: Backend[], n: number, tag: string): Promise<number[]> {
  const counts = backends.map(() => 0);
  for (let i = 0; i < n; i++) {
    const path = `/${tag}/${i}`;
    await using client = await openNodeWs(`ws://127.0.0.1:${gw.port}${path}`);
    client.send(path);
    assert.equal(await client.next(), path);
    counts[backends.findIndex((b) => b.requests.some((r) => r.url === path))]!++;
  }
  return counts;
}

interface ServerStatus {
  address: string;
  drained: boolean;
  active: number;
}

async function servers(gw: Gateway): Promise<ServerStatus[]> {
  const answer = await gw.admin("GET", "/status.json");
  assert.equal(answer.status, 200);
  const status = JSON.parse(text(answer.body)) as { upstreams: { name: string; servers: ServerStatus[] }[] };
  return status.upstreams.find((u) => u.name === "app")!.servers;
}

Deno.test("admin: drain sends new tunnels elsewhere while the drained server's tunnel keeps echoing", async () => {
  await using a = await wsEchoBackend();
  await using b = await wsEchoBackend();
  const backends = [a, b];
  await using gw = await startGateway({ config: oneRouteConfig([a.address, b.address], { top: ADMIN }) });
  await using held = await openNodeWs(`ws://127.0.0.1:${gw.port}/held`);
  const drained = backends.find((x) => x.requests.some((r) => r.url === "/held"))!;
  const other = backends.find((x) => x !== drained)!;
  const loop = new EchoLoop("held", viaWsClient(held));
  try {
    const path = `/upstreams/app/servers/${encodeURIComponent(drained.address)}`;
    assert.equal((await gw.admin("POST", `${path}/drain`)).status, 200);
    await gw.waitForEvent("server_drained", { upstream: "app", server: drained.address });
    const state = await servers(gw);
    assert.deepEqual(state.map((s) => [s.address, s.drained, s.active]), [
      [a.address, drained === a, drained === a ? 1 : 0],
      [b.address, drained === b, drained === b ? 1 : 0],
    ]);

    const whileDrained = await landings(gw, backends, 10, "drained");
    assert.equal(whileDrained[backends.indexOf(other)], 10, "all 10 new tunnels go to the other server");
    await progress([loop], 20);

    assert.equal((await gw.admin("POST", `${path}/undrain`)).status, 200);
    assert.ok((await servers(gw)).every((s) => !s.drained));
    const restored = await landings(gw, backends, 10, "restored");
    assert.ok(restored.every((n) => n > 0), `both servers take tunnels again: ${restored}`);

    const unknown = await gw.admin("POST", "/upstreams/app/servers/127.0.0.1%3A1/drain");
    assert.equal(unknown.status, 404);
    assert.equal((await gw.admin("GET", `${path}/drain`)).status, 405);
    await progress([loop], 5);
  } finally {
    await loop.stop();
  }
  assert.equal(loop.failure, undefined);
});

Deno.test("admin: tunnel_open and access records of a connection share its id", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({ config: oneRouteConfig([backend.address]) });
  {
    await using client = await RawWs.open(gw.port, { path: "/traced" });
    assert.equal(client.response.status, 101);
    const clientAddr = `127.0.0.1:${(client.conn.localAddr as Deno.NetAddr).port}`;
    const open = await gw.waitForEvent("tunnel_open", { client: clientAddr });
    await client.closeWrite();
    await client.reader.readToEnd(5_000);
    const access = await gw.waitForEvent("access", { path: "/traced" });
    assert.match(open.fields.id ?? "", /^\d+$/);
    assert.deepEqual(
      [access.fields.id, access.fields.client, access.fields.upstream, access.fields.status],
      [open.fields.id, clientAddr, open.fields.upstream, "101"],
    );
  }
});
