/**
 * An outsider's black-box check of DESIGN §2, signals: SIGTERM/SIGINT exit, SIGHUP reloads, written
 * from the documents only, against the real process. Draining open tunnels (new connections
 * refused, /healthz 503, shutdown_timeout) is in ops_shutdown_test.ts; a second SIGINT in
 * signals_repeat_test.ts.
 */
import assert from "node:assert/strict";
import { wsEchoBackend } from "./_backends.ts";
import { openNodeWs, RawWs } from "./_clients.ts";
import { ask, upgrade } from "./_contract.ts";
import { eventually, oneRouteConfig, parseLogLine, startGateway, toYaml } from "./_harness.ts";

Deno.test("SIGTERM or SIGINT on an idle gateway: shutdown then stopped logged, exit 0", async (t) => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    await t.step(signal, async () => {
      await using gw = await startGateway({ args: ["--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1"] });
      const status = await gw.stop(signal, 5_000);
      assert.equal(status.code, 0, gw.output());
      await gw.waitForLine(/\binfo stopped\b/, 1_000);
      const events = gw.lines.map((l) => parseLogLine(l)?.event);
      const shutdown = events.indexOf("shutdown");
      assert.ok(shutdown >= 0 && events.indexOf("stopped") > shutdown, "shutdown, then stopped");
      assert.equal(gw.records("shutdown")[0]?.fields.signal, signal);
    });
  }
});

Deno.test("SIGHUP: an invalid config is rejected and the old one stays; a valid one applies to new connections only", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({ config: oneRouteConfig([backend.address]) });
  await using tunnel = await openNodeWs(`ws://127.0.0.1:${gw.port}/old`);
  await gw.writeConfig("servers: [\n  - nope: 1\n");
  Deno.kill(gw.pid, "SIGHUP");
  await gw.waitForEvent("reload_failed");
  await using again = await RawWs.open(gw.port, { request: upgrade("/old") });
  assert.equal(again.response.status, 101, "the old config still serves");

  await gw.writeConfig(
    toYaml({
      servers: [{ listen: ["127.0.0.1:0"], routes: [{ path: "/new/", upstream: "app" }] }],
      upstreams: { app: { servers: [backend.address] } },
    }),
  );
  Deno.kill(gw.pid, "SIGHUP");
  await gw.waitForEvent("reloaded");
  assert.equal((await ask(gw.port, upgrade("/old"))).status, 404);
  await using fresh = await RawWs.open(gw.port, { request: upgrade("/new/x") });
  assert.equal(fresh.response.status, 101);
  tunnel.send("untouched");
  assert.equal(await tunnel.next(), "untouched");
});

Deno.test("SIGHUP with an ad-hoc flag config keeps serving", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({ args: ["--listen", "127.0.0.1:0", "--upstream", backend.address] });
  await using tunnel = await openNodeWs(`ws://127.0.0.1:${gw.port}/`);
  Deno.kill(gw.pid, "SIGHUP");
  await eventually(() => gw.lines.length > 0 && /reload/.test(gw.lines.at(-1) ?? ""), 5_000, "a reload line");
  tunnel.send("after hup");
  assert.equal(await tunnel.next(), "after hup");
  await using c = await RawWs.open(gw.port, { request: upgrade("/") });
  assert.equal(c.response.status, 101);
});
