/**
 * The gateway's own faults are not the backends' (DESIGN §4 "Upstream side"): running out of file
 * descriptors answers 503 + Retry-After and never takes a healthy server out of rotation. That a
 * fault is worded the same on both runtimes (Bun's own words are "Failed to listen at 127.0.0.1",
 * "Failed to connect") is checked where each fault is: a port in use in cli_test.ts, a refused
 * backend in upstream_test.ts.
 */
import assert from "node:assert/strict";
import { blackhole, rawBackend, switching } from "./_backends.ts";
import { RawWs } from "./_clients.ts";
import { eventually, oneRouteConfig, startGateway } from "./_harness.ts";
import { dial } from "./_wire.ts";

/** Low enough to fill quickly, high enough for the runtime's own descriptors (~25 on Deno). */
const NOFILE = 96;

/** A 101, then the connection stays open and idle until the gateway closes it. */
const idleBackend = () =>
  rawBackend(async (peer) => {
    await peer.write(switching(peer.head));
    const buf = new Uint8Array(1024);
    while (await peer.conn.read(buf) !== null) { /* discard until EOF */ }
  });

/** An upgrade's answer: its status and Retry-After, or why there was none. */
async function tryUpgrade(port: number, timeoutMs: number): Promise<RawWs | string> {
  try {
    return await RawWs.open(port, { timeoutMs });
  } catch (err) {
    return `no answer: ${err instanceof Error ? err.message : err}`;
  }
}

Deno.test("out of file descriptors: 503 + Retry-After, no server taken out, the first connection after release works", async () => {
  await using a = idleBackend();
  await using b = idleBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([a.address, b.address], {
      upstream: { retries: 1 },
      top: { limits: { handshake_timeout: "30s" } },
    }),
    wrap: ["prlimit", `--nofile=${NOFILE}:${NOFILE}`, "--"],
  });
  // A client that holds one descriptor without a head: closing it frees exactly one (below).
  const spare = await dial(gw.port);
  const tunnels: RawWs[] = [];
  try {
    // Two descriptors per tunnel: at most NOFILE / 2 can open.
    let refused: RawWs | string = `${NOFILE / 2} tunnels opened under a limit of ${NOFILE} descriptors`;
    for (let i = 0; i < NOFILE / 2; i++) {
      const opened = await tryUpgrade(gw.port, 3_000);
      if (typeof opened === "string" || opened.response.status !== 101) {
        refused = opened;
        break;
      }
      tunnels.push(opened);
    }
    assert.ok(tunnels.length > 5, `only ${tunnels.length} tunnels opened before: ${refused}`);
    if (typeof refused === "string") {
      // No descriptor left to accept with (Deno leaves the client queued): one more makes the
      // gateway accept, and its own dial is then the one to fail.
      spare.close();
      refused = await tryUpgrade(gw.port, 5_000);
    }
    const answers = [refused];
    for (let i = 0; i < 2; i++) answers.push(await tryUpgrade(gw.port, 5_000));
    for (const answer of answers) {
      assert.ok(typeof answer !== "string", `${answer}\n${gw.output()}`);
      assert.equal(answer.response.status, 503, answer.response.head);
      assert.equal(answer.response.headers.get("retry-after"), "1");
      await answer[Symbol.asyncDispose]();
    }
  } finally {
    try {
      spare.close();
    } catch { /* closed above */ }
    for (const tunnel of tunnels) await tunnel[Symbol.asyncDispose]();
  }
  // Every tunnel is released once its access record is written.
  await eventually(
    () => gw.records("access").filter((r) => r.fields.status === "101").length >= tunnels.length,
    10_000,
    "the tunnels closed",
  );
  await using after = await RawWs.open(gw.port, { timeoutMs: 5_000 });
  assert.equal(after.response.status, 101, `${after.response.head}\n${gw.output()}`);
  assert.deepEqual(gw.records("upstream_disabled"), []);
  assert.deepEqual(gw.records("upstream_failed"), [], "the gateway's own failure is no server's");
});

Deno.test("out of file descriptors: a backend that never answers a connect gets 504s, then 503s; never blamed as refusing", async () => {
  // Bun cannot abandon a connect: each one given up at connect_timeout keeps its socket until the
  // kernel gives up (about two minutes). Those must count against the gateway's descriptors, or
  // the real limit comes first and Bun reports the next dials as refused (502, the server blamed).
  await using target = await blackhole();
  await using gw = await startGateway({
    config: oneRouteConfig([], {
      upstream: { servers: [{ address: target.address, max_fails: 0 }], connect_timeout: "100ms" },
    }),
    wrap: ["prlimit", `--nofile=${NOFILE}:${NOFILE}`, "--"],
  });
  const statuses: number[] = [];
  // More dials than descriptors, one at a time.
  for (let i = 0; i < NOFILE + 10; i++) {
    const answer = await tryUpgrade(gw.port, 5_000);
    assert.ok(typeof answer !== "string", `${answer}\n${gw.output()}`);
    statuses.push(answer.response.status);
    await answer[Symbol.asyncDispose]();
  }
  assert.equal(statuses[0], 504);
  assert.deepEqual(statuses.filter((s) => s !== 504 && s !== 503), [], gw.output());
  const refused = gw.records("reject").filter((r) => /refused/i.test(r.fields.reason ?? ""));
  assert.deepEqual(refused, []);
});
