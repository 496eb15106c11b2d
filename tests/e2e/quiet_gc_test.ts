/**
 * After a burst of connections, once the gateway is quiet, it collects its garbage once (a `gc`
 * record with reason=quiet) so the RSS the burst grew comes back (lib/process/quiet_gc.ts); a few
 * connections never cause one. Deno collects on demand only with --expose-gc, given here.
 */
import assert from "node:assert/strict";
import { oneRouteConfig, startGateway } from "./_harness.ts";
import { MIN_EVENTS, QUIET_MS } from "../../lib/process/quiet_gc.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Opens `count` connections, `batch` at a time, each closed at once: two events each. */
async function churn(port: number, count: number, batch = 50): Promise<void> {
  for (let done = 0; done < count; done += batch) {
    const conns = await Promise.all(
      Array.from(
        { length: Math.min(batch, count - done) },
        () => Deno.connect({ hostname: "127.0.0.1", port }),
      ),
    );
    for (const conn of conns) conn.close();
  }
}

async function gateway() {
  return await startGateway({
    config: oneRouteConfig(["127.0.0.1:9"]),
    env: { DENO_V8_FLAGS: "--expose-gc" },
  });
}

Deno.test("quiet gc: a burst of connections, then quiet: one collection, logged with its pause and the RSS left", async () => {
  await using gw = await gateway();
  await churn(gw.port, MIN_EVENTS); // 2 × MIN_EVENTS events
  const record = await gw.waitForEvent("gc", { reason: "quiet" }, QUIET_MS * 5);
  assert.equal(record.fields.collected, "true");
  assert.ok(Number(record.fields.duration_ms) >= 0, record.fields.duration_ms);
  assert.ok(Number(record.fields.rss) > 0, record.fields.rss);
  await sleep(QUIET_MS * 3);
  assert.equal(gw.records("gc").length, 1, "once per burst, not once per quiet period");
});

Deno.test("quiet gc: a few connections cause no collection", async () => {
  await using gw = await gateway();
  await churn(gw.port, MIN_EVENTS / 10);
  await sleep(QUIET_MS * 3);
  assert.deepEqual(gw.records("gc"), []);
});
