/** Active health checks: the rise/fall verdict, and real probes (tcp, http, websocket) against local servers. */
import assert from "node:assert/strict";
import { HealthChecks, HealthVerdict, NO_VERDICT, probe } from "../../lib/upstream/health.ts";
import { runtime } from "../../lib/runtime/deno.ts";
import { ServerRecords, UpstreamGroup } from "../../lib/upstream/group.ts";
import { groupConfig, recordingLogger } from "./_upstreams.ts";
import { NetError } from "../../lib/errors.ts";
import type { Net } from "../../lib/runtime/types.ts";

Deno.test("HealthVerdict: fall failures in a row mark unhealthy, rise passes in a row healthy again", () => {
  const cases: { name: string; results: string; verdicts: string; changes: number }[] = [
    { name: "fall 3", results: "ffpfff", verdicts: "HHHHHU", changes: 1 },
    { name: "rise 2 after falling", results: "fffpfpp", verdicts: "HHUUUUH", changes: 2 },
    { name: "passes while healthy change nothing", results: "pppp", verdicts: "HHHH", changes: 0 },
  ];
  for (const { name, results, verdicts, changes } of cases) {
    const verdict = new HealthVerdict({ rise: 2, fall: 3, healthy: true });
    let changed = 0;
    const seen = [...results].map((r) => {
      if (verdict.record(r === "p")) changed++;
      return verdict.healthy ? "H" : "U";
    });
    assert.equal(seen.join(""), verdicts, name);
    assert.equal(changed, changes, name);
  }
});

/** A Deno.serve server on port 0 answering with `handler`; closed by `await using`. */
function serve(handler: (req: Request) => Response | Promise<Response>) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  return { address: `127.0.0.1:${server.addr.port}`, [Symbol.asyncDispose]: () => server.shutdown() };
}

function upgrade(req: Request): Response {
  const { socket, response } = Deno.upgradeWebSocket(req);
  socket.onerror = () => {};
  return response;
}

/** A TCP server that accepts and then never says anything. */
function silent() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) conns.push(conn);
  })();
  return {
    address: `127.0.0.1:${listener.addr.port}`,
    async [Symbol.asyncDispose]() {
      listener.close();
      await accepting;
      for (const conn of conns) conn.close();
    },
  };
}

function deadAddress(): string {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  listener.close();
  return `127.0.0.1:${listener.addr.port}`;
}

async function check(
  address: string,
  healthCheck: Record<string, unknown>,
): Promise<string | undefined | null> {
  const group = groupConfig([address], { health_check: { timeout: "500ms", ...healthCheck } });
  return await probe(runtime, { group, server: group.servers[0]! });
}

Deno.test("probe(): tcp, http and websocket checks pass and fail for the right reasons", async () => {
  await using ok = serve((req) => req.headers.get("upgrade") ? upgrade(req) : new Response("ok"));
  await using failing = serve(() => new Response("no", { status: 503 }));
  await using refusing = serve((req) => new Response(req.headers.get("upgrade") ?? "", { status: 403 }));
  await using quiet = silent();
  const dead = deadAddress();
  const cases: [string, string, Record<string, unknown>, RegExp | undefined][] = [
    ["tcp, listening", ok.address, { type: "tcp" }, undefined],
    ["tcp, nothing listening", dead, { type: "tcp" }, /connect failed/],
    ["http 200", ok.address, { type: "http", path: "/healthz" }, undefined],
    ["http 503", failing.address, { type: "http" }, /^answered 503$/],
    ["http 503 expected", failing.address, { type: "http", expect_status: 503 }, undefined],
    ["http 200 not in expect_status", ok.address, { type: "http", expect_status: [204] }, /^answered 200$/],
    ["websocket handshake", ok.address, { type: "websocket", path: "/ws" }, undefined],
    ["websocket refused", refusing.address, { type: "websocket" }, /answered 403 instead of 101/],
    ["websocket against plain http", failing.address, { type: "websocket" }, /answered 503 instead of 101/],
    ["accepts but never answers", quiet.address, { type: "http" }, /^no answer within 500 ms$/],
  ];
  for (const [name, address, healthCheck, expected] of cases) {
    const problem = await check(address, healthCheck);
    if (expected) assert.match(problem ?? "(passed)", expected, name);
    else assert.equal(problem, undefined, name);
  }
});

Deno.test("HealthChecks: a failing server turns unhealthy after `fall` probes, recovers after `rise`, logged once each", async () => {
  let status = 200;
  await using backend = serve(() => new Response(null, { status }));
  const logger = recordingLogger();
  const group = new UpstreamGroup(groupConfig([backend.address], {
    health_check: { type: "http", interval: "20ms", timeout: "500ms", rise: 2, fall: 2 },
  }));
  const server = group.servers[0]!;
  const checks = new HealthChecks(runtime, { logger });
  checks.sync(new Map([["app", group]]));
  try {
    const until = async (healthy: boolean) => {
      const deadline = Date.now() + 3_000;
      while (server.healthy !== healthy) {
        assert.ok(Date.now() < deadline, `still healthy=${server.healthy}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    status = 500;
    await until(false);
    status = 204;
    await until(true);
  } finally {
    await checks.stop();
  }
  assert.deepEqual(logger.records.map(({ event, fields }) => `${event} ${fields.healthy} ${fields.reason}`), [
    "upstream_health false answered 500",
    "upstream_health true 2 checks passed",
  ]);
});

Deno.test("HealthChecks: verdicts live per address, so a reload (new groups, new checks) keeps them", async () => {
  const dead = deadAddress();
  const records = new ServerRecords();
  const make = (keys: Record<string, unknown>) =>
    new UpstreamGroup(groupConfig([dead, { address: "127.0.0.1:1", down: true }], keys), { records });
  const before = make({ health_check: { interval: "1h" } });
  before.servers[0]!.healthy = false;
  const after = make({ health_check: { interval: "1h" } });
  const checks = new HealthChecks(runtime, { logger: recordingLogger() });
  checks.sync(new Map([["app", after]]));
  await checks.stop();
  assert.equal(after.servers[0]!.healthy, false);
  assert.equal(after.servers[1]!.healthy, true);
  // Checks turned off by a reload: nothing can bring the verdict back, so it is dropped.
  const unchecked = make({});
  const none = new HealthChecks(runtime, { logger: recordingLogger() });
  none.sync(new Map([["app", unchecked]]));
  await none.stop();
  assert.equal(unchecked.servers[0]!.healthy, true);
});

Deno.test("HealthChecks.sync(): a server DNS drops is no longer probed; one it adds is", async () => {
  let probes = 0;
  await using backend = serve(() => {
    probes++;
    return new Response(null, { status: 200 });
  });
  const group = new UpstreamGroup(groupConfig(["127.0.0.1:1"], {
    health_check: { type: "http", interval: "20ms", timeout: "500ms" },
  }));
  const checks = new HealthChecks(runtime, { logger: recordingLogger() });
  const discovered = groupConfig([backend.address]).servers;
  try {
    checks.sync(new Map([["app", group]]));
    group.setDiscovered(discovered);
    checks.sync(new Map([["app", group]]));
    const deadline = Date.now() + 3_000;
    while (probes < 3) {
      assert.ok(Date.now() < deadline, "the added server was not probed");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    group.setDiscovered([]);
    checks.sync(new Map([["app", group]]));
    // A probe in flight is abandoned, though its request may still land; after that, none.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const settled = probes;
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(probes, settled);
  } finally {
    await checks.stop();
  }
});

Deno.test("probe(): out of descriptors or memory is the gateway's trouble: no verdict on the server", async () => {
  const failing = (code: "EMFILE" | "ENFILE" | "ECONNREFUSED"): Net => ({
    connect: () => Promise.reject(new NetError(code, `${code} from the dial`)),
    listen: () => Promise.reject(new Error("probes never listen")),
  });
  const group = groupConfig(["127.0.0.1:9"], { health_check: { timeout: "500ms" } });
  const server = group.servers[0]!;
  assert.equal(await probe(failing("EMFILE"), { group, server }), NO_VERDICT);
  assert.equal(await probe(failing("ENFILE"), { group, server }), NO_VERDICT);
  assert.match(String(await probe(failing("ECONNREFUSED"), { group, server })), /ECONNREFUSED/);
});
