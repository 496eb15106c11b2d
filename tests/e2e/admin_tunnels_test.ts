/**
 * The admin's view of open tunnels against the real process (DESIGN §3e): GET /tunnels.json
 * matches what is open and counts bytes as they move; POST /tunnels/{id}/close ends exactly that
 * tunnel (a TCP close on a raw route, Close 1008 on a tracked one) and logs who asked; the guard
 * still refuses the same POST from another site. Also the charts' /history.json and the
 * per-route and per-server figures of /status.json, and all of it through a supervisor's workers.
 */
import assert from "node:assert/strict";
import { wsEchoBackend } from "./_backends.ts";
import { openNodeWs, RawWs } from "./_clients.ts";
import { eventually, type Gateway, startGateway } from "./_harness.ts";
import { statusConfig } from "./_status.ts";
// Types only: the JSON the admin answers, as the gateway declares it.
import type { TunnelRow } from "../../lib/admin/tunnels.ts";
import type { HistoryJson } from "../../lib/observe/history.ts";
import { Opcode, parseResponse, rawRequest, text, upgradeRequest } from "./_wire.ts";

interface TunnelsJson {
  now: string;
  total: number;
  sort: string;
  tunnels: TunnelRow[];
}

async function getJson<T>(gw: Gateway, path: string): Promise<T> {
  const answer = await gw.admin("GET", path);
  assert.equal(answer.status, 200, `${path}: ${text(answer.body)}`);
  assert.match(answer.headers.get("content-type") ?? "", /^application\/json/);
  return JSON.parse(text(answer.body)) as T;
}

const tunnels = (gw: Gateway, query = "") => getJson<TunnelsJson>(gw, `/tunnels.json${query}`);

/** Frame sizes on the wire for payloads under 126 bytes: a client's are masked. */
const upFrame = (payload: string) => 2 + 4 + payload.length;
const downFrame = (payload: string) => 2 + payload.length;

async function echo(client: RawWs, message: string): Promise<void> {
  await client.sendText(message);
  const frame = await client.next();
  assert.equal(frame?.opcode, Opcode.text);
  assert.equal(text(frame.payload), message);
}

const localAddr = (client: RawWs) => {
  const addr = client.conn.localAddr as Deno.NetAddr;
  return `${addr.hostname}:${addr.port}`;
};

Deno.test("tunnels: /tunnels.json lists the open tunnels; closing one ends exactly that one", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({ config: statusConfig(backend.address) });
  const raw = await Promise.all(["a", "b"].map((tag) => RawWs.open(gw.port, { path: `/raw/${tag}` })));
  const tracked = await openNodeWs(`ws://127.0.0.1:${gw.port}/tracked/c`);
  try {
    for (const client of raw) assert.equal(client.response.status, 101);
    await echo(raw[0]!, "hello");
    await echo(raw[1]!, "a longer message, so this tunnel is the busiest one");
    tracked.send("tracked");
    assert.equal(await tracked.next(), "tracked");

    const list = await tunnels(gw);
    assert.equal(list.total, 3);
    assert.equal(list.sort, "oldest");
    assert.deepEqual(list.tunnels.map((t) => t.route), ["/raw/", "/raw/", "/tracked/"], "oldest first");
    const opens = gw.records("tunnel_open");
    for (const row of list.tunnels) {
      const open = opens.find((r) => r.fields.id === row.id);
      assert.ok(open, `tunnel_open with id ${row.id}`);
      assert.equal(row.client, open.fields.client);
      assert.equal(row.route, open.fields.route);
      assert.equal(row.upstream, "app");
      assert.equal(row.server, backend.address);
      assert.ok(
        Math.abs(Date.parse(row.started) - Date.parse(list.now)) < 60_000,
        "started is ISO and recent",
      );
    }
    const [rowA, rowB, rowC] = list.tunnels as [TunnelRow, TunnelRow, TunnelRow];
    assert.equal(rowA.client, localAddr(raw[0]!));
    assert.equal(rowB.client, localAddr(raw[1]!));
    assert.deepEqual([rowA.bytes_up, rowA.bytes_down], [upFrame("hello"), downFrame("hello")]);
    assert.equal(rowA.messages_up, undefined, "raw tunnels count no messages");
    assert.deepEqual([rowC.messages_up, rowC.messages_down], [1, 1], "tracked tunnels do");

    // Bytes move as they flow, not only when the tunnel closes.
    await echo(raw[0]!, "more");
    const moved = (await tunnels(gw)).tunnels.find((t) => t.id === rowA.id)!;
    assert.equal(moved.bytes_up, rowA.bytes_up + upFrame("more"));
    assert.equal(moved.bytes_down, rowA.bytes_down + downFrame("more"));

    const busiest = await tunnels(gw, "?sort=busiest&limit=1");
    assert.deepEqual([busiest.total, busiest.tunnels.length, busiest.tunnels[0]?.id], [3, 1, rowB.id]);

    // Raw route: a TCP close of that tunnel only.
    const closeA = await gw.admin("POST", `/tunnels/${rowA.id}/close`);
    assert.equal(closeA.status, 200, text(closeA.body));
    assert.equal(await raw[0]!.next(), null, "the client's connection is closed");
    const logged = await gw.waitForEvent("tunnel_closed_by_admin", { id: rowA.id });
    assert.match(logged.fields.admin ?? "", /^127\.0\.0\.1:\d+$/);
    const accessA = await gw.waitForEvent("access", { id: rowA.id });
    assert.deepEqual([accessA.fields.closed_by, accessA.fields.reason], ["proxy", "admin_close"]);
    await echo(raw[1]!, "still here");

    // Tracked route: the client gets Close 1008, and so does the backend.
    const closeC = await gw.admin("POST", `/tunnels/${rowC.id}/close`);
    assert.equal(closeC.status, 200, text(closeC.body));
    assert.equal((await tracked.closed).code, 1008);
    const accessC = await gw.waitForEvent("access", { id: rowC.id });
    assert.deepEqual([accessC.fields.closed_by, accessC.fields.reason], ["proxy", "admin_close"]);
    await eventually(() => backend.closes.some((c) => c.code === 1008), 5_000, "backend got Close 1008");

    const left = await tunnels(gw);
    assert.deepEqual(left.tunnels.map((t) => t.id), [rowB.id], "only the untouched tunnel is left");
    await echo(raw[1]!, "and still here");

    assert.equal((await gw.admin("POST", `/tunnels/${rowA.id}/close`)).status, 404, "already closed");
    assert.equal((await gw.admin("POST", "/tunnels/nope/close")).status, 404);
    assert.equal((await gw.admin("GET", `/tunnels/${rowB.id}/close`)).status, 405);
  } finally {
    for (const client of raw) await client[Symbol.asyncDispose]();
    await tracked[Symbol.asyncDispose]();
  }
});

Deno.test("tunnels: the guard refuses another site's POST /tunnels/{id}/close and nothing closes", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({ config: statusConfig(backend.address) });
  await using client = await RawWs.open(gw.port, { path: "/raw/x" });
  await echo(client, "x");
  const [row] = (await tunnels(gw)).tunnels;
  const post = (path: string, header: string) =>
    rawRequest(
      gw.adminPort,
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${header}\r\nContent-Length: 0\r\n\r\n`,
    );
  const cases: [string, string, string][] = [
    ["another origin", "Origin: http://evil.example", `/tunnels/${row!.id}/close`],
    ["Sec-Fetch-Site cross-site", "Sec-Fetch-Site: cross-site", `/tunnels/${row!.id}/close`],
    ["an unknown id too", "Origin: http://evil.example", "/tunnels/x/close"],
  ];
  for (const [name, header, path] of cases) {
    assert.equal(parseResponse(await post(path, header)).status, 403, name);
  }
  const rebound = `POST /tunnels/${
    row!.id
  }/close HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 0\r\n\r\n`;
  assert.equal(parseResponse(await rawRequest(gw.adminPort, rebound)).status, 421, "a rebound name");
  await echo(client, "still open");
  assert.equal((await tunnels(gw)).total, 1);
  assert.equal(gw.records("tunnel_closed_by_admin").length, 0);
});

interface Latency {
  count: number;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
}

interface Status {
  routes: {
    path: string;
    stats: {
      open: number;
      opened: number;
      rejects: Record<string, number>;
      upstreamFailures: number;
      handshake: Latency;
    };
  }[];
  upstreams: {
    name: string;
    servers: { address: string; stats: { failures: Record<string, number>; handshake: Latency } }[];
  }[];
  unrouted: { rejects: Record<string, number> };
}

/** Opens two tunnels with traffic, one upgrade to a dead upstream (502) and one malformed request (400). */
async function someTraffic(gw: Gateway): Promise<RawWs[]> {
  const clients = await Promise.all(["/raw/1", "/tracked/2"].map((path) => RawWs.open(gw.port, { path })));
  for (const client of clients) await echo(client, "traffic");
  const dead = await RawWs.open(gw.port, { path: "/dead/x" });
  assert.equal(dead.response.status, 502);
  await dead[Symbol.asyncDispose]();
  const bad = upgradeRequest({ path: "/raw/", headers: [["Sec-WebSocket-Key", "not base64 of 16 bytes"]] });
  assert.match(text(await rawRequest(gw.port, bad)), /^HTTP\/1\.1 400 /);
  return clients;
}

/** Waits for samples (WSGATE_HISTORY_INTERVAL=200ms) that saw the traffic and the tunnels open. */
async function historyOf(gw: Gateway, tunnelsOpen: number): Promise<HistoryJson> {
  let history: HistoryJson | undefined;
  const sum = (key: "opened" | "upstreamFailures") => history!.samples.reduce((n, s) => n + s[key], 0);
  const rejected = (status: string) => history!.samples.some((s) => (s.rejects[status] ?? 0) > 0);
  await eventually(
    async () => {
      history = await getJson<HistoryJson>(gw, "/history.json");
      return history.samples.at(-1)?.tunnels === tunnelsOpen && sum("upstreamFailures") > 0 &&
        sum("opened") > 0 && rejected("400") && rejected("502");
    },
    10_000,
    "history samples with the traffic",
  );
  return history!;
}

function checkHistory(history: HistoryJson): void {
  assert.equal(history.intervalSeconds, 0.2);
  assert.equal(history.windowSeconds, 900);
  const times = history.samples.map((s) => s.t);
  assert.deepEqual(times, [...times].sort((a, b) => a - b), "oldest first");
  assert.ok(times.every((t) => t % 200 === 0), "samples sit on multiples of the interval");
  assert.ok(history.samples.some((s) => s.bytesUp > 0 && s.bytesDown > 0), "bytes/s both ways");
}

function checkBreakdown(status: Status): void {
  const route = (path: string) => status.routes.find((r) => r.path === path)!.stats;
  assert.deepEqual([route("/raw/").open, route("/raw/").opened], [1, 1]);
  assert.deepEqual(route("/raw/").rejects, {}, "the 400 came before a route matched");
  assert.deepEqual(status.unrouted.rejects, { "400": 1 });
  assert.deepEqual(route("/dead/").rejects, { "502": 1 });
  assert.equal(route("/dead/").upstreamFailures, 1);
  const latency = route("/tracked/").handshake;
  assert.equal(latency.count, 1);
  for (const p of [latency.p50Ms, latency.p90Ms, latency.p99Ms]) {
    assert.ok(p !== null && p > 0, "percentiles");
  }
  assert.ok(latency.p50Ms! <= latency.p90Ms! && latency.p90Ms! <= latency.p99Ms!);
  const server = (group: string) => status.upstreams.find((u) => u.name === group)!.servers[0]!.stats;
  assert.deepEqual(server("dead").failures, { connect: 1 });
  assert.equal(server("app").handshake.count, 2);
}

Deno.test("tunnels: /history.json samples the traffic; /status.json has figures per route and server", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: statusConfig(backend.address),
    env: { WSGATE_HISTORY_INTERVAL: "200ms" },
  });
  const clients = await someTraffic(gw);
  try {
    checkHistory(await historyOf(gw, 2));
    checkBreakdown(await getJson<Status>(gw, "/status.json"));
  } finally {
    for (const client of clients) await client[Symbol.asyncDispose]();
  }
});

/** A port for the workers to share (each would get its own from port 0): one the kernel just
 * handed out and took back. Nothing in this test connects between the probe and the bind. */
function sharedPort(): number {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  probe.close();
  return (probe.addr as Deno.NetAddr).port;
}

Deno.test("tunnels: with workers, one list with worker-prefixed ids, and a close reaches the right worker", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: statusConfig(backend.address, { top: { workers: 2 }, listen: `127.0.0.1:${sharedPort()}` }),
    env: { WSGATE_HISTORY_INTERVAL: "200ms" },
  });
  await gw.waitForEvent("ready", { worker: "0" });
  await gw.waitForEvent("ready", { worker: "1" });
  // The kernel spreads connections over the workers: all 16 on one has odds of 1 in 32768.
  const n = 16;
  const clients = await Promise.all(
    Array.from({ length: n }, (_, i) => RawWs.open(gw.port, { path: `/raw/${i}` })),
  );
  try {
    for (const client of clients) await echo(client, "hi");
    const list = await tunnels(gw);
    assert.equal(list.total, n);
    const ids = list.tunnels.map((t) => t.id);
    assert.ok(ids.every((id) => /^[01]-\d+$/.test(id)), JSON.stringify(ids));
    assert.equal(new Set(ids).size, n, "ids unique across workers");
    const byClient = new Map(list.tunnels.map((t) => [t.client, t]));
    assert.deepEqual([...byClient.keys()].sort(), clients.map(localAddr).sort());

    // One tunnel of each worker: the close goes to the worker that holds it, which logs who asked.
    const victims = ["0", "1"].map((worker) =>
      clients.find((c) => byClient.get(localAddr(c))!.id.startsWith(`${worker}-`))!
    );
    for (const victim of victims) {
      const row = byClient.get(localAddr(victim))!;
      const closed = await gw.admin("POST", `/tunnels/${row.id}/close`);
      assert.equal(closed.status, 200, text(closed.body));
      assert.equal(await victim.next(), null);
      const [worker, id] = row.id.split("-") as [string, string];
      const logged = await gw.waitForEvent("tunnel_closed_by_admin", { worker, id });
      assert.match(
        logged.fields.admin ?? "",
        /^127\.0\.0\.1:\d+$/,
        "the admin client's address, not the supervisor's",
      );
      const access = await gw.waitForEvent("access", { worker, id });
      assert.equal(access.fields.reason, "admin_close");
    }
    for (const client of clients.filter((c) => !victims.includes(c))) await echo(client, "others keep going");
    assert.equal((await tunnels(gw)).total, n - 2);
    assert.equal((await gw.admin("POST", "/tunnels/7-1/close")).status, 404, "no such worker");

    await eventually(
      async () => {
        const history = await getJson<HistoryJson>(gw, "/history.json");
        return history.intervalSeconds === 0.2 && history.samples.at(-1)?.tunnels === n - 2;
      },
      10_000,
      "the merged history counts the tunnels of both workers",
    );
    const status = await getJson<Status>(gw, "/status.json");
    const latency = status.routes.find((r) => r.path === "/raw/")!.stats.handshake;
    assert.equal(latency.count, n, "percentiles over both workers' buckets");
  } finally {
    for (const client of clients) await client[Symbol.asyncDispose]();
  }
});
