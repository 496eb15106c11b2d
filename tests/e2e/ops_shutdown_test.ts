/**
 * SIGTERM with open tunnels: close the listener and refuse new connections, report draining, let
 * tunnels finish, exit 0 in time. An idle gateway's exit is in contract_signals_test.ts.
 */
import assert from "node:assert/strict";
import { blackhole, wsEchoBackend } from "./_backends.ts";
import { openNodeWs } from "./_clients.ts";
import { eventually, type Gateway, oneRouteConfig, startGateway, synSentTo } from "./_harness.ts";
import { EchoLoop, progress, viaWsClient } from "./_ops.ts";
import { bytes, dial, rawRequest, text, upgradeRequest, withTimeout, writeAll } from "./_wire.ts";

const SHUTDOWN_TIMEOUT_MS = 3_000;

/** `shutdown_timeout` is 3 s, as "3s" or as the plain number of seconds 3. */
const config = (backend: string, shutdownTimeout: "3s" | 3) =>
  oneRouteConfig([backend], { top: { shutdown_timeout: shutdownTimeout, admin: { listen: "127.0.0.1:0" } } });

/**
 * New connections are refused within 100 ms of the `shutdown` line. The listening socket goes
 * away a few ms after the line is written (Deno frees it once the pending accept is dropped); a
 * connection the kernel completes in that gap must be closed unanswered, never proxied.
 */
async function refusedAtOnce(port: number): Promise<void> {
  const deadline = Date.now() + 100;
  for (let attempt = 0;; attempt++) {
    const answer = await rawRequest(port, upgradeRequest({ path: "/late" }), { timeoutMs: 1_000 }).catch(
      (err: unknown) => err,
    );
    if (answer instanceof Deno.errors.ConnectionRefused) return;
    assert.ok(
      answer instanceof Uint8Array && answer.length === 0,
      `attempt ${attempt} was answered: ${answer}`,
    );
    assert.ok(Date.now() < deadline, "new connections are still accepted 100 ms after the shutdown line");
  }
}

/** SIGTERM, then what must hold at once: refused connections, 503 health, tunnels still echoing. */
async function terminate(gw: Gateway, loops: EchoLoop[]): Promise<number> {
  const port = gw.port;
  const sent = Date.now();
  Deno.kill(gw.pid, "SIGTERM");
  await gw.waitForEvent("shutdown", {}, 2_000);
  await refusedAtOnce(port);
  await gw.waitForEvent("listener_closed", {}, 2_000);
  const health = await gw.admin("GET", "/healthz");
  assert.equal(health.status, 503, "draining is reported while tunnels are open");
  assert.equal(text(health.body), "draining\n");
  await progress(loops, 20);
  return sent;
}

Deno.test("shutdown: open tunnels keep echoing after SIGTERM; the exit follows the last one, code 0", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({ config: config(backend.address, "3s") });
  assert.equal((await gw.admin("GET", "/healthz")).status, 200);
  const clients = await Promise.all([0, 1, 2].map((i) => openNodeWs(`ws://127.0.0.1:${gw.port}/t${i}`)));
  const loops = clients.map((client, i) => new EchoLoop(`t${i}`, viaWsClient(client)));
  try {
    const sent = await terminate(gw, loops);
    for (const [i, loop] of loops.entries()) {
      await loop.stop();
      assert.equal(loop.failure, undefined);
      clients[i]!.close(1000, "done");
      await withTimeout(clients[i]!.closed, 2_000, "close handshake through the draining gateway");
    }
    const status = await withTimeout(gw.exited, SHUTDOWN_TIMEOUT_MS, "exit once the tunnels are done");
    const elapsed = Date.now() - sent;
    assert.equal(status.code, 0, gw.output());
    assert.ok(elapsed < SHUTDOWN_TIMEOUT_MS, `exited ${elapsed} ms after SIGTERM, before shutdown_timeout`);
    await gw.waitForEvent("stopped", { forced: "0" });
    assert.equal(gw.records("access").filter((r) => r.fields.status === "101").length, 3);
  } finally {
    await Promise.all(loops.map((loop) => loop.stop()));
    await Promise.all(clients.map((client) => client[Symbol.asyncDispose]()));
  }
});

Deno.test("shutdown: a tunnel still open at shutdown_timeout (3, in seconds) is closed and the exit comes at ~3 s", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({ config: config(backend.address, 3) });
  await using client = await openNodeWs(`ws://127.0.0.1:${gw.port}/stays`);
  const loop = new EchoLoop("stays", viaWsClient(client));
  try {
    const sent = await terminate(gw, [loop]);
    const status = await withTimeout(gw.exited, SHUTDOWN_TIMEOUT_MS + 2_000, "exit at shutdown_timeout");
    const elapsed = Date.now() - sent;
    assert.equal(status.code, 0, gw.output());
    assert.ok(
      elapsed >= SHUTDOWN_TIMEOUT_MS - 100 && elapsed < SHUTDOWN_TIMEOUT_MS + 1_000,
      `exited ${elapsed} ms after SIGTERM`,
    );
    await withTimeout(client.closed, 2_000, "the client sees its tunnel closed");
    await gw.waitForEvent("stopped", { forced: "1" });
    assert.equal((await gw.waitForEvent("access", { path: "/stays" })).fields.reason, "shutdown");
  } finally {
    await loop.stop();
  }
  assert.ok(loop.failure, "the loop ended because the gateway closed the tunnel");
  assert.ok(loop.count > 20, `echoed ${loop.count} messages until the timeout`);
});

Deno.test("shutdown: requests still dialling their upstream at shutdown_timeout give up then; the exit is not held until connect_timeout", async () => {
  await using target = await blackhole();
  await using gw = await startGateway({
    config: oneRouteConfig([target.address], {
      upstream: { connect_timeout: "60s" },
      top: { shutdown_timeout: 1 },
    }),
  });
  await using upgrading = await dial(gw.port);
  await writeAll(upgrading, bytes(upgradeRequest({ path: "/upgrade" })));
  await using plain = await dial(gw.port);
  await writeAll(plain, bytes("GET /plain HTTP/1.1\r\nHost: gw.test\r\n\r\n"));
  // Both dials are under way once the gateway has read both requests (it logs nothing before).
  const port = Number(target.address.split(":")[1]);
  await eventually(() => synSentTo(port) === 2, 5_000, "both dials started");
  const sent = Date.now();
  Deno.kill(gw.pid, "SIGTERM");
  const status = await withTimeout(gw.exited, 10_000, "exit after shutdown_timeout");
  const elapsed = Date.now() - sent;
  assert.equal(status.code, 0, gw.output());
  assert.ok(elapsed < 5_000, `exited ${elapsed} ms after SIGTERM (shutdown_timeout 1 s)`);
  await gw.waitForEvent("stopped", { forced: "2" });
  for (const path of ["/upgrade", "/plain"]) {
    const access = await gw.waitForEvent("access", { path });
    assert.deepEqual([access.fields.status, access.fields.closed_by], ["503", "proxy"], path);
  }
});
