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
