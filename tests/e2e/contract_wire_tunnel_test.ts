/**
 * DESIGN §4, the tunnel: heads cut into single bytes, both directions at full speed, the route's
 * read_timeout, and data with a FIN before the 101, partly against one gateway in front of the
 * scripted upstream (see _contract_wire.ts). Half-closes, the access record and the idle timeout are
 * in tunnel_test.ts; bytes sent along with the heads in ambiguity_test.ts.
 */
import assert from "node:assert/strict";
import { rawBackend, switching } from "./_backends.ts";
import { RawWs } from "./_clients.ts";
import { connection, readN, upgrade } from "./_contract.ts";
import { wireGateway } from "./_contract_wire.ts";
import { oneRouteConfig, startGateway } from "./_harness.ts";
import { bytes, randomBytes, text, writeAll } from "./_wire.ts";

Deno.test("contract §4: tunnel against one gateway", async (t) => {
  await using wire = await wireGateway();
  const { gw } = wire;

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
