/**
 * The cost account's pure part (issue 11): what each pure step of one handshake costs on the
 * runtime running this file, in µs, measured in a loop over realistic inputs. The socket steps
 * (accept, dial, writes, close) and the async orchestration between steps are what a whole
 * handshake costs beyond the sum printed here; bench/RESULTS.md puts both side by side.
 *
 *   deno run --allow-read bench/cost/steps.ts      bun bench/cost/steps.ts
 */
import { parseRequestHead, parseResponseHead } from "../../lib/http/head.ts";
import { checkUpgradeRequest, computeAccept, isWebSocketUpgrade } from "../../lib/http/upgrade.ts";
import { offeredProtocols, rebuildRequest } from "../../lib/http/rebuild.ts";
import { findHeadEnd } from "../../lib/http/read_head.ts";
import { routeRequest } from "../../lib/route.ts";
import { checkFinalAnswer } from "../../lib/upstream/answer.ts";
import { formatText } from "../../lib/observe/log.ts";
import { loadConfigObject } from "../../lib/config/load.ts";
import { clientIpOf, formatAddr } from "../../lib/net/address.ts";
import { matchesAny } from "../../lib/net/cidr.ts";

const enc = new TextEncoder();
const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
// What Chromium sends for `new WebSocket("ws://chat.example.com/ws/room")`.
const REQUEST = enc.encode(
  [
    "GET /ws/room?user=42 HTTP/1.1",
    "Host: chat.example.com",
    "Connection: Upgrade",
    "Pragma: no-cache",
    "Cache-Control: no-cache",
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Upgrade: websocket",
    "Origin: https://chat.example.com",
    "Sec-WebSocket-Version: 13",
    "Accept-Encoding: gzip, deflate, br, zstd",
    "Accept-Language: en-GB,en;q=0.9",
    `Sec-WebSocket-Key: ${KEY}`,
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
    "",
    "",
  ].join("\r\n"),
);
const RESPONSE = enc.encode(
  [
    "HTTP/1.1 101 Switching Protocols",
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Accept: ${computeAccept(KEY)}`,
    "",
    "",
  ].join("\r\n"),
);

const loaded = await loadConfigObject({
  servers: [{
    listen: ["127.0.0.1:8020"],
    hosts: ["chat.example.com"],
    routes: [{ path: "/ws/", upstream: "app" }, { path: "/", upstream: "app" }],
  }],
  upstreams: { app: { servers: ["127.0.0.1:8080", "127.0.0.1:8081"] } },
}, { source: "bench", baseDir: ".", readTextFile: () => Promise.reject(new Error("no files")) });
if (!loaded.config) throw new Error(`bench config: ${loaded.errors.join("; ")}`);
const config = loaded.config;
const remote = { transport: "tcp" as const, hostname: "127.0.0.1", port: 51234 };

/** µs per call of `fn`, best of 5 rounds of `n` calls (after a warm-up round). */
function measure(fn: () => unknown, n = 20_000): number {
  let best = Infinity;
  for (let round = 0; round < 6; round++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn();
    const us = ((performance.now() - t0) * 1000) / n;
    if (round > 0) best = Math.min(best, us);
  }
  return best;
}

const head = parseRequestHead(REQUEST);
const answer = { response: parseResponseHead(RESPONSE), head: RESPONSE, rest: new Uint8Array(0) };
const expect = { upgrade: { key: KEY, offeredProtocols: offeredProtocols(head) } };
const record = {
  id: 123456,
  client: "127.0.0.1:51234",
  method: "GET",
  path: "/ws/room?user=42",
  route: "/ws/",
  upstream: "127.0.0.1:8080",
  status: 101,
  up_bytes: 8,
  down_bytes: 4,
  duration_ms: 180,
  closed_by: "upstream",
};

const steps: [string, () => unknown][] = [
  ["find the end of the head", () => findHeadEnd(REQUEST, 0)],
  ["parse the request head", () => parseRequestHead(REQUEST, { maxHeaders: 100, maxRequestLine: 8192 })],
  ["validate the upgrade", () => isWebSocketUpgrade(head) && checkUpgradeRequest(head)],
  ["route (host, path)", () => routeRequest(config.servers, head)],
  [
    "client address and trust",
    () => matchesAny(config.trusted_proxies, clientIpOf(remote)) || formatAddr(remote),
  ],
  [
    "rebuild the request (hop-by-hop, X-Forwarded-*)",
    () => rebuildRequest(head, { clientIp: "127.0.0.1", websocket: true, tls: false, trustForwarded: false }),
  ],
  ["parse the 101", () => parseResponseHead(RESPONSE, { maxHeaders: 100 })],
  ["check the 101 (accept key: SHA-1)", () => checkFinalAnswer(answer, expect, "127.0.0.1:8080")],
  ["access record (text)", () => formatText(new Date().toISOString(), "info", "access", record)],
];

const runtime = "Bun" in globalThis
  ? `Bun ${(globalThis as unknown as { Bun: { version: string } }).Bun.version}`
  : `Deno ${Deno.version.deno}`;
console.log(`| step (${runtime}) | µs per handshake |`);
console.log("| --- | ---: |");
let total = 0;
for (const [name, fn] of steps) {
  const us = measure(fn);
  total += us;
  console.log(`| ${name} | ${us.toFixed(2)} |`);
}
console.log(`| **sum of the pure steps** | **${total.toFixed(1)}** |`);
