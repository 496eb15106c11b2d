/**
 * Passive and active health of upstream servers (DESIGN §3): a failing server is taken out and
 * comes back on its own; a health check takes out a server that accepts TCP but refuses the
 * upgrade, without cutting the tunnels already on it.
 */
import assert from "node:assert/strict";
import { rawBackend, switching, type WsBackendOptions, wsEchoBackend } from "./_backends.ts";
import { backendOf, handshake, handshakes, until } from "./_balance.ts";
import { openDenoWs } from "./_clients.ts";
import { eventually, startGateway, toYaml } from "./_harness.ts";

function groupYaml(servers: unknown[], upstream: Record<string, unknown> = {}): string {
  return toYaml({
    servers: [{ listen: ["127.0.0.1:0"], routes: [{ path: "/", upstream: "app" }] }],
    upstreams: { app: { servers, ...upstream } },
  });
}

Deno.test("health: max_fails takes a failing server out for fail_timeout, then it gets traffic again", async () => {
  let broken = true;
  // Broken: closes without a byte, so the gateway retries elsewhere and the client never notices.
  await using flaky = rawBackend(async (peer) => {
    if (broken) return;
    await peer.write(switching(peer.head));
    await peer.reader.readToEnd(30_000);
  });
  await using good = await wsEchoBackend();
  await using gw = await startGateway({
    config: groupYaml([{ address: flaky.address, max_fails: 1, fail_timeout: "1s" }, good.address]),
  });
  assert.equal(await handshake(gw.port, { path: "/first" }), 101);
  const marked = Date.now();
  await gw.waitForEvent("upstream_disabled", { upstream: "app", server: flaky.address, fail_timeout: "1s" });
  assert.equal(flaky.heads.length, 1, "the first connection tried the failing server, then the good one");
  assert.deepEqual(
    await handshakes(gw.port, { count: 10, parallel: 2, path: (i) => `/out/${i}` }),
    Array(10).fill(101),
  );
  assert.equal(flaky.heads.length, 1, "taken out: no connection tried it");
  broken = false;
  let n = 0;
  await until(
    async () => {
      assert.equal(await handshake(gw.port, { path: `/back/${n++}` }), 101);
      return flaky.heads.length > 1 || undefined;
    },
    5_000,
    "the failing server gets traffic again",
  );
  const elapsed = Date.now() - marked;
  assert.ok(elapsed >= 900 && elapsed < 3_000, `back after ${elapsed} ms (fail_timeout 1s)`);
  assert.deepEqual(flaky.errors, []);
});

Deno.test("health: a websocket check marks a server refusing upgrades unhealthy within fall × interval, and healthy again", async () => {
  const flakyOptions: WsBackendOptions = {};
  await using flaky = await wsEchoBackend(flakyOptions);
  await using good = await wsEchoBackend();
  const check = { type: "websocket", path: "/healthz", interval: "200ms", timeout: "1s", rise: 2, fall: 2 };
  // fall (or rise) × interval, plus slack for the last probe and the log line's way to this test.
  const within = 2 * 200 + 400;
  await using gw = await startGateway({
    config: groupYaml([flaky.address, good.address], { health_check: check }),
  });
  const url = (path: string) => `ws://127.0.0.1:${gw.port}${path}`;
  await using onFlaky = await openDenoWs(url("/tunnel/0"));
  await using onGood = await openDenoWs(url("/tunnel/1"));
  assert.equal(backendOf([flaky, good], "/tunnel/0"), 0);
  assert.ok(flaky.requests.some((r) => r.url === "/healthz"), "the check made a real handshake to the path");

  flakyOptions.reject = { status: 503, body: "maintenance" };
  const broke = Date.now();
  const down = await gw.waitForEvent("upstream_health", { server: flaky.address, healthy: "false" });
  const detected = Date.now() - broke;
  console.log(`health: refusing upgrades detected after ${detected} ms (fall 2 x interval 200ms)`);
  assert.ok(detected <= within, `unhealthy after ${detected} ms`);
  assert.match(down.fields.reason ?? "", /503/);
  const whileDown = await handshakes(gw.port, { count: 10, parallel: 2, path: (i) => `/down/${i}` });
  assert.deepEqual(whileDown, Array(10).fill(101));
  assert.equal(flaky.requests.filter((r) => r.url.startsWith("/down/")).length, 0, "no new connections");
  // The verdict does not cut what is established.
  for (const client of [onFlaky, onGood]) {
    client.send("still open");
    assert.equal(await client.next(), "still open");
  }

  delete flakyOptions.reject;
  const fixed = Date.now();
  await gw.waitForEvent("upstream_health", { server: flaky.address, healthy: "true" });
  const recovered = Date.now() - fixed;
  assert.ok(recovered <= within, `healthy after ${recovered} ms`);
  await handshakes(gw.port, { count: 4, parallel: 1, path: (i) => `/up/${i}` });
  assert.equal(
    flaky.requests.filter((r) => r.url.startsWith("/up/")).length,
    2,
    "round robin includes it again",
  );
  assert.equal(gw.records("upstream_health").length, 2, "each change logged once");
});

Deno.test("health: a tcp check notices a killed backend and its return on the same port", async () => {
  let backend = await wsEchoBackend();
  await using good = await wsEchoBackend();
  const port = Number(backend.address.split(":")[1]);
  try {
    await using gw = await startGateway({
      config: groupYaml([backend.address, good.address], {
        health_check: { type: "tcp", interval: "100ms", timeout: "500ms", rise: 1, fall: 1 },
      }),
    });
    await backend.close();
    const down = await gw.waitForEvent("upstream_health", { server: backend.address, healthy: "false" });
    assert.match(down.fields.reason ?? "", /connect failed/);
    backend = await wsEchoBackend({ port });
    await gw.waitForEvent("upstream_health", { server: backend.address, healthy: "true" });
    assert.deepEqual(
      await handshakes(gw.port, { count: 4, parallel: 1, path: (i) => `/x/${i}` }),
      Array(4).fill(101),
    );
    assert.equal(
      backendOf([backend, good], "/x/0") + backendOf([backend, good], "/x/1"),
      1,
      "both serve again",
    );
  } finally {
    await backend.close();
  }
});

Deno.test("health: a tcp check of a wss:// server that never answers TLS closes each probe's socket", async () => {
  // A tarpit: accepts TCP, reads the ClientHello, never answers. Each probe gives up at the
  // check's timeout; its socket must go with it, or every interval costs the gateway a descriptor.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const probes = { accepted: 0, closed: 0 };
  const held: Deno.Conn[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      probes.accepted++;
      held.push(conn);
      const buffer = new Uint8Array(4096);
      (async () => {
        while (await conn.read(buffer).catch(() => null) !== null);
        probes.closed++;
      })();
    }
  })().catch(() => {});
  try {
    await using gw = await startGateway({
      config: groupYaml([`wss://127.0.0.1:${listener.addr.port}`], {
        health_check: { type: "tcp", interval: "100ms", timeout: "200ms", rise: 1, fall: 1 },
      }),
    });
    const down = await gw.waitForEvent("upstream_health", { healthy: "false" });
    assert.match(down.fields.reason ?? "", /no answer within 200 ms/);
    await eventually(() => probes.closed >= 5, 10_000, `5 probes closed (${JSON.stringify(probes)})`);
    assert.ok(probes.accepted - probes.closed <= 2, `probes left open: ${JSON.stringify(probes)}`);
  } finally {
    listener.close();
    for (const conn of held) conn.close();
    await serving;
  }
});
