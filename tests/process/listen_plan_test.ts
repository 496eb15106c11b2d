import assert from "node:assert/strict";
import { diffPlans, planListeners } from "../../lib/process/listen_plan.ts";
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
