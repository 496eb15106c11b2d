import assert from "node:assert/strict";
import { ipHash, ipHashKey } from "../../lib/balance/ip_hash.ts";
import { SmoothRoundRobin } from "../../lib/balance/round_robin.ts";
import { candidates, context, tally } from "./_candidates.ts";

Deno.test("ipHashKey() keeps the /24 of IPv4 and the whole IPv6 address, like nginx", () => {
  const cases: [string, string, string][] = [
    ["IPv4", "192.0.2.77", "192.0.2"],
    ["IPv4, other host in the same /24", "192.0.2.1", "192.0.2"],
    ["IPv6", "2001:db8::1", "2001:db8::1"],
    ["IPv6 loopback", "::1", "::1"],
  ];
  for (const [name, ip, expected] of cases) assert.equal(ipHashKey(ip), expected, name);
});

Deno.test("ipHash() sends a /24 to one server and spreads different networks", () => {
  const servers = candidates([1, 1, 1]);
  const balancer = ipHash(new SmoothRoundRobin(servers.length));
  const home = balancer.pick(servers, context({ clientIp: "198.51.100.1" }));
  for (let host = 2; host < 255; host++) {
    assert.equal(balancer.pick(servers, context({ clientIp: `198.51.100.${host}` })), home);
  }
  const networks = Array.from(
    { length: 3_000 },
    (_, i) => balancer.pick(servers, context({ clientIp: `10.${i >> 8}.${i & 255}.9` })),
  );
  for (const count of tally(3, networks)) assert.ok(Math.abs(count - 1_000) < 100, `${count} of 3000`);
});

Deno.test("ipHash() places clients without an address (unix socket) with the fallback", () => {
  const servers = candidates([1, 1]);
  const balancer = ipHash(new SmoothRoundRobin(servers.length));
  const picks = Array.from({ length: 4 }, () => balancer.pick(servers, context())?.index);
  assert.deepEqual(picks, [0, 1, 0, 1]);
});
