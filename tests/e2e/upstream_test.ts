/** The upstream side of the handshake (DESIGN §4): refusals, failover, bad 101s, timeouts. */
import assert from "node:assert/strict";
import net from "node:net";
import { blackhole, deadPort, rawBackend, type RawScript, switching, wsEchoBackend } from "./_backends.ts";
import { openDenoWs } from "./_clients.ts";
import { eventually, oneRouteConfig, startGateway, synSentTo, toYaml } from "./_harness.ts";
import { exchange, proxyV1 } from "./_security.ts";
import { parseResponse, rawRequest, text, upgradeRequest } from "./_wire.ts";

const adHoc = (...upstreams: string[]) => ({
  args: ["--listen", "127.0.0.1:0", ...upstreams.flatMap((u) => ["--upstream", u])],
});

/**
 * Answers other than 101, each to be relayed exactly: by the scripted backend, which keeps its
 * socket open unless the body runs to the close (the gateway must find the end by the framing).
 */
const NON_101: {
  name: string;
  answer: string;
  status: number;
  reason: string;
  headers?: Record<string, string>;
  body: string;
  closeDelimited?: boolean;
}[] = [
  {
    name: "403 with Content-Length",
    answer: "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nforbidden",
    status: 403,
    reason: "Forbidden",
    headers: { "content-type": "text/plain" },
    body: "forbidden",
  },
  {
    name: "chunked 503",
    answer: "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    status: 503,
    reason: "Service Unavailable",
    body: "hello",
  },
  {
    name: "200 delimited by the close",
    answer: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
    status: 200,
    reason: "OK",
    body: "until the end",
    closeDelimited: true,
  },
];

Deno.test("upstream: a non-101 answer reaches the client exactly, body and all, then the connection closes", async (t) => {
  await using refusing = await wsEchoBackend({
    reject: { status: 403, body: "go away, you are not on the list" },
  });
  await using raw = rawBackend(async (peer) => {
    const row = NON_101[Number(/^GET \/raw\/(\d+)/.exec(peer.head)?.[1])]!;
    await peer.write(row.answer);
    if (!row.closeDelimited) await peer.closing;
  });
  await using gw = await startGateway({
    config: toYaml({
      servers: [{
        listen: ["127.0.0.1:0"],
        routes: [{ path: "/raw/", upstream: "raw" }, { path: "/", upstream: "refusing" }],
      }],
      upstreams: { raw: { servers: [raw.address] }, refusing: { servers: [refusing.address] } },
    }),
  });

  await t.step("an npm ws server refusing the upgrade: 403 with its body", async () => {
    const outcome = await exchange(gw.port, upgradeRequest({ path: "/private" }));
    assert.equal(outcome.closed, true);
    const response = outcome.response!;
    assert.equal(response.status, 403);
    assert.equal(response.reason, "Forbidden");
    assert.equal(response.headers.get("content-type"), "text/html");
    assert.equal(text(response.body), "go away, you are not on the list");
    assert.equal(refusing.requests.length, 1);
  });

  for (const [i, { name, status, reason, headers, body, closeDelimited }] of NON_101.entries()) {
    await t.step(
      `${name}, the backend's socket ${closeDelimited ? "closed after it" : "kept open"}`,
      async () => {
        const outcome = await exchange(gw.port, upgradeRequest({ path: `/raw/${i}` }));
        assert.equal(outcome.closed, true, "closed after the answer");
        const response = outcome.response!;
        assert.equal(response.status, status);
        assert.equal(response.reason, reason);
        for (const [header, value] of Object.entries(headers ?? {})) {
          assert.equal(response.headers.get(header), value, header);
        }
        assert.equal(text(response.body), body);
        assert.equal(raw.heads.length, i + 1);
      },
    );
  }
});

Deno.test("upstream: nothing listening on any server of the group -> 502 within 1 s, each failure logged in the OS's words", async () => {
  const dead = [`127.0.0.1:${deadPort()}`, `127.0.0.1:${deadPort()}`];
  await using gw = await startGateway(adHoc(...dead));
  const started = Date.now();
  const response = parseResponse(await rawRequest(gw.port, upgradeRequest()));
  const elapsed = Date.now() - started;
  assert.equal(response.status, 502);
  assert.ok(elapsed < 1_000, `502 after ${elapsed} ms`);
  const failedAt = (server: string) =>
    gw.records("upstream_failed").find((r) => r.fields.upstream?.includes(server));
  await eventually(() => dead.every(failedAt), 3_000, "an upstream_failed line per server tried");
  for (const server of dead) {
    // Worded the same on every runtime (Bun's own words would be "Failed to connect").
    assert.match(
      failedAt(server)!.fields.reason ?? "",
      /^connect failed: Connection refused \(os error 111\)$/,
    );
  }
});

Deno.test("upstream: with the first server down every handshake succeeds on the second", async () => {
  const dead = `127.0.0.1:${deadPort()}`;
  await using backend = await wsEchoBackend();
  await using gw = await startGateway(adHoc(dead, backend.address));
  for (let i = 0; i < 3; i++) {
    await using client = await openDenoWs(`ws://127.0.0.1:${gw.port}/failover/${i}`);
    client.send(`attempt ${i}`);
    assert.equal(await client.next(), `attempt ${i}`);
  }
  assert.equal(backend.requests.length, 3);
  assert.ok(
    gw.records("upstream_failed").some((r) => r.fields.upstream?.includes(dead)),
    "the failure is logged",
  );
});

const BAD_ANSWERS: { name: string; script: RawScript }[] = [
  {
    name: "wrong Sec-WebSocket-Accept",
    script: (p) => p.write(switching(p.head, "dGhpcyBpcyB3cm9uZyEhIQ==")),
  },
  {
    name: "101 without Upgrade: websocket",
    script: (p) => p.write(switching(p.head).replace("Upgrade: websocket\r\n", "")),
  },
  {
    name: "101 without Connection: Upgrade",
    script: (p) => p.write(switching(p.head).replace("Connection: Upgrade\r\n", "")),
  },
  {
    name: "101 without Sec-WebSocket-Accept",
    script: (p) => p.write(switching(p.head).replace(/Sec-WebSocket-Accept: \S+\r\n/, "")),
  },
  { name: "closes without answering", script: async () => {} },
  { name: "garbage instead of a status line", script: (p) => p.write("SSH-2.0-OpenSSH_9.6\r\n\r\n") },
];

for (const { name, script } of BAD_ANSWERS) {
  Deno.test(`upstream: ${name} -> 502`, async () => {
    await using backend = rawBackend(script);
    await using gw = await startGateway(adHoc(backend.address));
    const response = parseResponse(await rawRequest(gw.port, upgradeRequest()));
    assert.equal(response.status, 502);
    assert.equal(backend.heads.length, 1);
  });
}

Deno.test("upstream: no answer within handshake_timeout -> 504", async () => {
  await using backend = rawBackend((peer) => peer.closing);
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address], { top: { limits: { handshake_timeout: "1s" } } }),
  });
  const started = Date.now();
  const response = parseResponse(await rawRequest(gw.port, upgradeRequest(), { timeoutMs: 8_000 }));
  const elapsed = Date.now() - started;
  assert.equal(response.status, 504);
  assert.ok(elapsed >= 900 && elapsed < 3_000, `504 after ${elapsed} ms`);
});

/**
 * A client that resets while its upstream has not answered: 499 at once and the upstream let go,
 * twice over (the second try proves the server was not marked failed). `prefix` goes before each
 * request (a PROXY header for a proxy_protocol listener).
 */
async function clientGoneEarly(
  config: (backend: string) => { args: string[] } | { config: string },
  prefix = "",
) {
  const upstreamClosed: number[] = [];
  await using backend = rawBackend(async (peer) => {
    await peer.reader.readToEnd(15_000); // never answers; EOF comes when the gateway lets go
    upstreamClosed.push(Date.now());
  });
  await using gw = await startGateway(config(backend.address));
  for (let i = 0; i < 2; i++) {
    const path = `/gone/${i}`;
    const request = prefix + upgradeRequest({ path });
    const left = await resetAfter(gw.port, request, () => backend.heads.length > i);
    const access = await gw.waitForEvent("access", { path }, 5_000);
    assert.equal(access.fields.status, "499");
    assert.equal(access.fields.closed_by, "client");
    await eventually(() => upstreamClosed.length > i, 5_000, "the upstream connection closed");
    const after = upstreamClosed[i]! - left;
    assert.ok(after < 2_000, `upstream closed ${after} ms after the client left (not at handshake_timeout)`);
  }
  // Giving up is the client's doing: the server is not marked failed (the second try reached it).
  assert.deepEqual(gw.records("upstream_failed"), []);
  return gw.records("access").map((r) => r.fields.client);
}

Deno.test("upstream: a client that resets before the answer gets the upstream closed at once, 499", async () => {
  await clientGoneEarly((address) => adHoc(address));
});

Deno.test("upstream: behind proxy_protocol too, the early 499 works (the PROXY view keeps peerGone)", async () => {
  const behindBalancer = (address: string) => ({
    config: toYaml({
      servers: [{ listen: ["127.0.0.1:0"], proxy_protocol: true, routes: [{ path: "/", upstream: "app" }] }],
      upstreams: { app: { servers: [address] } },
      trusted_proxies: ["127.0.0.0/8"],
    }),
  });
  const clients = await clientGoneEarly(behindBalancer, proxyV1("203.0.113.9", "127.0.0.1", 40_009, 443));
  assert.deepEqual(clients, ["203.0.113.9:40009", "203.0.113.9:40009"]);
});

Deno.test("upstream: a client that resets while the connect to its upstream hangs is let go at once, 499", async () => {
  await using target = await blackhole();
  await using gw = await startGateway({
    config: oneRouteConfig([target.address], { upstream: { connect_timeout: "30s" } }),
  });
  const targetPort = Number(target.address.split(":")[1]);
  const left = await resetAfter(
    gw.port,
    upgradeRequest({ path: "/dialling" }),
    () => synSentTo(targetPort) > 0,
  );
  const access = await gw.waitForEvent("access", { path: "/dialling" }, 10_000);
  assert.equal(access.fields.status, "499");
  const after = Date.now() - left;
  assert.ok(after < 5_000, `let go ${after} ms after the client left (not at connect_timeout)`);
  assert.deepEqual(gw.records("upstream_failed"), [], "giving up is the client's doing");
});

async function resetAfter(port: number, request: string, arrived: () => boolean): Promise<number> {
  const socket = net.connect(port, "127.0.0.1");
  await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  socket.write(request);
  await eventually(arrived, 5_000, "the request reached the upstream");
  const closed = new Promise((resolve) => socket.once("close", resolve));
  socket.resetAndDestroy();
  await closed;
  return Date.now();
}
