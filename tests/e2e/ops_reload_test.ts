/** Reload under traffic: SIGHUP and POST /reload with 50 busy tunnels, a switched upstream, a broken file. */
import assert from "node:assert/strict";
import { wsEchoBackend } from "./_backends.ts";
import { openNodeWs } from "./_clients.ts";
import { eventually, startGateway, toYaml } from "./_harness.ts";
import { ConnectLoop, EchoLoop, progress, viaWsClient } from "./_ops.ts";
import { text } from "./_wire.ts";

const TUNNELS = 50;

/** Two upstream groups; the route points at `target`. */
const config = (target: "first" | "second", first: string, second: string) =>
  toYaml({
    servers: [{ listen: ["127.0.0.1:0"], routes: [{ path: "/", upstream: target }] }],
    upstreams: { first: { servers: [first] }, second: { servers: [second] } },
    admin: { listen: "127.0.0.1:0" },
  });

/** Three mistakes, each reported with file:line:col. */
const BROKEN = `servers:
  - listen: ["127.0.0.1:0"]
    routes:
      - path: /
        upstream: nowhere
upstreams:
  app:
    servers:
      - { address: 127.0.0.1:1, weight: 0 }
shutdown_timeout: soon
`;

Deno.test("reload: 50 busy tunnels survive 5 reloads (SIGHUP and POST /reload), a switched upstream and a broken file", async () => {
  await using first = await wsEchoBackend();
  await using second = await wsEchoBackend();
  await using gw = await startGateway({ config: config("first", first.address, second.address) });
  const url = `ws://127.0.0.1:${gw.port}/busy`;
  const clients = await Promise.all(Array.from({ length: TUNNELS }, () => openNodeWs(url)));
  try {
    const loops = clients.map((client, i) => new EchoLoop(`tunnel${i}`, viaWsClient(client)));
    // Several loops of fresh connections, so that some are always in flight while a reload runs.
    const fresh = Array.from({ length: 3 }, () => new ConnectLoop(gw.port));
    const freshOk = () => fresh.reduce((n, loop) => n + loop.ok, 0);
    /** Busy tunnels and fresh connections both moved on since the last call. */
    const traffic = async () => {
      const target = freshOk() + 6;
      await progress(loops, 10);
      await eventually(() => freshOk() >= target, 5_000, "fresh connections succeed");
    };
    try {
      await traffic();
      assert.equal(first.requests.filter((r) => r.url === "/busy").length, TUNNELS);

      const reloads: { how: "SIGHUP" | "POST"; target: "first" | "second" }[] = [
        { how: "SIGHUP", target: "first" },
        { how: "POST", target: "first" },
        { how: "SIGHUP", target: "second" },
        { how: "POST", target: "second" },
        { how: "SIGHUP", target: "second" },
      ];
      for (const [n, { how, target }] of reloads.entries()) {
        await gw.writeConfig(config(target, first.address, second.address));
        if (how === "SIGHUP") Deno.kill(gw.pid, "SIGHUP");
        else assert.equal((await gw.admin("POST", "/reload")).status, 200);
        await eventually(() => gw.records("reloaded").length > n, 5_000, `reload ${n + 1} (${how})`);
        await traffic();
      }
      assert.equal(gw.records("reloaded").length, reloads.length);
      assert.equal(gw.records("listening").length, 1, "the unchanged listener was never reopened");
      assert.deepEqual(gw.records("listener_closed"), []);

      // New connections follow the new config: the upgrade reaches the second backend only.
      const before = { first: first.requests.length, second: second.requests.length };
      await using late = await openNodeWs(`ws://127.0.0.1:${gw.port}/late`);
      late.send("after the switch");
      assert.equal(await late.next(), "after the switch");
      assert.equal(first.requests.length, before.first, "no new upgrade reaches the old backend");
      assert.ok(second.requests.some((r) => r.url === "/late"), "the new backend saw the upgrade");
      assert.equal(first.requests.filter((r) => r.url === "/busy").length, TUNNELS, "old tunnels stay put");

      // A broken file: 400 with every error located, the old config keeps serving.
      await gw.writeConfig(BROKEN);
      const answer = await gw.admin("POST", "/reload");
      assert.equal(answer.status, 400);
      const { ok, errors } = JSON.parse(text(answer.body)) as { ok: boolean; errors: string[] };
      assert.equal(ok, false);
      assert.equal(errors.length, 3, errors.join("\n"));
      for (const error of errors) assert.match(error, /wsgate\.yaml:\d+:\d+: \S+: /);
      await gw.waitForEvent("reload_failed");
      await using after = await openNodeWs(`ws://127.0.0.1:${gw.port}/after-broken`);
      after.send("still served");
      assert.equal(await after.next(), "still served");
      assert.ok(second.requests.some((r) => r.url === "/after-broken"), "the last good config still routes");
      await traffic();
    } finally {
      await Promise.all(fresh.map((loop) => loop.stop()));
      await Promise.all(loops.map((loop) => loop.stop()));
    }
    const failures = loops.filter((loop) => loop.failure).map((loop) => loop.failure!.message);
    assert.deepEqual(failures, [], "no tunnel dropped, no message lost or reordered");
    assert.deepEqual(fresh.flatMap((loop) => loop.errors), [], "fresh connections during the reloads");
    const refused = fresh.reduce((n, loop) => n + loop.refused, 0);
    assert.equal(refused, 0, "a kept listener never refuses");
    const exchanged = loops.reduce((n, loop) => n + loop.count, 0);
    console.log(
      `reload: ${TUNNELS} tunnels, ${exchanged} messages echoed, 5 reloads + 1 rejected, 0 drops; ` +
        `${freshOk()} fresh connections, ${refused} refused`,
    );
  } finally {
    await Promise.all(clients.map((client) => client[Symbol.asyncDispose]()));
  }
});
