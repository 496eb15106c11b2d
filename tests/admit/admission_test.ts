import assert from "node:assert/strict";
import { admitClient, checkRouteAccess } from "../../lib/admit/admission.ts";
import { type Cidr, parseCidr } from "../../lib/net/cidr.ts";
import { Limits } from "../../lib/admit/limits.ts";
import { HttpError } from "../../lib/errors.ts";
import { validateConfig } from "../../lib/config/validate.ts";
import { parseRequestHead } from "../../lib/http/head.ts";
import type { Config } from "../../lib/config/schema.ts";
import { ScriptedConn, tcp } from "../_scripted_conn.ts";

const enc = new TextEncoder();

function config(raw: Record<string, unknown>): Config {
  const result = validateConfig({
    servers: [{ listen: "127.0.0.1:0", routes: [{ path: "/", upstream: "app" }] }],
    upstreams: { app: { servers: ["127.0.0.1:1"] } },
    ...raw,
  }, { source: "test", baseDir: "/" });
  assert.deepEqual(result.issues, []);
  return result.config!;
}

const silent = { log() {}, flush() {} };

Deno.test("admitClient: the PROXY source is the client that limits count", async () => {
  const cfg = config({ trusted_proxies: ["10.0.0.0/8"], limits: { max_connections_per_ip: 1 } });
  const limits = new Limits(cfg.limits);
  const ctx = { config: cfg, limits, logger: silent, proxyProtocol: true };
  const from = (ip: string) => new ScriptedConn(tcp("10.0.0.1", 1), [`PROXY TCP4 ${ip} 10.0.0.2 1 2\r\n`]);
  const a = await admitClient(from("203.0.113.1"), 1, ctx);
  const b = await admitClient(from("203.0.113.2"), 2, ctx);
  const c = await admitClient(from("203.0.113.1"), 3, ctx);
  assert.equal(a?.clientIp, "203.0.113.1");
  assert.equal(a?.refusal, undefined);
  assert.equal(b?.refusal, undefined, "another client behind the same balancer");
  assert.equal(c?.refusal?.status, 503);
  assert.deepEqual(c?.refusal?.headers, [["Retry-After", "5"]]);
  a?.release();
  assert.equal((await admitClient(from("203.0.113.1"), 4, ctx))?.refusal, undefined);
  assert.equal(limits.active, 2);
  a?.release(); // a second release gives nothing back twice
  c?.release(); // a refused client holds no slot
  assert.equal(limits.active, 2);
});

Deno.test("admitClient: a rejected PROXY header closes the connection and logs why", async () => {
  const cfg = config({ trusted_proxies: ["10.0.0.0/8"] });
  const lines: [string, Record<string, unknown>][] = [];
  const logger = { log: (_: string, event: string, fields = {}) => lines.push([event, fields]), flush() {} };
  const conn = new ScriptedConn(tcp("192.0.2.9", 1), ["PROXY UNKNOWN\r\n"]);
  const admitted = await admitClient(conn, 7, {
    config: cfg,
    limits: new Limits(cfg.limits),
    logger,
    proxyProtocol: true,
  });
  assert.equal(admitted, null);
  assert.equal(conn.closed, true);
  assert.deepEqual(lines, [["proxy_rejected", {
    id: 7,
    peer: "192.0.2.9:1",
    reason: "PROXY protocol peer 192.0.2.9 is not in trusted_proxies",
  }]]);
});

Deno.test("admitClient: IPv4-mapped peers count as their IPv4 address; unix clients have no IP", async () => {
  const cfg = config({ limits: { max_connections_per_ip: 1 } });
  const ctx = { config: cfg, limits: new Limits(cfg.limits), logger: silent, proxyProtocol: false };
  const mapped = await admitClient(new ScriptedConn(tcp("::ffff:192.0.2.1", 1), []), 1, ctx);
  const plain = await admitClient(new ScriptedConn(tcp("192.0.2.1", 2), []), 2, ctx);
  assert.equal(mapped?.clientIp, "192.0.2.1");
  assert.equal(plain?.refusal?.status, 503);
  const unix = await admitClient(new ScriptedConn({ transport: "unix", path: "" }, []), 3, ctx);
  assert.equal(unix?.clientIp, undefined);
  assert.equal(unix?.refusal, undefined);
});

Deno.test("admitClient: over the handshake rate -> 429 with Retry-After", async () => {
  const cfg = config({ limits: { rate: 1, burst: 1 } });
  const ctx = { config: cfg, limits: new Limits(cfg.limits), logger: silent, proxyProtocol: false };
  assert.equal((await admitClient(new ScriptedConn(tcp("192.0.2.1", 1), []), 1, ctx))?.refusal, undefined);
  const second = await admitClient(new ScriptedConn(tcp("192.0.2.1", 2), []), 2, ctx);
  assert.equal(second?.refusal?.status, 429);
  assert.deepEqual(second?.refusal?.headers, [["Retry-After", "1"]]);
});

Deno.test("checkRouteAccess: 403 with the reason, nothing when allowed", () => {
  const route = {
    ...config({}).servers[0]!.routes[0]!,
    allow: [parseCidr("192.0.2.0/24") as Cidr],
    allow_origins: [{ text: "https://a.test", scheme: "https", host: "a.test", wildcard: false }],
  };
  const request = (origin: string) =>
    parseRequestHead(enc.encode(`GET / HTTP/1.1\r\nHost: h\r\nOrigin: ${origin}\r\n\r\n`));
  assert.doesNotThrow(() => checkRouteAccess(route, "192.0.2.5", request("https://a.test")));
  assert.throws(
    () => checkRouteAccess(route, "192.0.2.5", request("https://b.test")),
    (err) => err instanceof HttpError && err.status === 403 && /not allowed/.test(err.message),
  );
  assert.throws(
    () => checkRouteAccess(route, "198.51.100.1", request("https://a.test")),
    (err) => err instanceof HttpError && err.status === 403 && /allow list/.test(err.message),
  );
});
