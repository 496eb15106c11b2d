import assert from "node:assert/strict";
import type { PickContext } from "../../lib/balance/balancer.ts";
import {
  type Acquired,
  type Lease,
  RECORD_TTL_MS,
  ServerRecords,
  UpstreamGroup,
} from "../../lib/upstream/group.ts";
import { groupConfig, recordingLogger } from "./_upstreams.ts";
import { ManualClock } from "../_clock.ts";

const ctx: PickContext = { clientIp: "192.0.2.1", hashKey: () => undefined };
const A = "10.0.0.1:80";
const B = "10.0.0.2:80";
const C = "10.0.0.3:80";

function lease(result: Acquired): Lease {
  assert.ok(result.lease, `expected a lease, got none: ${result.none}`);
  return result.lease;
}

/** The address acquire() picks, releasing the lease at once; `tried` by position in the group. */
function next(group: UpstreamGroup, tried: number[] = []): string | undefined {
  const result = group.acquire(new Set(tried.map((i) => group.servers[i]!.address)), ctx);
  result.lease?.release();
  return result.lease?.server.address ?? result.none;
}

Deno.test("acquire() never returns a server already tried, and says so when all were", () => {
  const group = new UpstreamGroup(groupConfig([A, B, C]));
  assert.equal(next(group, [0, 1]), C);
  assert.equal(next(group, [0, 2]), B);
  assert.equal(next(group, [0, 1, 2]), "tried");
});

Deno.test("acquire() skips servers that are down, drained or unhealthy", () => {
  const cases: { name: string; set: (group: UpstreamGroup) => void }[] = [
    { name: "down", set: () => {} },
    { name: "drained", set: (group) => group.servers[1]!.drained = true },
    { name: "unhealthy", set: (group) => group.servers[1]!.healthy = false },
  ];
  for (const { name, set } of cases) {
    const down = name === "down";
    const group = new UpstreamGroup(groupConfig([A, { address: B, down }]));
    set(group);
    const picks = new Set(Array.from({ length: 6 }, () => next(group)));
    assert.deepEqual([...picks], [A], name);
    assert.equal(next(group, [0]), "unavailable", name);
  }
});

Deno.test("acquire() skips full servers; all full is 'full' (503), even beside unavailable ones", () => {
  const group = new UpstreamGroup(groupConfig([{ address: A, max_conns: 2 }, { address: B, down: true }]));
  const first = lease(group.acquire(new Set(), ctx));
  const second = lease(group.acquire(new Set(), ctx));
  assert.equal(group.servers[0]!.active, 2);
  assert.equal(group.acquire(new Set(), ctx).none, "full");
  first.release();
  assert.equal(next(group), A);
  second.release();
  assert.equal(group.servers[0]!.active, 0);
});

Deno.test("acquire() uses backups only when no primary can take the connection", () => {
  const group = new UpstreamGroup(
    groupConfig([A, { address: B, max_conns: 1 }, { address: C, backup: true }]),
  );
  assert.deepEqual(new Set(Array.from({ length: 10 }, () => next(group))), new Set([A, B]));
  // Primaries tried (a retry), unhealthy, or full: the backup.
  assert.equal(next(group, [0, 1]), C);
  group.servers[0]!.healthy = false;
  const holding = lease(group.acquire(new Set(), ctx));
  assert.equal(holding.server.address, B);
  assert.equal(next(group), C);
  // One primary back: traffic returns to it.
  group.servers[0]!.healthy = true;
  assert.equal(next(group), A);
  holding.release();
});

Deno.test("release() is idempotent: the active count stays exact", () => {
  const group = new UpstreamGroup(groupConfig([A]));
  const leases = Array.from({ length: 5 }, () => lease(group.acquire(new Set(), ctx)));
  assert.equal(group.servers[0]!.active, 5);
  for (const l of leases) {
    l.release();
    l.release({ failed: true });
  }
  assert.equal(group.servers[0]!.active, 0);
  // The second release did not count as a failure either.
  assert.equal(next(group), A);
});

Deno.test("max_fails failures within fail_timeout take a server out for fail_timeout", async () => {
  const clock = new ManualClock();
  const logger = recordingLogger();
  const group = new UpstreamGroup(
    groupConfig([{ address: A, max_fails: 2, fail_timeout: "10s" }, B]),
    { now: clock.now, logger },
  );
  const fail = () => lease(group.acquire(new Set([B]), ctx)).release({ failed: true });
  fail();
  await clock.advance(10_001);
  fail(); // the first failure has left the window: still 1 of 2
  assert.equal(next(group, [1]), A);
  await clock.advance(5_000);
  fail();
  assert.equal(next(group, [1]), "unavailable");
  assert.deepEqual(logger.records, [
    {
      level: "warn",
      event: "upstream_disabled",
      fields: { upstream: "app", server: A, fails: 2, fail_timeout: "10s" },
    },
  ]);
  await clock.advance(9_999);
  assert.equal(next(group, [1]), "unavailable");
  await clock.advance(1);
  assert.equal(next(group, [1]), A);
  // A fresh start: one more failure is not enough.
  fail();
  assert.equal(next(group, [1]), A);
});

Deno.test("passive health: defaults (max_fails 1, fail_timeout 10s) and max_fails 0 = never", async () => {
  const clock = new ManualClock();
  const group = new UpstreamGroup(groupConfig([A, { address: B, max_fails: 0 }]), { now: clock.now });
  for (const index of [0, 1]) {
    const tried = new Set([group.servers[1 - index]!.address]);
    lease(group.acquire(tried, ctx)).release({ failed: true });
  }
  assert.equal(next(group, [1]), "unavailable");
  assert.equal(next(group, [0]), B);
  await clock.advance(10_000);
  assert.equal(next(group, [1]), A);
});

Deno.test("acquire() asks the group's policy: hash keeps a key on its server", () => {
  const group = new UpstreamGroup(groupConfig([A, B, C], { balance: "hash", hash_key: "header:X-User-Id" }));
  const keyed: PickContext = { clientIp: undefined, hashKey: () => "user-42" };
  const home = lease(group.acquire(new Set(), keyed));
  home.release();
  for (let i = 0; i < 5; i++) {
    const again = lease(group.acquire(new Set(), keyed));
    assert.equal(again.server, home.server);
    again.release();
  }
});

Deno.test("setDiscovered(): DNS servers join the configured ones; state is kept per address across groups", () => {
  const records = new ServerRecords();
  const config = groupConfig([A, { address: "app.test:80", resolve: true }]);
  const discovered = (...addresses: string[]) => groupConfig(addresses).servers;
  const first = new UpstreamGroup(config, { records, discovered: discovered(B) });
  assert.deepEqual(first.servers.map((s) => s.address), [A, B]);
  assert.equal(first.retries, 1);
  const held = lease(first.acquire(new Set([A]), ctx));
  first.servers[1]!.drained = true;
  // A re-resolution: B is still named, C is new; an address also configured is not doubled.
  first.setDiscovered(discovered(A, B, C));
  assert.deepEqual(first.servers.map((s) => [s.address, s.drained, s.active]), [
    [A, false, 0],
    [B, true, 1],
    [C, false, 0],
  ]);
  assert.equal(first.retries, 2);
  // A reload: new group, same records.
  const second = new UpstreamGroup(config, { records, discovered: first.discovered });
  assert.deepEqual(second.servers.map((s) => [s.address, s.drained, s.active]), [
    [A, false, 0],
    [B, true, 1],
    [C, false, 0],
  ]);
  // B dropped by DNS: its lease still counts on it, and it comes back with its count and drain.
  second.setDiscovered(discovered(C));
  records.prune(new Set(second.servers.map((s) => s.record)), RECORD_TTL_MS + 1);
  second.setDiscovered(discovered(B, C));
  assert.deepEqual(second.servers.map((s) => [s.address, s.drained, s.active]), [
    [A, false, 0],
    [B, true, 1],
    [C, false, 0],
  ]);
  held.release();
  assert.equal(second.servers[1]!.active, 0);
  // Failures too: C failed out under one group is out under the next one.
  lease(second.acquire(new Set([A, B]), ctx)).release({ failed: true });
  const third = new UpstreamGroup(config, { records, discovered: second.discovered });
  assert.equal(third.acquire(new Set([A, B]), ctx).none, "unavailable");
});

Deno.test("ServerRecords.prune(): state of a server gone for RECORD_TTL_MS is forgotten, unless it holds tunnels or a drain", () => {
  const records = new ServerRecords();
  const group = new UpstreamGroup(groupConfig([A, B, C]), { records });
  records.prune(new Set(group.servers.map((s) => s.record)), 0);
  const held = lease(group.acquire(new Set([B, C]), ctx));
  group.servers[1]!.drained = true;
  group.servers[2]!.healthy = false;
  // Gone from the answers, then back within the TTL (a flapping answer): C is still unhealthy.
  records.prune(new Set(), RECORD_TTL_MS);
  assert.equal(records.size, 3);
  assert.equal(records.get("app", C).healthy, false);
  records.prune(new Set(), RECORD_TTL_MS + 1);
  assert.equal(records.size, 2, "A has a tunnel, B a drain");
  held.release();
  records.prune(new Set(), RECORD_TTL_MS + 1);
  assert.equal(records.size, 1);
  assert.equal(records.get("app", B).drained, true);
  assert.equal(records.get("app", C).healthy, true, "a fresh record");
});

Deno.test("a group with no servers yet (DNS has not answered) has none to give: 'tried', which is 502", () => {
  const group = new UpstreamGroup(groupConfig([{ address: "app.test:80", resolve: true }]));
  assert.deepEqual(group.servers, []);
  assert.equal(group.retries, 0);
  assert.equal(next(group), "tried");
});
