/**
 * One Ctrl-C that arrives twice (the terminal's process group, and npx or deno task relaying it)
 * drains like one; the drain says how many connections it waits for and until when; a second
 * signal a second or more after the first stops at once.
 */
import assert from "node:assert/strict";
import { wsEchoBackend } from "./_backends.ts";
import { openNodeWs } from "./_clients.ts";
import { oneRouteConfig, startGateway } from "./_harness.ts";
import { EchoLoop, progress, viaWsClient } from "./_ops.ts";
import { withTimeout } from "./_wire.ts";

const config = (backend: string) => oneRouteConfig([backend], { top: { shutdown_timeout: "20s" } });

Deno.test("signals: SIGINT twice within a second drains (tunnels keep echoing), then exits 0 after the last", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({ config: config(backend.address) });
  const client = await openNodeWs(`ws://127.0.0.1:${gw.port}/`);
  const loop = new EchoLoop("a", viaWsClient(client));
  await progress([loop], 5);
  const sent = Date.now();
  Deno.kill(gw.pid, "SIGINT");
  Deno.kill(gw.pid, "SIGINT"); // the same press, relayed
  const draining = await gw.waitForEvent("draining", {}, 3_000);
  assert.equal(draining.fields.connections, "1");
  const until = Date.parse(draining.fields.until ?? "");
  assert.ok(until >= sent + 19_000 && until <= Date.now() + 20_000, `until ${draining.fields.until}`);
  assert.match(draining.fields.stop_now ?? "", /again/);
  await progress([loop], 20); // still echoing: the repeat did not count as a second press
  assert.equal(gw.records("exit_now").length, 0);
  await loop.stop();
  await client.close();
  const status = await withTimeout(gw.exited, 10_000, "exit after the last tunnel");
  assert.equal(status.code, 0);
  assert.equal(loop.failure, undefined);
});

Deno.test("signals: a second SIGINT a second after the first stops at once, exit code 1", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({ config: config(backend.address) });
  const client = await openNodeWs(`ws://127.0.0.1:${gw.port}/`);
  Deno.kill(gw.pid, "SIGINT");
  await gw.waitForEvent("draining", {}, 3_000);
  await new Promise((resolve) => setTimeout(resolve, 1_100)); // a person pressing Ctrl-C again
  Deno.kill(gw.pid, "SIGINT");
  const status = await withTimeout(gw.exited, 3_000, "exit at once");
  assert.equal(status.code, 1);
  assert.ok(gw.records("exit_now").length === 1);
  await client.close();
});
