/** Client keep-alive decisions, idempotent methods, the idle-client registry and where a body ends. */
import assert from "node:assert/strict";
import {
  clientAllowsReuse,
  isIdempotent,
  keepClientAlive,
  reusableUpstream,
} from "../../lib/passthrough/keepalive.ts";
import { IdleClients } from "../../lib/passthrough/idle_clients.ts";
import { BodyCutter } from "../../lib/passthrough/body.ts";
import type { RequestHead, ResponseHead } from "../../lib/http/head.ts";

const request = (version: "HTTP/1.1" | "HTTP/1.0", connection?: string): RequestHead => ({
  method: "GET",
  target: "/",
  path: "/",
  version,
  headers: [{ name: "Host", value: "a" }, ...(connection ? [{ name: "Connection", value: connection }] : [])],
});
const STATE = { timeoutMs: 75_000, maxRequests: 3, served: 0, retired: false };
const LENGTH = { kind: "length", length: 3 } as const;

Deno.test("clientAllowsReuse: HTTP/1.1 unless it says close; HTTP/1.0 never", () => {
  assert.equal(clientAllowsReuse(request("HTTP/1.1")), true);
  assert.equal(clientAllowsReuse(request("HTTP/1.1", "keep-alive, Close")), false);
  assert.equal(clientAllowsReuse(request("HTTP/1.0")), false);
  assert.equal(clientAllowsReuse(request("HTTP/1.0", "keep-alive")), false);
});

Deno.test("keepClientAlive: exact framing, within the limits, not retired", () => {
  const head = request("HTTP/1.1");
  assert.equal(keepClientAlive(head, LENGTH, STATE), true);
  assert.equal(keepClientAlive(head, { kind: "chunked" }, STATE), true);
  assert.equal(keepClientAlive(head, { kind: "none" }, STATE), true);
  assert.equal(keepClientAlive(head, { kind: "close" }, STATE), false, "an answer delimited by close");
  assert.equal(keepClientAlive(head, LENGTH, { ...STATE, timeoutMs: 0 }), false, "keepalive_timeout 0");
  assert.equal(keepClientAlive(head, LENGTH, { ...STATE, retired: true }), false, "draining or reloaded");
  assert.equal(keepClientAlive(head, LENGTH, { ...STATE, served: 1 }), true, "2nd of 3");
  assert.equal(keepClientAlive(head, LENGTH, { ...STATE, served: 2 }), false, "3rd of 3 is the last");
  assert.equal(keepClientAlive(head, LENGTH, { ...STATE, maxRequests: 1 }), false);
  assert.equal(keepClientAlive(request("HTTP/1.1", "close"), LENGTH, STATE), false);
});

Deno.test("reusableUpstream: HTTP/1.1 without Connection: close", () => {
  const response = (version: "HTTP/1.1" | "HTTP/1.0", connection?: string): ResponseHead => ({
    version,
    status: 200,
    reason: "OK",
    headers: connection ? [{ name: "Connection", value: connection }] : [],
  });
  assert.equal(reusableUpstream(response("HTTP/1.1")), true);
  assert.equal(reusableUpstream(response("HTTP/1.1", "keep-alive")), true);
  assert.equal(reusableUpstream(response("HTTP/1.1", "CLOSE")), false);
  assert.equal(reusableUpstream(response("HTTP/1.0", "keep-alive")), false);
});

Deno.test("isIdempotent: RFC 9110 §9.2.2 methods only, case-sensitive", () => {
  for (const method of ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]) assert.ok(isIdempotent(method));
  for (const method of ["POST", "PATCH", "CONNECT", "LOCK", "get", ""]) {
    assert.ok(!isIdempotent(method), method);
  }
});

Deno.test("IdleClients: evicts the connection idle the longest, each once", () => {
  const idle = new IdleClients();
  const evicted: string[] = [];
  const a = { evict: () => evicted.push("a") };
  const b = { evict: () => evicted.push("b") };
  const c = { evict: () => evicted.push("c") };
  idle.add(a);
  idle.add(b);
  idle.add(c);
  idle.delete(b); // b got a request: no longer idle
  assert.equal(idle.evictOldest(), true);
  assert.equal(idle.evictOldest(), true);
  assert.equal(idle.evictOldest(), false);
  assert.deepEqual(evicted, ["a", "c"]);
  assert.equal(idle.size, 0);
});

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

Deno.test("BodyCutter.leftover: what follows a body is the next request, exactly", () => {
  const none = new BodyCutter({ kind: "none" });
  assert.equal(text(none.cut(bytes("GET /2 HTTP/1.1\r\n"))), "");
  assert.equal(text(none.leftover), "GET /2 HTTP/1.1\r\n");

  const length = new BodyCutter({ kind: "length", length: 5 });
  assert.equal(text(length.cut(bytes("ab"))), "ab");
  assert.equal(length.leftover.length, 0);
  assert.equal(text(length.cut(bytes("cdeGET /2"))), "cde");
  assert.equal(text(length.leftover), "GET /2");

  const chunked = new BodyCutter({ kind: "chunked" });
  assert.equal(text(chunked.cut(bytes("3\r\nabc\r\n0\r\n\r\nPOST /x"))), "3\r\nabc\r\n0\r\n\r\n");
  assert.equal(text(chunked.leftover), "POST /x");

  const exact = new BodyCutter({ kind: "length", length: 2 });
  exact.cut(bytes("ok"));
  assert.equal(exact.leftover.length, 0, "nothing after the body");
});

Deno.test("BodyCutter.leftover is a copy: the next read may reuse the chunk's memory", () => {
  const chunk = bytes("abGET");
  const cutter = new BodyCutter({ kind: "length", length: 2 });
  cutter.cut(chunk);
  chunk.fill(0);
  assert.equal(text(cutter.leftover), "GET");
});
