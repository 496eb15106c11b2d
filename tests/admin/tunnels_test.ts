/**
 * GET /tunnels.json and the close it offers, over real tunnels on in-memory peers: the rows come
 * from the watchdog's registry (owner, live byte and message counters), the order and limit are
 * picked in one pass, and the workers' lists merge into one with ids that say which worker.
 */
import assert from "node:assert/strict";
import {
  listTunnels,
  mergeTunnelLists,
  parseTunnelId,
  parseTunnelQuery,
  pickFirst,
  splitWorkerTunnelId,
  type TunnelQuery,
  type TunnelRow,
  type TunnelsJson,
} from "../../lib/admin/tunnels.ts";
import type { TunnelResult } from "../../lib/tunnel/tunnel.ts";
import { type TunnelOwner, Watchdog } from "../../lib/tunnel/watchdog.ts";
import { Opcode, parseClose } from "../e2e/_wire.ts";
import { ManualClock, settle } from "../_clock.ts";
import { Peer, pipe, wsTunnel } from "../tunnel/_peer.ts";

const T0 = Date.UTC(2024, 0, 1);

function owner(id: number, startedMs: number, route = "/raw"): TunnelOwner {
  return {
    id,
    started: T0 + startedMs,
    describe: () => ({
      client: `127.0.0.1:${50000 + id}`,
      route,
      upstream: "chat",
      server: "127.0.0.1:8080",
    }),
  };
}

/** Tunnels 1 (raw) and 2 (tracked) on one watchdog; the clients send `up` bytes, the upstreams `down`. */
function twoTunnels() {
  const watchdog = new Watchdog(new ManualClock());
  const base = { readTimeout: 0, sendTimeout: 0, idleTimeout: 0, watchdog };
  const peers = [0, 1].map(() => ({
    client: new Peer({ masked: true }),
    upstream: new Peer({ masked: false }),
  }));
  const [raw, tracked] = peers as [typeof peers[0], typeof peers[0]];
  const results: Promise<TunnelResult>[] = [
    pipe(raw.client, raw.upstream, { ...base, owner: owner(1, 0) }),
    wsTunnel(tracked.client, tracked.upstream, {
      ...base,
      pingInterval: 0,
      pingTimeout: 10_000,
      owner: owner(2, 1_000, "/tracked"),
    }),
  ];
  return { watchdog, raw, tracked, results };
}

Deno.test("tunnels.json: one row per open tunnel, with live bytes, and messages on tracked routes", async () => {
  const { watchdog, raw, tracked, results } = twoTunnels();
  raw.client.send(new Uint8Array(10));
  raw.upstream.send(new Uint8Array(300));
  tracked.client.send(tracked.client.frame(Opcode.text, new TextEncoder().encode("hi")));
  tracked.upstream.send(tracked.upstream.frame(Opcode.text, new TextEncoder().encode("hello")));
  await settle();

  const list = listTunnels(watchdog.open(), { sort: "oldest" }, T0 + 5_000);
  const expected: TunnelsJson = {
    now: "2024-01-01T00:00:05.000Z",
    total: 2,
    sort: "oldest",
    tunnels: [
      {
        id: "1",
        client: "127.0.0.1:50001",
        route: "/raw",
        upstream: "chat",
        server: "127.0.0.1:8080",
        started: "2024-01-01T00:00:00.000Z",
        bytes_up: 10,
        bytes_down: 300,
      },
      {
        id: "2",
        client: "127.0.0.1:50002",
        route: "/tracked",
        upstream: "chat",
        server: "127.0.0.1:8080",
        started: "2024-01-01T00:00:01.000Z",
        bytes_up: 2 + 4 + 2,
        bytes_down: 2 + 5,
        messages_up: 1,
        messages_down: 1,
      },
    ],
  };
  assert.deepEqual(list, expected);
  assert.deepEqual(listTunnels(watchdog.open(), { sort: "busiest", limit: 1 }, T0).tunnels.map((t) => t.id), [
    "1",
  ]);
  assert.equal(listTunnels(watchdog.open(), { sort: "oldest", limit: 0 }, T0).total, 2, "limit 0: a count");

  for (const peer of [raw.client, raw.upstream, tracked.client, tracked.upstream]) peer.send(null);
  await Promise.all(results);
  assert.deepEqual(listTunnels(watchdog.open(), { sort: "oldest" }, T0).tunnels, [], "closed ones are gone");
});

Deno.test("an admin close: the raw tunnel's sockets close, the tracked one's peers get Close 1008", async () => {
  const { watchdog, raw, tracked, results } = twoTunnels();
  await settle();
  watchdog.find(1)!.abort("proxy", "admin_close");
  const rawResult = await results[0]!;
  assert.deepEqual([rawResult.closedBy, rawResult.reason], ["proxy", "admin_close"]);
  assert.ok(raw.client.closed && raw.upstream.closed);
  assert.equal(tracked.client.closed, false, "only that tunnel");

  watchdog.find(2)!.abort("proxy", "admin_close");
  await settle();
  for (const peer of [tracked.client, tracked.upstream]) {
    const close = peer.frames.find((f) => f.opcode === Opcode.close);
    assert.deepEqual(close && parseClose(close.payload), { code: 1008, reason: "closed by admin" });
  }
  tracked.client.send(tracked.client.frame(Opcode.close, new Uint8Array([0x03, 0xf0])));
  tracked.upstream.send(tracked.upstream.frame(Opcode.close, new Uint8Array([0x03, 0xf0])));
  const trackedResult = await results[1]!;
  assert.deepEqual([trackedResult.closedBy, trackedResult.reason, trackedResult.closeCode], [
    "proxy",
    "admin_close",
    1008,
  ]);
  assert.equal(watchdog.find(2), undefined);
});

Deno.test("pickFirst() keeps the first `limit` in order in one pass, and counts them all", () => {
  const items = [5, 3, 9, 1, 7, 3, 8].map((n, i) => ({ id: String(i), started: n, bytes: 10 - n }));
  const key = (item: typeof items[0]) => item;
  const ids = (query: TunnelQuery) => pickFirst(items, key, query).picked.map((i) => i.id);
  assert.deepEqual(ids({ sort: "oldest" }), ["3", "1", "5", "0", "4", "6", "2"], "ties by id");
  assert.deepEqual(ids({ sort: "oldest", limit: 3 }), ["3", "1", "5"]);
  assert.deepEqual(ids({ sort: "busiest", limit: 2 }), ["3", "1"]);
  assert.deepEqual(ids({ sort: "busiest", limit: 0 }), []);
  assert.equal(pickFirst(items, key, { sort: "oldest", limit: 2 }).total, 7);
});

Deno.test("mergeTunnelLists() prefixes ids with the worker, sorts the union, sums the totals", () => {
  const row = (id: string, startedMs: number, bytes: number): TunnelRow => ({
    id,
    client: "c",
    route: "/",
    upstream: "u",
    server: "s",
    started: new Date(T0 + startedMs).toISOString(),
    bytes_up: bytes,
    bytes_down: 0,
  });
  const list = (total: number, ...tunnels: TunnelRow[]): TunnelsJson => ({
    now: "",
    total,
    sort: "oldest",
    tunnels,
  });
  const lists = [
    { worker: 0, list: list(5, row("4", 100, 1), row("9", 300, 50)) },
    { worker: 1, list: list(3, row("4", 200, 99)) },
  ];
  const oldest = mergeTunnelLists(lists, { sort: "oldest", limit: 2 }, T0);
  assert.deepEqual(oldest.tunnels.map((t) => t.id), ["0-4", "1-4"]);
  assert.equal(oldest.total, 8);
  assert.equal(oldest.now, "2024-01-01T00:00:00.000Z");
  const busiest = mergeTunnelLists(lists, { sort: "busiest" }, T0);
  assert.deepEqual(busiest.tunnels.map((t) => t.id), ["1-4", "0-9", "0-4"]);
});

Deno.test("tunnel ids and queries are parsed strictly", () => {
  assert.deepEqual(splitWorkerTunnelId("1-42"), { worker: 1, id: "42" });
  for (const bad of ["42", "1-", "-42", "1-4-2", "a-1", "1-x"]) {
    assert.equal(splitWorkerTunnelId(bad), undefined, bad);
  }
  assert.equal(parseTunnelId("42"), 42);
  for (const bad of ["", "4x", "-1", "1-42", "1e3", "9".repeat(16)]) {
    assert.equal(parseTunnelId(bad), undefined, bad);
  }
  const cases: [string, TunnelQuery][] = [
    ["", { sort: "oldest" }],
    ["sort=busiest&limit=5", { sort: "busiest", limit: 5 }],
    ["sort=BUSIEST&limit=2.5", { sort: "oldest" }],
    ["limit=0", { sort: "oldest", limit: 0 }],
  ];
  for (const [search, query] of cases) assert.deepEqual(parseTunnelQuery(search), query, search);
});
