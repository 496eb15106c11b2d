/** After the 101 (DESIGN §4 "Tunnel"): half-close, byte counts, idle timeout, failures of other peers. */
import assert from "node:assert/strict";
import { rawBackend, type RawPeer, switching, wsEchoBackend } from "./_backends.ts";
import { openDenoWs, RawWs } from "./_clients.ts";
import { keepAliveOn, startGateway, toYaml } from "./_harness.ts";
import {
  bytes,
  closePayload,
  concat,
  encodeFrame,
  Opcode,
  readFrame,
  text,
  upgradeRequest,
  writeThenReset,
} from "./_wire.ts";

const adHoc = (upstream: string, ...flags: string[]) => ({
  args: ["--listen", "127.0.0.1:0", "--upstream", upstream, ...flags],
});

/** Answers 101, reads frames until EOF, then replies with what it got (proving the reply can follow a FIN). */
async function replyAfterFin(peer: RawPeer): Promise<void> {
  await peer.write(switching(peer.head));
  const got: string[] = [];
  for (let frame = await readFrame(peer.reader, 5_000); frame; frame = await readFrame(peer.reader, 5_000)) {
    got.push(text(frame.payload));
  }
  await peer.write(encodeFrame(Opcode.text, bytes(`after FIN: ${got.join(",")}`), { mask: false }));
}

Deno.test("tunnel: a client's FIN reaches the backend and the backend's later reply still arrives", async () => {
  await using backend = rawBackend(replyAfterFin);
  await using gw = await startGateway(adHoc(backend.address));
  await using client = await RawWs.open(gw.port, { path: "/half" });
  assert.equal(client.response.status, 101);
  await client.sendText("one");
  await client.sendText("two");
  await client.closeWrite();
  const reply = await client.next();
  assert.equal(text(reply!.payload), "after FIN: one,two");
  assert.equal(await client.next(), null, "then EOF");
  assert.deepEqual(backend.errors, []);
});

Deno.test("tunnel: a backend's FIN reaches the client, which can still send", async () => {
  const { promise: gotAfterFin, resolve } = Promise.withResolvers<string>();
  await using backend = rawBackend(async (peer) => {
    await peer.write(
      concat([bytes(switching(peer.head)), encodeFrame(Opcode.text, bytes("last words"), { mask: false })]),
    );
    await peer.conn.closeWrite();
    const frame = await readFrame(peer.reader, 5_000);
    resolve(frame ? text(frame.payload) : "EOF");
  });
  await using gw = await startGateway(adHoc(backend.address));
  await using client = await RawWs.open(gw.port, { path: "/half-back" });
  assert.equal(text((await client.next())!.payload), "last words");
  assert.equal(await client.next(), null, "the client sees EOF");
  await client.sendText("still talking");
  assert.equal(await gotAfterFin, "still talking");
});

Deno.test("tunnel: the access record counts bytes each way and names who closed", async () => {
  await using backend = rawBackend(async (peer) => {
    await peer.write(switching(peer.head));
    await readFrame(peer.reader, 5_000);
    await peer.write(encodeFrame(Opcode.text, bytes("world"), { mask: false })); // 7 bytes
    while (await readFrame(peer.reader, 5_000)); // until the client's FIN
  });
  await using gw = await startGateway(adHoc(backend.address));
  await using client = await RawWs.open(gw.port, { path: "/counted?x=1" });
  await client.sendText("hello"); // 2 + 4 (mask) + 5 = 11 bytes
  assert.equal(text((await client.next())!.payload), "world");
  await client.send(Opcode.close, closePayload(1000)); // 2 + 4 + 2 = 8 bytes
  await client.closeWrite();
  assert.equal(await client.next(), null);
  const access = await gw.waitForEvent("access", { path: "/counted?x=1" });
  const clientPort = (client.conn.localAddr as Deno.NetAddr).port;
  const requestId = /^x-request-id: ([0-9a-f]{32})$/im.exec(backend.heads[0]!)?.[1];
  assert.deepEqual(
    { ...access.fields, id: undefined, duration_ms: undefined },
    {
      id: undefined,
      client: `127.0.0.1:${clientPort}`,
      method: "GET",
      path: "/counted?x=1",
      request_id: requestId,
      route: "/",
      upstream: backend.address,
      status: "101",
      up_bytes: "19",
      down_bytes: "7",
      duration_ms: undefined,
      closed_by: "client",
    },
  );
  assert.match(access.fields.id ?? "", /^\d+$/);
  assert.match(access.fields.duration_ms ?? "", /^\d+(\.\d+)?$/);
});

Deno.test("tunnel: --idle-timeout (a plain number of seconds) closes an idle tunnel and spares an active one", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway(adHoc(backend.address, "--idle-timeout", "1"));
  await using idle = await openDenoWs(`ws://127.0.0.1:${gw.port}/idle`);
  const openedAt = Date.now();
  await using active = await openDenoWs(`ws://127.0.0.1:${gw.port}/active`);

  let idleClosedAfter = -1;
  void idle.closed.then(() => idleClosedAfter = Date.now() - openedAt);
  for (let i = 0; Date.now() - openedAt < 3_000 && i < 20; i++) {
    active.send(`tick ${i}`);
    assert.equal(await active.next(), `tick ${i}`);
    await new Promise((r) => setTimeout(r, 300));
  }
  await idle.closed;
  assert.ok(
    idleClosedAfter >= 900 && idleClosedAfter <= 3_000,
    `idle tunnel closed after ${idleClosedAfter} ms`,
  );
  active.send("survived");
  assert.equal(await active.next(), "survived");
  const record = await gw.waitForEvent("access", { path: "/idle" });
  assert.equal(record.fields.closed_by, "proxy");
});

Deno.test("tunnel: dying peers never affect an open tunnel", async (t) => {
  await using echo = await wsEchoBackend();
  const { promise: killed, resolve: killedNow } = Promise.withResolvers<void>();
  await using dying = rawBackend(async (peer) => {
    await peer.write(switching(peer.head));
    await readFrame(peer.reader, 5_000);
    peer.conn.close(); // the backend connection dies mid-tunnel
    killedNow();
  });
  await using gw = await startGateway({
    config: toYaml({
      servers: [{
        listen: ["127.0.0.1:0"],
        routes: [{ path: "/echo/", upstream: "echo" }, { path: "/dying/", upstream: "dying" }],
      }],
      upstreams: { echo: { servers: [echo.address] }, dying: { servers: [dying.address] } },
    }),
  });
  await using survivor = await openDenoWs(`ws://127.0.0.1:${gw.port}/echo/survivor`);
  const stillEchoes = async (label: string) => {
    survivor.send(label);
    assert.equal(await survivor.next(), label);
  };
  await stillEchoes("before");

  await t.step("a client resets mid-handshake", async () => {
    await writeThenReset(gw.port, "GET /echo/x HTTP/1.1\r\nHost: gw.test\r\nUpgrade: webs");
    await stillEchoes("after a reset mid-handshake");
  });

  await t.step("a client resets right after its complete handshake", async () => {
    await writeThenReset(gw.port, upgradeRequest({ path: "/echo/reset" }));
    await stillEchoes("after a reset after the handshake");
  });

  await t.step("a backend connection is killed mid-tunnel", async () => {
    {
      await using client = await RawWs.open(gw.port, { path: "/dying/x" });
      assert.equal(client.response.status, 101);
      await client.sendText("are you there?");
      await killed;
      assert.equal(await client.next(), null, "the client sees the end");
    }
    const record = await gw.waitForEvent("access", { path: "/dying/x" });
    assert.equal(record.fields.closed_by, "upstream");
    await stillEchoes("after a backend died");
  });

  await t.step("an echo backend socket is reset mid-tunnel", async () => {
    await using victim = await openDenoWs(`ws://127.0.0.1:${gw.port}/echo/victim`);
    victim.send("hi");
    assert.equal(await victim.next(), "hi");
    echo.sockets.at(-1)!._socket.resetAndDestroy();
    const closed = await victim.closed;
    assert.notEqual(closed.code, 1000, "an abnormal close, not a clean one");
    await stillEchoes("after a backend reset");
  });
});

Deno.test("tunnel: both legs keep TCP keep-alive on, so a peer that vanished is found on an idle tunnel", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway(adHoc(backend.address));
  await using client = await RawWs.open(gw.port, { path: "/keepalive" });
  assert.equal(client.response.status, 101);
  const backendPort = backend.address.split(":").at(-1);
  await keepAliveOn(`sport = :${gw.port}`);
  // The backend's own socket has the backend's port as its source: only the gateway's dial is left.
  await keepAliveOn(`dport = :${backendPort}`);
});
