/** /metrics counts open tunnels' messages as they go (not only at close), and says how many processes serve. */
import assert from "node:assert/strict";
import { wsEchoBackend } from "./_backends.ts";
import { openNodeWs } from "./_clients.ts";
import { oneRouteConfig, startGateway } from "./_harness.ts";
import { EchoLoop, metric, progress, scrapeMetrics, viaWsClient } from "./_ops.ts";

Deno.test("metrics: wsgate_messages_total moves while a tracked tunnel is open; wsgate_workers is 1 alone", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address], {
      route: { websocket: { track_frames: true } },
      top: { admin: { listen: "127.0.0.1:0" } },
    }),
  });
  const client = await openNodeWs(`ws://127.0.0.1:${gw.port}/`);
  const loop = new EchoLoop("m", viaWsClient(client));
  await progress([loop], 10);
  const echoed = await loop.stop();
  const open = await scrapeMetrics(gw);
  assert.equal(metric(open, "wsgate_messages_total", { direction: "up" }), echoed, "client messages, live");
  assert.equal(metric(open, "wsgate_messages_total", { direction: "down" }), echoed, "echoes, live");
  assert.equal(metric(open, "wsgate_workers"), 1);
  await client.close();
});
