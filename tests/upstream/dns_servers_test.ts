/** DNS answers -> servers (resolve and SRV mapping) and the diff between two answers. */
import assert from "node:assert/strict";
import { diffAddresses, resolvedServers, srvServers } from "../../lib/upstream/dns_servers.ts";
import { groupConfig } from "./_upstreams.ts";

const group = groupConfig([
  { address: "app.test:8080", resolve: true, max_conns: 7 },
  { address: "wss://secure.test:8443", resolve: true },
  { srv: "_ws._tcp.app.test", max_fails: 4 },
]);
const [plain, secure, srv] = group.discovered as [
  (typeof group.discovered)[0],
  (typeof group.discovered)[0],
  (typeof group.discovered)[0],
];

Deno.test("resolvedServers(): each address with the entry's port and options, sorted, one per address", () => {
  const servers = resolvedServers(plain, ["10.0.0.2", "fd00::1", "10.0.0.1", "::ffff:10.0.0.2"]);
  assert.deepEqual(servers.map((s) => [s.address, s.addr, s.max_conns, s.hostname]), [
    ["10.0.0.1:8080", { transport: "tcp", hostname: "10.0.0.1", port: 8080 }, 7, "app.test"],
    ["10.0.0.2:8080", { transport: "tcp", hostname: "10.0.0.2", port: 8080 }, 7, "app.test"],
    ["[fd00::1]:8080", { transport: "tcp", hostname: "fd00::1", port: 8080 }, 7, "app.test"],
  ]);
  // wss: TLS to the address, verified (and SNI) for the name that was looked up.
  const [tls] = resolvedServers(secure, ["10.0.0.9"]);
  assert.deepEqual([tls!.address, tls!.tls, tls!.hostname], ["wss://10.0.0.9:8443", true, "secure.test"]);
  assert.deepEqual(resolvedServers(plain, []), []);
  // Records no connection should follow: "this host" (0.0.0.0, ::, 0.x), multicast, broadcast, junk.
  const odd = [
    "0.0.0.0",
    "0.1.2.3",
    "::",
    "224.0.0.1",
    "239.1.1.1",
    "255.255.255.255",
    "ff02::1",
    "x",
    "10.0.0.5",
  ];
  assert.deepEqual(resolvedServers(plain, odd).map((s) => s.address), ["10.0.0.5:8080"]);
});

Deno.test("srvServers(): ports and weights from the records, the lowest priority primaries, the rest backups", () => {
  const servers = srvServers(srv, [
    { priority: 20, weight: 1, port: 9000, ips: ["10.0.0.9"] },
    { priority: 10, weight: 3, port: 8001, ips: ["10.0.0.1"] },
    { priority: 10, weight: 0, port: 8002, ips: ["10.0.0.2", "10.0.0.3"] },
    { priority: 30, weight: 5, port: 9001, ips: ["10.0.0.1"] },
    { priority: 5, weight: 9, port: 0, ips: ["10.0.0.7"] },
    { priority: 1, weight: 9, port: 7000, ips: [] },
  ]);
  assert.deepEqual(servers.map((s) => [s.address, s.weight, s.backup, s.max_fails]), [
    ["10.0.0.1:8001", 3, false, 4],
    ["10.0.0.1:9001", 5, true, 4],
    ["10.0.0.2:8002", 1, false, 4],
    ["10.0.0.3:8002", 1, false, 4],
    ["10.0.0.9:9000", 1, true, 4],
  ]);
  // The same address at two priorities is a primary.
  const twice = srvServers(srv, [
    { priority: 20, weight: 1, port: 80, ips: ["10.0.0.1"] },
    { priority: 10, weight: 2, port: 80, ips: ["10.0.0.1"] },
  ]);
  assert.deepEqual(twice.map((s) => [s.address, s.weight, s.backup]), [["10.0.0.1:80", 2, false]]);
  assert.deepEqual(srvServers(srv, []), []);
});

Deno.test("diffAddresses(): added and removed, in answer order; the same set is no change", () => {
  assert.deepEqual(diffAddresses(["a", "b", "c"], ["c", "d", "a"]), { added: ["d"], removed: ["b"] });
  assert.deepEqual(diffAddresses([], ["a"]), { added: ["a"], removed: [] });
  assert.deepEqual(diffAddresses(["a", "b"], ["b", "a"]), { added: [], removed: [] });
});
