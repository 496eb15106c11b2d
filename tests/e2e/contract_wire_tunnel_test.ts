/**
 * DESIGN §4, the tunnel: bytes both ways after the 101, half-closes, timeouts and the access record,
 * mostly against one gateway in front of the scripted upstream (see _contract_wire.ts).
 */
import assert from "node:assert/strict";
import { rawBackend, switching } from "./_backends.ts";
import { RawWs } from "./_clients.ts";
import { connection, readN, upgrade } from "./_contract.ts";
import { wireGateway } from "./_contract_wire.ts";
import { eventually, oneRouteConfig, startGateway } from "./_harness.ts";
import { bytes, concat, encodeFrame, Opcode, randomBytes, readFrame, text, writeAll } from "./_wire.ts";

Deno.test("contract §4: tunnel against one gateway", async (t) => {
  await using wire = await wireGateway();
  const { gw, raw, afterHead } = wire;

  await t.step("bytes after the head in the same packet are forwarded, both ways", async () => {
    const early = encodeFrame(Opcode.text, bytes("early-client"));
    await using link = await connection(gw.port);
    const { conn, reader } = link;
    await writeAll(conn, concat([bytes(upgrade("/ws/early")), early])); // one write
    assert.match((await reader.readHead(5_000))!, /^HTTP\/1\.1 101/);
    assert.equal(text((await readFrame(reader, 5_000))!.payload), "early-server");
    assert.equal(text((await readFrame(reader, 5_000))!.payload), "echo:early-client");
  });

  await t.step("half-close client -> upstream: the upstream sees EOF and can still answer", async () => {
    await using c = await RawWs.open(gw.port, { request: upgrade("/ws/half-client") });
    assert.equal(c.response.status, 101);
    await writeAll(c.conn, bytes("abc"));
    await c.closeWrite();
    assert.equal(text(await c.reader.readToEnd(5_000)), "got:abc");
    assert.equal(text(afterHead.get("/ws/half-client")!), "abc");
  });

  await t.step("half-close upstream -> client: the client sees EOF and can still send", async () => {
    await using c = await RawWs.open(gw.port, { request: upgrade("/ws/half-upstream") });
    assert.equal(c.response.status, 101);
    assert.equal(text(await c.reader.readToEnd(5_000)), "bye"); // EOF after it
    await writeAll(c.conn, bytes("still here"));
    await c.closeWrite();
    await eventually(() => afterHead.has("/ws/half-upstream"), 5_000, "the upstream reads to EOF");
    assert.equal(text(afterHead.get("/ws/half-upstream")!), "still here");
  });

  await t.step("heads split into single bytes both ways still make a tunnel", async () => {
    await using link = await connection(gw.port);
    const { conn, reader } = link;
    for (const b of bytes(upgrade("/ws/dribble"))) await writeAll(conn, new Uint8Array([b]));
    assert.match((await reader.readHead(5_000))!, /^HTTP\/1\.1 101/);
    await writeAll(conn, bytes("ping"));
    assert.equal(text(await readN(reader, 4)), "ping");
  });

  await t.step("both directions at once, 4 MiB each, arrive unchanged (no deadlock)", async () => {
    await using c = await RawWs.open(gw.port, { request: upgrade("/ws/echo?big=1") });
    const payload = randomBytes(4 * 1024 * 1024);
    const [, echoed] = await Promise.all([
      writeAll(c.conn, payload),
      readN(c.reader, payload.length, 20_000),
    ]);
    assert.deepEqual(echoed, payload);
  });

  await t.step(
    "access record on close: client, route, upstream, status, bytes each way, duration, who closed",
    async () => {
      {
        await using c = await RawWs.open(gw.port, { request: upgrade("/ws/count?n=1") });
        await writeAll(c.conn, new Uint8Array(10));
        assert.equal((await readN(c.reader, 20)).length, 20);
      } // the client closes
      const rec = await gw.waitForEvent("access", { path: "/ws/count?n=1" });
      assert.match(rec.fields.client ?? "", /^127\.0\.0\.1:\d+$/);
      assert.equal(rec.fields.route, "/ws/");
      assert.equal(rec.fields.upstream, raw.address);
      assert.equal(rec.fields.status, "101");
      assert.equal(rec.fields.up_bytes, "10");
      assert.equal(rec.fields.down_bytes, "20");
      assert.match(rec.fields.duration_ms ?? "", /^\d+(\.\d+)?$/);
      assert.equal(rec.fields.closed_by, "client");

      {
        await using c = await RawWs.open(gw.port, { request: upgrade("/ws/upstream-closes") });
        await writeAll(c.conn, bytes("xyz"));
        await c.reader.readToEnd(5_000); // the upstream's EOF; the tunnel ends once the client closes too
      }
      const rec2 = await gw.waitForEvent("access", { path: "/ws/upstream-closes" });
      assert.equal(rec2.fields.closed_by, "upstream");
    },
  );
});

Deno.test("route read_timeout: nothing from the upstream for that long closes the tunnel, client traffic or not", async () => {
  await using raw = rawBackend(async (peer) => {
    await peer.write(switching(peer.head));
    await peer.reader.readToEnd(10_000); // reads, never answers
  });
  await using gw = await startGateway({
    config: oneRouteConfig([raw.address], { route: { read_timeout: 1 } }),
  });
  await using c = await RawWs.open(gw.port, { request: upgrade("/") });
  const started = Date.now();
  const timer = setInterval(() => c.sendText("tick").catch(() => {}), 200);
  try {
    assert.equal(await c.next(6_000), null);
  } finally {
    clearInterval(timer);
  }
  const elapsed = Date.now() - started;
  assert.ok(elapsed > 700 && elapsed < 5_000, `closed after ${elapsed} ms`);
});

Deno.test("an upgrade followed at once by data and FIN still gets its 101 and the answer", async () => {
  await using raw = rawBackend(async (peer) => {
    await peer.write(switching(peer.head));
    const got = await peer.reader.readToEnd(5_000);
    await peer.write(`got:${text(got)}`);
  });
  await using gw = await startGateway({ args: ["--listen", "127.0.0.1:0", "--upstream", raw.address] });
  await using link = await connection(gw.port);
  const { conn, reader } = link;
  await writeAll(conn, bytes(upgrade("/") + "abc"));
  await conn.closeWrite();
  const answer = text(await reader.readToEnd(5_000));
  assert.match(answer, /^HTTP\/1\.1 101 /);
  assert.ok(answer.endsWith("\r\n\r\ngot:abc"), JSON.stringify(answer));
});
