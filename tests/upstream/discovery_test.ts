/** Discovery without a gateway: the system's name servers, their absence, and a reload's groups seeded from the last answers. */
import assert from "node:assert/strict";
import { runtime } from "../../lib/runtime/deno.ts";
import { Discovery } from "../../lib/upstream/discovery.ts";
import { UpstreamGroup } from "../../lib/upstream/group.ts";
import { Metrics } from "../../lib/observe/metrics.ts";
import { parseNameserver } from "../../lib/net/nameserver.ts";
import type { Addr } from "../../lib/net/address.ts";
import { Dnsmasq } from "../e2e/_dns.ts";
import { groupConfig, recordingLogger } from "./_upstreams.ts";

/** Discovery with `dns` as the system's name server, for a gateway listening on `own`. */
function asking(dns: Dnsmasq, logger: ReturnType<typeof recordingLogger>, own: Addr[] = []): Discovery {
  const server = parseNameserver(dns.nameserver);
  assert.ok(!("error" in server));
  return new Discovery(runtime, {
    logger,
    metrics: new Metrics(),
    systemNameservers: () => Promise.resolve([server]),
    ownAddresses: () => own,
  });
}

const config = groupConfig([{ address: "app.test:8080", resolve: true }], { resolver: { interval: "1h" } });

Deno.test("Discovery: without resolver.nameservers, the system's are asked; a new group starts from the last answer", async () => {
  await using dns = await Dnsmasq.start({ "app.test": ["127.0.0.2"] });
  const logger = recordingLogger();
  const discovery = asking(dns, logger);
  try {
    const group = new UpstreamGroup(config);
    let changes = 0;
    await discovery.follow(new Map([["app", group]]), () => changes++);
    assert.deepEqual(group.servers.map((s) => s.address), ["127.0.0.2:8080"]);
    assert.equal(changes, 1);
    // A reload's group has its servers before its first lookup.
    assert.deepEqual(discovery.serversFor(config).map((s) => s.address), ["127.0.0.2:8080"]);
    assert.deepEqual(logger.records.map((r) => `${r.event} ${r.fields.server}`), [
      "upstream_added 127.0.0.2:8080",
    ]);
  } finally {
    discovery.stop();
  }
});

Deno.test("Discovery: no usable resolv.conf is a failed lookup that says why", async () => {
  const logger = recordingLogger();
  const metrics = new Metrics();
  const discovery = new Discovery(runtime, {
    logger,
    metrics,
    systemNameservers: () => Promise.reject(new Error("/etc/resolv.conf names no name server")),
    ownAddresses: () => [],
  });
  try {
    const group = new UpstreamGroup(config);
    await discovery.follow(new Map([["app", group]]), () => {});
    assert.deepEqual(group.servers, []);
    const [failed] = logger.records;
    assert.equal(failed?.event, "resolve_failed");
    assert.equal(failed?.fields.reason, "/etc/resolv.conf names no name server");
    const counter = metrics.snapshot().counters.find((c) => c.name === "wsgate_resolve_failures_total");
    assert.equal(counter?.value, 1);
  } finally {
    discovery.stop();
  }
});

Deno.test("Discovery: an answer naming the gateway's own listener is ignored, and logged when it appears", async () => {
  await using dns = await Dnsmasq.start({ "app.test": ["127.0.0.1", "127.0.0.2"] });
  const logger = recordingLogger();
  const discovery = asking(dns, logger, [{ transport: "tcp", hostname: "127.0.0.1", port: 8080 }]);
  try {
    const group = new UpstreamGroup(config);
    await discovery.follow(new Map([["app", group]]), () => {});
    assert.deepEqual(group.servers.map((s) => s.address), ["127.0.0.2:8080"]);
    assert.deepEqual(discovery.serversFor(config).map((s) => s.address), ["127.0.0.2:8080"]);
    assert.deepEqual(logger.records.map((r) => `${r.event} ${r.fields.server}`), [
      "upstream_ignored 127.0.0.1:8080",
      "upstream_added 127.0.0.2:8080",
    ]);
    assert.match(String(logger.records[0]!.fields.reason), /own listener 127\.0\.0\.1:8080/);
  } finally {
    discovery.stop();
  }
});
