/**
 * An outsider's black-box check of DESIGN §2, signals: SIGTERM/SIGINT drain and exit, SIGHUP reloads,
 * written from the documents only, against the real process.
 */
import assert from "node:assert/strict";
import { wsEchoBackend } from "./_backends.ts";
import { openNodeWs, RawWs } from "./_clients.ts";
import { ask, upgrade } from "./_contract.ts";
import { eventually, oneRouteConfig, startGateway, toYaml } from "./_harness.ts";

Deno.test("SIGTERM: stops accepting, lets the open tunnel finish, exits 0", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address], { top: { shutdown_timeout: "20s" } }),
  });
  const port = gw.port;
  const c = await openNodeWs(`ws://127.0.0.1:${port}/`);
  Deno.kill(gw.pid, "SIGTERM");
  await gw.waitForEvent("shutdown");
  await eventually(() => gw.records("listener_closed").length > 0, 5_000, "listener closed");
  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }).then((conn) => conn.close()));
  c.send("still open");
  assert.equal(await c.next(), "still open");
  await c[Symbol.asyncDispose]();
  const started = Date.now();
  const status = await gw.exited;
  assert.equal(status.code, 0);
  assert.ok(Date.now() - started < 10_000, "exits once the tunnel ended, not at shutdown_timeout");
});

Deno.test("SIGTERM: shutdown_timeout bounds the drain; exit 0", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address], { top: { shutdown_timeout: 1 } }),
  });
  await using c = await openNodeWs(`ws://127.0.0.1:${gw.port}/`);
  const status = await gw.stop("SIGTERM", 6_000);
  assert.equal(status.code, 0);
  await c.closed;
});

Deno.test("SIGINT once with nothing open: exit 0", async () => {
  await using gw = await startGateway({ args: ["--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1"] });
  assert.equal((await gw.stop("SIGINT", 5_000)).code, 0);
});

Deno.test("SIGINT twice: the second exits at once", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address], { top: { shutdown_timeout: "60s" } }),
  });
  await using _c = await openNodeWs(`ws://127.0.0.1:${gw.port}/`);
  Deno.kill(gw.pid, "SIGINT");
  await gw.waitForEvent("shutdown");
  const started = Date.now();
  const status = await gw.stop("SIGINT", 3_000);
  assert.notEqual(status.signal, "SIGKILL", "exited by itself");
  assert.ok(Date.now() - started < 3_000);
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

Deno.test("admin (README): /healthz answers 503 once draining", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address], {
      top: { admin: { listen: "127.0.0.1:0" }, shutdown_timeout: "20s" },
    }),
  });
  assert.equal((await gw.admin("GET", "/healthz")).status, 200);
  await using c = await openNodeWs(`ws://127.0.0.1:${gw.port}/`); // keeps the drain going
  Deno.kill(gw.pid, "SIGTERM");
  await gw.waitForEvent("shutdown");
  assert.equal((await gw.admin("GET", "/healthz")).status, 503);
  await c[Symbol.asyncDispose]();
  assert.equal((await gw.exited).code, 0);
});
