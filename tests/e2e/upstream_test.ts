/** The upstream side of the handshake (DESIGN §4): refusals, failover, bad 101s, timeouts. */
import assert from "node:assert/strict";
import net from "node:net";
import { deadPort, rawBackend, type RawScript, switching, wsEchoBackend } from "./_backends.ts";
import { openDenoWs } from "./_clients.ts";
import { eventually, oneRouteConfig, startGateway } from "./_harness.ts";
import { parseResponse, rawRequest, text, upgradeRequest } from "./_wire.ts";

const adHoc = (...upstreams: string[]) => ({
  args: ["--listen", "127.0.0.1:0", ...upstreams.flatMap((u) => ["--upstream", u])],
});

Deno.test("upstream: a 403 with a body from the backend reaches the client exactly", async () => {
  await using backend = await wsEchoBackend({
    reject: { status: 403, body: "go away, you are not on the list" },
  });
  await using gw = await startGateway(adHoc(backend.address));
  const response = parseResponse(await rawRequest(gw.port, upgradeRequest({ path: "/private" })));
  assert.equal(response.status, 403);
  assert.equal(response.reason, "Forbidden");
  assert.equal(response.headers.get("content-type"), "text/html");
  assert.equal(text(response.body), "go away, you are not on the list");
  assert.equal(backend.requests.length, 1);
});

Deno.test("upstream: nothing listening -> 502 within 1 s", async () => {
  await using gw = await startGateway(adHoc(`127.0.0.1:${deadPort()}`));
  const started = Date.now();
  const response = parseResponse(await rawRequest(gw.port, upgradeRequest()));
  const elapsed = Date.now() - started;
  assert.equal(response.status, 502);
  assert.ok(elapsed < 1_000, `502 after ${elapsed} ms`);
});

Deno.test("upstream: with the first server down every handshake succeeds on the second", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway(adHoc(`127.0.0.1:${deadPort()}`, backend.address));
  for (let i = 0; i < 3; i++) {
    await using client = await openDenoWs(`ws://127.0.0.1:${gw.port}/failover/${i}`);
    client.send(`attempt ${i}`);
    assert.equal(await client.next(), `attempt ${i}`);
  }
  assert.equal(backend.requests.length, 3);
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

Deno.test("upstream: a client that resets before the answer gets the upstream closed at once, 499", async () => {
  const upstreamClosed: number[] = [];
  await using backend = rawBackend(async (peer) => {
    await peer.reader.readToEnd(15_000); // never answers; EOF comes when the gateway lets go
    upstreamClosed.push(Date.now());
  });
  await using gw = await startGateway(adHoc(backend.address));
  for (let i = 0; i < 2; i++) {
    const path = `/gone/${i}`;
    const left = await resetAfter(gw.port, upgradeRequest({ path }), () => backend.heads.length > i);
    const access = await gw.waitForEvent("access", { path }, 5_000);
    assert.equal(access.fields.status, "499");
    assert.equal(access.fields.closed_by, "client");
    await eventually(() => upstreamClosed.length > i, 5_000, "the upstream connection closed");
    const after = upstreamClosed[i]! - left;
    assert.ok(after < 2_000, `upstream closed ${after} ms after the client left (not at handshake_timeout)`);
  }
  // Giving up is the client's doing: the server is not marked failed (the second try reached it).
  assert.deepEqual(gw.records("upstream_failed"), []);
});

/** Sends `request`, waits until `arrived()`, then resets the connection; returns when. A FIN is
 * a half-close, not a departure (contract_wire_tunnel_test.ts: data + FIN still get the 101). */
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
