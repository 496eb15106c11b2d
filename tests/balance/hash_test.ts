import assert from "node:assert/strict";
import type { Balancer, Candidate } from "../../lib/balance/balancer.ts";
import { ConsistentHash, hash32, rendezvous } from "../../lib/balance/hash.ts";
import { SmoothRoundRobin } from "../../lib/balance/round_robin.ts";
import { candidates, context, type TestCandidate } from "./_candidates.ts";

const KEYS = Array.from({ length: 100_000 }, (_, i) => `user-${i}`);

function owners(servers: Candidate[]): (string | undefined)[] {
  return KEYS.map((key) => rendezvous(servers, key)?.address);
}

Deno.test("hash32() is stable: a changed hash would remap every key of every fleet on upgrade", () => {
  const cases: [string, number][] = [["", 0xab3e7c0b], ["a", 0x1a80b1b3], ["user-42", 0x7c2a1196]];
  for (const [text, expected] of cases) assert.equal(hash32(text), expected, JSON.stringify(text));
});

Deno.test("rendezvous(): removing 1 of 5 servers moves only its own keys, about 1/5 of them", () => {
  const five = candidates([1, 1, 1, 1, 1]);
  const before = owners(five);
  const removed = five[2]!.address;
  const after = owners(five.filter((s) => s.address !== removed));
  let moved = 0;
  for (let i = 0; i < KEYS.length; i++) {
    if (before[i] === after[i]) continue;
    moved++;
    assert.equal(before[i], removed, `${KEYS[i]} moved although it lived on ${before[i]}`);
  }
  const fraction = moved / KEYS.length;
  console.log(`remap fraction, 1 of 5 servers removed, ${KEYS.length} keys: ${fraction.toFixed(4)}`);
  assert.ok(Math.abs(fraction - 0.2) < 0.01, `moved ${fraction}`);
  // The removed server's keys spread over the other four rather than piling onto one.
  const heirs = new Map<string, number>();
  before.forEach((owner, i) => owner === removed && heirs.set(after[i]!, (heirs.get(after[i]!) ?? 0) + 1));
  for (const [heir, count] of heirs) {
    assert.ok(Math.abs(count / moved - 0.25) < 0.02, `${heir} took ${count}`);
  }
});

Deno.test("rendezvous(): shares follow the weights", () => {
  const servers = candidates([1, 2, 3, 4]);
  const counts = new Map<string, number>();
  for (const owner of owners(servers)) counts.set(owner!, (counts.get(owner!) ?? 0) + 1);
  const shares = servers.map((s) => (counts.get(s.address) ?? 0) / KEYS.length);
  console.log(`hash shares for weights 1,2,3,4: ${shares.map((s) => s.toFixed(3)).join(", ")}`);
  shares.forEach((share, i) => assert.ok(Math.abs(share - (i + 1) / 10) < 0.01, `server ${i}: ${share}`));
});

Deno.test("rendezvous() depends on addresses and weights only, not on list order or load", () => {
  const servers = candidates([1, 2, 1, 3]);
  const shuffled: TestCandidate[] = [servers[2]!, servers[0]!, servers[3]!, servers[1]!]
    .map((s, index) => ({ ...s, index, active: index * 7 }));
  for (const key of KEYS.slice(0, 2_000)) {
    assert.equal(rendezvous(shuffled, key)?.address, rendezvous(servers, key)?.address, key);
  }
  assert.equal(rendezvous([], "x"), undefined);
});

Deno.test("ConsistentHash.pick() hashes the key and places keyless requests with the fallback", () => {
  const servers = candidates([1, 1, 1]);
  const hash: Balancer = new ConsistentHash((ctx) => ctx.hashKey(), new SmoothRoundRobin(servers.length));
  const sticky = hash.pick(servers, context({ key: "room-7" }));
  for (let i = 0; i < 10; i++) assert.equal(hash.pick(servers, context({ key: "room-7" })), sticky);
  const keyless = Array.from({ length: 3 }, () => hash.pick(servers, context())?.index);
  assert.deepEqual(keyless, [0, 1, 2]);
});
