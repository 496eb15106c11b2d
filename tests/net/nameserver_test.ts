/** Name server addresses from the config and from resolv.conf. */
import assert from "node:assert/strict";
import { parseNameserver, parseResolvConf } from "../../lib/net/nameserver.ts";

Deno.test("parseNameserver(): IPv4 and IPv6 literals, the port defaulting to 53", () => {
  const cases: [string, string, number][] = [
    ["10.96.0.10", "10.96.0.10", 53],
    ["10.96.0.10:5353", "10.96.0.10", 5353],
    ["[fd00::a]:53", "fd00::a", 53],
    ["[fd00::A]", "fd00::a", 53],
    ["fd00::a", "fd00::a", 53],
  ];
  for (const [text, hostname, port] of cases) {
    assert.deepEqual(parseNameserver(text), { transport: "tcp", hostname, port }, text);
  }
  for (
    const bad of [
      "kube-dns",
      "kube-dns:53",
      "10.0.0.1:0",
      "10.0.0.1:65536",
      "10.0.0.1:x",
      "[fd00::a",
      "",
      "1.2.3",
    ]
  ) {
    assert.ok("error" in parseNameserver(bad), bad);
  }
});

Deno.test("parseResolvConf(): nameserver lines in order; comments, options and names skipped", () => {
  const text = [
    "# generated",
    "search default.svc.cluster.local svc.cluster.local",
    "nameserver 10.96.0.10",
    "nameserver  fd00::10  # v6",
    "; nameserver 1.1.1.1",
    "nameserver fe80::1%eth0",
    "nameserver dns.example",
    "options ndots:5",
  ].join("\n");
  assert.deepEqual(parseResolvConf(text).map((s) => `${s.hostname} ${s.port}`), [
    "10.96.0.10 53",
    "fd00::10 53",
    "fe80::1 53",
  ]);
  assert.deepEqual(parseResolvConf(""), []);
});
