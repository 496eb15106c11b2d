/** `workers: 2`: two processes share the port, the supervisor sums their metrics and replaces a dead one. */
import assert from "node:assert/strict";
import { wsEchoBackend } from "./_backends.ts";
import { RawWs } from "./_clients.ts";
import { eventually, type Gateway, startGateway, toYaml } from "./_harness.ts";
import { EchoLoop, metric, progress, scrapeMetrics, viaRawWs } from "./_ops.ts";

/**
 * A free port below the ephemeral range (32768+ here), so that no client socket of this test
 * takes it between the probe and the workers' bind. Each worker binds it separately (port 0
 * would give each its own port).
 */
function freePort(): number {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch { /* taken: try another */ }
  }
  throw new Error("no free port below 32000");
}

/** Opens `n` tunnels at once, each checked with one echo. */
function openTunnels(port: number, n: number, path: string): Promise<RawWs[]> {
  return Promise.all(Array.from({ length: n }, async (_, i) => {
    const client = await RawWs.open(port, { path: `${path}/${i}` });
    assert.equal(client.response.status, 101);
    assert.equal(await viaRawWs(client)(`hello ${i}`), `hello ${i}`);
    return client;
  }));
}

/** Which worker process holds each client's tunnel, from the `tunnel_open` record of its address. */
function workerOf(gw: Gateway, client: RawWs): string {
  const address = `127.0.0.1:${(client.conn.localAddr as Deno.NetAddr).port}`;
  const open = gw.records("tunnel_open").find((r) => r.fields.client === address);
  assert.ok(open?.fields.worker !== undefined, `no tunnel_open for ${address}`);
  return open.fields.worker;
}

const countBy = (values: string[]) =>
  values.reduce((m, v) => m.set(v, (m.get(v) ?? 0) + 1), new Map<string, number>());

Deno.test("workers: two processes share the port, metrics are summed, a killed worker is replaced", async () => {
  await using backend = await wsEchoBackend();
  const port = freePort();
  await using gw = await startGateway({
    config: toYaml({
      servers: [{ listen: [`127.0.0.1:${port}`], routes: [{ path: "/", upstream: "app" }] }],
      upstreams: { app: { servers: [backend.address] } },
      admin: { listen: "127.0.0.1:0" },
      workers: 2,
      shutdown_timeout: "2s",
    }),
  });
  await gw.waitForEvent("supervisor_ready", { workers: "2" });
  await gw.waitForEvent("ready", { worker: "0" });
  await gw.waitForEvent("ready", { worker: "1" });

  // Connections land on both processes: count `worker=` on the access lines.
  const short = await openTunnels(port, 20, "/spread");
  await Promise.all(short.map((client) => client[Symbol.asyncDispose]()));
  await eventually(() => gw.records("access").length === 20, 5_000, "20 access lines");
  const perWorker = countBy(gw.records("access").map((r) => r.fields.worker ?? "none"));
  assert.deepEqual([...perWorker.keys()].sort(), ["0", "1"], JSON.stringify([...perWorker]));

  // The supervisor's /metrics is the sum over both workers.
  const summed = await scrapeMetrics(gw);
  assert.equal(metric(summed, "wsgate_handshakes_total", { result: "tunnel", status: "101" }), 20);
  assert.equal(metric(summed, "wsgate_tunnels_total", { route: "/" }), 20);
  assert.equal(metric(summed, "wsgate_workers"), 2);

  // Long tunnels on both workers (16: all on one worker has odds of 1 in 32768); one worker dies.
  const clients = await openTunnels(port, 16, "/long");
  try {
    const loops = clients.map((client, i) => new EchoLoop(`long${i}`, viaRawWs(client)));
    await progress(loops, 5);
    assert.equal(metric(await scrapeMetrics(gw), "wsgate_active_tunnels", { route: "/" }), 16);
    const victim = gw.records("worker_started").find((r) => r.fields.worker === "0")!.fields.pid!;
    const onVictim = loops.filter((_, i) => workerOf(gw, clients[i]!) === "0");
    const survivors = loops.filter((loop) => !onVictim.includes(loop));
    assert.ok(
      onVictim.length > 0 && survivors.length > 0,
      `tunnels per worker: ${onVictim.length}/${survivors.length}`,
    );

    Deno.kill(Number(victim), "SIGKILL");
    await gw.waitForEvent("worker_exited", { worker: "0", pid: victim });
    await eventually(() => onVictim.every((loop) => loop.failure), 5_000, "the dead worker's tunnels end");
    await progress(survivors, 20);
    await eventually(
      () => gw.records("worker_started").filter((r) => r.fields.worker === "0").length === 2,
      5_000,
      "a replacement worker 0",
    );
    const replacement = gw.records("worker_started").filter((r) => r.fields.worker === "0")[1]!;
    assert.notEqual(replacement.fields.pid, victim);
    await eventually(
      () => gw.records("ready").filter((r) => r.fields.worker === "0").length === 2,
      10_000,
      "the replacement is ready",
    );

    // New connections still succeed, on both processes.
    const fresh = await openTunnels(port, 16, "/fresh");
    const freshWorkers = countBy(fresh.map((client) => workerOf(gw, client)));
    await Promise.all(fresh.map((client) => client[Symbol.asyncDispose]()));
    assert.deepEqual([...freshWorkers.keys()].sort(), ["0", "1"], JSON.stringify([...freshWorkers]));
    await progress(survivors, 5);
    await Promise.all(loops.map((loop) => loop.stop()));
    assert.deepEqual(survivors.map((loop) => loop.failure), survivors.map(() => undefined));
  } finally {
    await Promise.all(clients.map((client) => client[Symbol.asyncDispose]()));
  }
  const status = await gw.stop("SIGTERM");
  assert.equal(status.code, 0, gw.output());
});
