import assert from "node:assert/strict";
import { type AdminController, answerAdmin } from "../../lib/admin/server.ts";

/** Records what the endpoints asked of the gateway. */
function controller(healthy = true) {
  const calls: string[] = [];
  const c: AdminController = {
    healthy: () => healthy,
    metricsText: () => Promise.resolve("wsgate_up 1\n"),
    metricsJson: () => Promise.resolve({ counters: [] }),
    statusJson: () => Promise.resolve({ ok: true }),
    reload: () => {
      calls.push("reload");
      return Promise.resolve({ ok: false, errors: ["x.yaml:1:1: bad"] });
    },
    drain: (group, address, drained) => {
      calls.push(`${drained ? "drain" : "undrain"} ${group} ${address}`);
      return Promise.resolve(group === "chat");
    },
    historyJson: () => Promise.resolve({ intervalSeconds: 5, windowSeconds: 900, samples: [] }),
    tunnelsJson: (query) => {
      calls.push(`tunnels ${JSON.stringify(query)}`);
      return Promise.resolve({ now: "2024-01-01T00:00:00.000Z", total: 0, sort: query.sort, tunnels: [] });
    },
    closeTunnel: (id, admin) => {
      calls.push(`close ${id} by ${admin}`);
      return Promise.resolve(id === "1-42");
    },
  };
  return { c, calls };
}

Deno.test("answerAdmin() serves health, metrics and status", async () => {
  const { c } = controller();
  assert.equal((await answerAdmin("GET", "/healthz", c)).status, 200);
  assert.equal((await answerAdmin("GET", "/healthz", controller(false).c)).status, 503);
  const metrics = await answerAdmin("GET", "/metrics", c);
  assert.equal(metrics.body, "wsgate_up 1\n");
  assert.match(metrics.type, /^text\/plain; version=0\.0\.4/);
  assert.deepEqual(JSON.parse((await answerAdmin("GET", "/status.json", c)).body), { ok: true });
  assert.match((await answerAdmin("GET", "/status", c)).body, /<html/i);
  assert.equal((await answerAdmin("GET", "/nope", c)).status, 404);
});

Deno.test("answerAdmin() reloads and drains only on POST, with decoded names", async () => {
  const { c, calls } = controller();
  assert.equal((await answerAdmin("GET", "/reload", c)).status, 405);
  const reload = await answerAdmin("POST", "/reload", c);
  assert.equal(reload.status, 400);
  assert.deepEqual(JSON.parse(reload.body).errors, ["x.yaml:1:1: bad"]);
  assert.equal((await answerAdmin("POST", "/upstreams/chat/servers/127.0.0.1%3A8080/drain", c)).status, 200);
  assert.equal(
    (await answerAdmin("POST", "/upstreams/chat/servers/unix%3A%2Frun%2Fa.sock/undrain", c)).status,
    200,
  );
  assert.equal((await answerAdmin("POST", "/upstreams/other/servers/x/drain", c)).status, 404);
  assert.equal((await answerAdmin("GET", "/upstreams/chat/servers/x/drain", c)).status, 405);
  assert.deepEqual(calls, [
    "reload",
    "drain chat 127.0.0.1:8080",
    "undrain chat unix:/run/a.sock",
    "drain other x",
  ]);
});

Deno.test("answerAdmin() lists tunnels with the query's order and limit, and serves the history", async () => {
  const { c, calls } = controller();
  assert.equal((await answerAdmin("GET", "/tunnels.json", c)).status, 200);
  await answerAdmin("GET", "/tunnels.json?sort=busiest&limit=10", c);
  await answerAdmin("GET", "/tunnels.json?sort=nonsense&limit=-1", c);
  assert.deepEqual(calls, [
    'tunnels {"sort":"oldest"}',
    'tunnels {"sort":"busiest","limit":10}',
    'tunnels {"sort":"oldest"}',
  ]);
  const history = await answerAdmin("GET", "/history.json", c);
  assert.equal(history.status, 200);
  assert.equal(JSON.parse(history.body).intervalSeconds, 5);
  assert.ok(!history.body.trimEnd().includes("\n"), "compact: only the page polls it");
});

Deno.test("answerAdmin() closes a tunnel only on POST, naming who asked", async () => {
  const { c, calls } = controller();
  const closed = await answerAdmin("POST", "/tunnels/1-42/close", c, "127.0.0.1:5555");
  assert.equal(closed.status, 200);
  assert.deepEqual(JSON.parse(closed.body), { id: "1-42", closed: true });
  assert.equal((await answerAdmin("POST", "/tunnels/9/close", c, "127.0.0.1:5555")).status, 404);
  assert.equal((await answerAdmin("GET", "/tunnels/1-42/close", c)).status, 405);
  assert.equal((await answerAdmin("POST", "/tunnels//close", c)).status, 404, "no id: no such endpoint");
  assert.deepEqual(calls, ["close 1-42 by 127.0.0.1:5555", "close 9 by 127.0.0.1:5555"]);
});
