import assert from "node:assert/strict";
import { certificatesDiffer, diffPlans, planListeners } from "../../lib/process/listen_plan.ts";
import { validateConfig } from "../../lib/config/validate.ts";
import type { Config } from "../../lib/config/schema.ts";

function config(servers: unknown[]): Config {
  const { config, issues } = validateConfig({ servers, upstreams: { u: { servers: ["127.0.0.1:9"] } } }, {
    source: "test",
    baseDir: "/",
  });
  assert.deepEqual(issues, []);
  return config!;
}

const route = [{ path: "/", upstream: "u" }];

Deno.test("planListeners() shares one socket between server blocks on the same address", () => {
  const plan = planListeners(config([
    { listen: ["127.0.0.1:8020"], hosts: ["a.test"], routes: route },
    { listen: ["127.0.0.1:8020", "127.0.0.1:8021"], hosts: ["b.test"], routes: route },
  ]));
  assert.deepEqual([...plan.keys()], ["127.0.0.1:8020", "127.0.0.1:8021"]);
  assert.equal(plan.get("127.0.0.1:8020")!.servers.length, 2);
  assert.equal(plan.get("127.0.0.1:8021")!.servers.length, 1);
});

Deno.test("diffPlans() keeps unchanged listeners, opens new ones, closes removed ones", () => {
  const before = planListeners(config([{ listen: ["127.0.0.1:8020", "127.0.0.1:8021"], routes: route }]));
  const after = planListeners(config([{ listen: ["127.0.0.1:8020", "127.0.0.1:8022"], routes: route }]));
  const diff = diffPlans(before, after);
  assert.deepEqual(diff.keep.map((p) => p.key), ["127.0.0.1:8020"]);
  assert.deepEqual(diff.open.map((p) => p.key), ["127.0.0.1:8022"]);
  assert.deepEqual(diff.close, ["127.0.0.1:8021"]);
});

Deno.test("diffPlans() reopens a listener whose certificates changed", () => {
  const withCert = (cert: string) => {
    const c = config([{ listen: ["127.0.0.1:8443"], tls: { cert: "/c.pem", key: "/k.pem" }, routes: route }]);
    c.servers[0]!.tls![0]!.cert = cert;
    return planListeners(c);
  };
  const diff = diffPlans(withCert("A"), withCert("B"));
  assert.deepEqual(diff.keep, []);
  assert.deepEqual(diff.open.map((p) => p.key), ["127.0.0.1:8443"]);
  assert.deepEqual(diff.close, ["127.0.0.1:8443"]);
  assert.deepEqual(diffPlans(withCert("A"), withCert("A")).keep.map((p) => p.key), ["127.0.0.1:8443"]);
});

Deno.test("planListeners() with ACME: no certificate until there is one, and a new one keeps the socket", () => {
  const c = config([
    { listen: ["127.0.0.1:8080"], routes: route },
    { listen: ["127.0.0.1:8443"], tls: { acme: { domains: ["chat.example.com"] } }, routes: route },
  ]);
  const waiting = planListeners(c).get("127.0.0.1:8443")!;
  assert.deepEqual(waiting.tls, []);
  assert.equal(waiting.tlsExpected, true);
  assert.equal(waiting.swappable, true);
  const plain = planListeners(c).get("127.0.0.1:8080")!;
  assert.equal(plain.tlsExpected, false);
  assert.equal(plain.swappable, false);

  const issued = (cert: string) => planListeners(c, () => ({ cert, key: "key" })).get("127.0.0.1:8443")!;
  assert.deepEqual(issued("first").tls, [{ cert: "first", key: "key", serverNames: ["chat.example.com"] }]);
  // A renewal changes the certificates, not the socket: setCertificates, not a reopen.
  assert.equal(issued("first").signature, issued("second").signature);
  assert.equal(waiting.signature, issued("first").signature);
  assert.equal(certificatesDiffer(issued("first"), issued("second")), true);
  assert.equal(certificatesDiffer(issued("first"), issued("first")), false);
});

Deno.test("planListeners() with ACME: a changed domain list keeps the socket; a partial certificate names what it covers", () => {
  const block = (domains: string[]) =>
    config([{ listen: ["127.0.0.1:8443"], tls: { acme: { domains } }, routes: route }]);
  const old = planListeners(block(["a.example.com"]), () => ({ cert: "old", key: "key" })).get(
    "127.0.0.1:8443",
  )!;
  const wider = planListeners(
    block(["a.example.com", "b.example.com"]),
    () => ({ cert: "old", key: "key", serverNames: ["a.example.com"] }),
  ).get("127.0.0.1:8443")!;
  assert.equal(old.signature, wider.signature);
  assert.deepEqual(diffPlans(new Map([[old.key, old]]), new Map([[wider.key, wider]])).keep.length, 1);
  assert.deepEqual(wider.tls, [{ cert: "old", key: "key", serverNames: ["a.example.com"] }]);
});
