/** exchangeWithUpstream() against scripted upstreams: retries and their bound, failure accounting, exact
 * leases, and the check of the final answer against the request. */
import assert from "node:assert/strict";
import { exchangeWithUpstream, type UpstreamAnswer } from "../../lib/upstream/exchange.ts";
import { answerHeaders, NetError, toStatus, UpstreamError } from "../../lib/errors.ts";
import { computeAccept } from "../../lib/http/upgrade.ts";
import type { Expect } from "../../lib/upstream/answer.ts";
import { UpstreamGroup } from "../../lib/upstream/group.ts";
import type { Addr, Conn, ConnectOptions, Net } from "../../lib/runtime/types.ts";
import { groupConfig, testConfig } from "./_upstreams.ts";

const enc = (text: string) => new TextEncoder().encode(text);
const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const CLIENT: Addr = { transport: "tcp", hostname: "192.0.2.1", port: 50_000 };

/** How a scripted upstream behaves: refuse the dial, fail it with the gateway's own error, or
 * answer successive reads with these steps. */
type Script = "refuse" | { dialFails: NetError } | (string | null | NetError)[];

const SCRIPTS: [string, Script][] = [
  ["ok", ["HTTP/1.1 204 No Content\r\n\r\n"]],
  ["refuse", "refuse"],
  ["refuse-too", "refuse"],
  ["refuse-also", "refuse"],
  ["out-of-fds", { dialFails: new NetError("EMFILE", "Too many open files (os error 24)") }],
  ["system-out-of-fds", { dialFails: new NetError("ENFILE", "Too many open files in system (os error 23)") }],
  ["close-silently", [null]],
  ["reset-before-a-byte", [new NetError("ECONNRESET", "reset")]],
  ["reset-after-a-byte", ["HTTP/1.1 1", new NetError("ECONNRESET", "reset")]],
  ["switch", [
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${
      computeAccept(KEY)
    }\r\n\r\n`,
  ]],
  ["switch-wrong-accept", [
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n",
  ]],
  ["hints-then-ok", ["HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", "HTTP/1.1 204 No Content\r\n\r\n"]],
];
/** Script name -> the address its fake upstream has. */
const at = (name: string) => `127.0.0.1:${10_000 + SCRIPTS.findIndex(([n]) => n === name)}`;
const addresses = (...names: string[]) => names.map(at);

/** A Net whose connect() plays the script of the address dialled, recording each dial. */
function fakeNet(dialled: string[]): Net {
  const scripts = new Map(SCRIPTS.map(([name, script]) => [at(name), script]));
  const connect = (options: ConnectOptions): Promise<Conn> => {
    const addr = options.addr.transport === "tcp" ? `${options.addr.hostname}:${options.addr.port}` : "";
    dialled.push(addr);
    const script = scripts.get(addr)!;
    if (script === "refuse") return Promise.reject(new NetError("ECONNREFUSED", "connection refused"));
    if ("dialFails" in script) return Promise.reject(script.dialFails);
    const steps = [...script];
    return Promise.resolve({
      read: () => {
        const step = steps.shift() ?? null;
        return step instanceof NetError
          ? Promise.reject(step)
          : Promise.resolve(step === null ? null : enc(step));
      },
      write: () => Promise.resolve(),
      closeWrite: () => Promise.resolve(),
      close: () => {},
      localAddr: options.addr,
      remoteAddr: options.addr,
    });
  };
  return { connect, listen: () => Promise.reject(new Error("the data path's exchange never listens")) };
}

/** One client connection through `group`: the answer or the error, and every failed attempt. */
async function exchange(group: UpstreamGroup, dialled: string[] = [], expect: Expect = {}) {
  const failed: string[] = [];
  const interim: string[] = [];
  const result: UpstreamAnswer | Error = await exchangeWithUpstream(fakeNet(dialled), group, {
    head: enc("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    rest: new Uint8Array(0),
  }, {
    limits: testConfig([at("ok")]).limits,
    expect,
    relayInterim: (head) => {
      interim.push(new TextDecoder().decode(head));
      return Promise.resolve();
    },
    pick: { clientIp: undefined, hashKey: () => undefined },
    addrs: () => ({ source: CLIENT, dest: CLIENT }),
    replayable: true,
    onAttemptFailed: (err) => failed.push(err.upstream),
  }).catch((err: Error) => err);
  return { dialled, failed, result, interim };
}

const active = (group: UpstreamGroup) => group.servers.map((s) => s.active);

Deno.test("exchangeWithUpstream() moves on after failures before any byte, each server once", async () => {
  const cases: { name: string; servers: string[] }[] = [
    { name: "refused", servers: ["refuse", "ok"] },
    { name: "closed without a byte", servers: ["close-silently", "ok"] },
    { name: "reset before a byte", servers: ["reset-before-a-byte", "ok"] },
    { name: "two failures, then ok", servers: ["refuse", "close-silently", "ok"] },
  ];
  for (const { name, servers } of cases) {
    const group = new UpstreamGroup(groupConfig(addresses(...servers)));
    const { dialled, failed, result } = await exchange(group);
    assert.ok(!(result instanceof Error), `${name}: ${result}`);
    assert.deepEqual(dialled, addresses(...servers), name);
    assert.deepEqual(failed, addresses(...servers.slice(0, -1)), name);
    // Failed attempts released their leases; the answer's lease is the caller's to release.
    assert.deepEqual(active(group), servers.map((s) => s === "ok" ? 1 : 0), name);
    result.lease.release();
    assert.deepEqual(active(group), servers.map(() => 0), name);
  }
});

Deno.test("exchangeWithUpstream() never retries once the upstream sent a byte", async () => {
  const group = new UpstreamGroup(groupConfig(addresses("reset-after-a-byte", "ok")));
  const { dialled, result } = await exchange(group);
  assert.ok(result instanceof UpstreamError && !result.retryable, String(result));
  assert.deepEqual(dialled, addresses("reset-after-a-byte"));
  assert.deepEqual(active(group), [0, 0]);
});

Deno.test("exchangeWithUpstream() makes at most 1 + retries attempts", async () => {
  const refusing = addresses("refuse", "refuse-too", "refuse-also");
  const cases: [string, Record<string, unknown>, number][] = [
    ["retries: 0", { retries: 0 }, 1],
    ["retries: 1", { retries: 1 }, 2],
    ["default: every server once", {}, 3],
    ["more retries than servers", { retries: 10 }, 3],
  ];
  for (const [name, keys, attempts] of cases) {
    const group = new UpstreamGroup(groupConfig(refusing, keys));
    const { dialled, result } = await exchange(group);
    assert.ok(result instanceof UpstreamError && result.phase === "connect", `${name}: ${result}`);
    assert.equal(dialled.length, attempts, name);
    assert.deepEqual(active(group), [0, 0, 0], name);
  }
});

Deno.test("exchangeWithUpstream() counts failures toward max_fails: later connections skip the server", async () => {
  const group = new UpstreamGroup(groupConfig(addresses("refuse", "ok")));
  const dialled: string[] = [];
  for (let i = 0; i < 4; i++) {
    const { result } = await exchange(group, dialled);
    assert.ok(!(result instanceof Error), String(result));
    result.lease.release();
  }
  assert.deepEqual(dialled, addresses("refuse", "ok", "ok", "ok", "ok"));
});

Deno.test("exchangeWithUpstream() answers 503 when the available servers are full, 502 when none is available", async () => {
  const group = new UpstreamGroup(
    groupConfig([{ address: at("ok"), max_conns: 1 }, { address: at("refuse"), down: true }]),
  );
  const held = group.acquire(new Set(), { clientIp: undefined, hashKey: () => undefined }).lease!;
  const full = await exchange(group);
  assert.ok(full.result instanceof UpstreamError && full.result.full, String(full.result));
  assert.equal(toStatus(full.result), 503);
  assert.deepEqual(answerHeaders(full.result), [["Retry-After", "1"]]);
  assert.deepEqual(full.dialled, []);
  held.release();
  group.servers[0]!.healthy = false;
  const none = await exchange(group);
  assert.ok(none.result instanceof UpstreamError && !none.result.retryable, String(none.result));
  assert.match(none.result.message, /no available server in upstream "app"/);
  assert.deepEqual(active(group), [0, 0]);
});

Deno.test("exchangeWithUpstream(): the gateway out of descriptors is no server's failure: 503, not counted, not retried", async () => {
  for (const name of ["out-of-fds", "system-out-of-fds"]) {
    const check = (result: UpstreamAnswer | Error, failed: string[]) => {
      assert.ok(result instanceof UpstreamError && result.own && !result.retryable, `${name}: ${result}`);
      assert.equal(toStatus(result), 503, name);
      assert.deepEqual(answerHeaders(result), [["Retry-After", "1"]], name);
      // No server is logged as failing.
      assert.deepEqual(failed, [], name);
    };
    // The next server would fail the same way: it is not tried.
    const pair = new UpstreamGroup(groupConfig(addresses(name, "ok"), { retries: 1 }));
    const first = await exchange(pair);
    check(first.result, first.failed);
    assert.deepEqual(first.dialled, addresses(name), name);
    assert.deepEqual(active(pair), [0, 0], name);
    // max_fails is 1 (the default): one counted failure would leave no server for the next ones.
    const alone = new UpstreamGroup(groupConfig(addresses(name)));
    const dialled: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { result, failed } = await exchange(alone, dialled);
      check(result, failed);
    }
    assert.deepEqual(dialled, addresses(name, name, name), name);
    assert.deepEqual(active(alone), [0], name);
  }
});

Deno.test("exchangeWithUpstream() checks the final answer: a valid 101 for an upgrade only; interim answers handed on", async () => {
  const upgrade: Expect = { upgrade: { key: KEY, offeredProtocols: [] } };
  const cases: [name: string, server: string, expect: Expect, problem?: RegExp][] = [
    ["a valid 101 to an upgrade", "switch", upgrade],
    [
      "a 101 with a wrong Sec-WebSocket-Accept",
      "switch-wrong-accept",
      upgrade,
      /invalid 101: .*wrong Sec-WebSocket-Accept/,
    ],
    ["a 101 to plain HTTP", "switch", {}, /101 to a request without Upgrade/],
    ["a 204 to an upgrade is relayed, not an error", "ok", upgrade],
  ];
  for (const [name, server, expect, problem] of cases) {
    const group = new UpstreamGroup(groupConfig([at(server)]));
    const { result, failed } = await exchange(group, [], expect);
    if (problem) {
      assert.ok(result instanceof UpstreamError && result.phase === "upgrade", `${name}: ${result}`);
      assert.match(result.message, problem, name);
      assert.equal(toStatus(result), 502, name);
    } else {
      assert.ok(!(result instanceof Error), `${name}: ${result}`);
      result.lease.release();
    }
    assert.deepEqual(failed, [], `${name}: an answer is not a failed attempt`);
    assert.deepEqual(active(group), [0], `${name}: the lease is given back`);
  }
  const hinted = await exchange(new UpstreamGroup(groupConfig([at("hints-then-ok")])));
  assert.ok(!(hinted.result instanceof Error));
  assert.equal(hinted.result.response.status, 204);
  assert.deepEqual(hinted.interim, ["HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"]);
});
