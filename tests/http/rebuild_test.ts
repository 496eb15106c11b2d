import assert from "node:assert/strict";
import { rebuildRequest } from "../../lib/http/rebuild.ts";
import { parseRequestHead } from "../../lib/http/head.ts";

const head = (text: string) => parseRequestHead(new TextEncoder().encode(text));
const lines = (bytes: Uint8Array) => new TextDecoder().decode(bytes).split("\r\n");
const BASE = { clientIp: "192.0.2.7", websocket: false, tls: false, trustForwarded: false };

Deno.test("rebuild: the request ID replaces the client's and survives a Connection header naming it", () => {
  const request = head(
    "GET /x HTTP/1.1\r\nHost: a\r\nx-request-id: planted\r\nX-Env: client\r\nConnection: X-Request-Id, X-Env\r\n\r\n",
  );
  const out = lines(rebuildRequest(request, {
    ...BASE,
    requestIdHeader: "X-Request-Id",
    requestId: "r1",
    edit: (headers) => [...headers, { name: "X-Env", value: "prod" }],
  }));
  assert.deepEqual(out.filter((l) => /^x-(request-id|env):/i.test(l)), ["X-Request-Id: r1", "X-Env: prod"]);
});

Deno.test("rebuild: a rewritten target goes on the request line; rules cannot undo the gateway's own headers", () => {
  const request = head("GET /api/x?q HTTP/1.1\r\nHost: a\r\n\r\n");
  const out = lines(rebuildRequest(request, { ...BASE, target: "/x?q", edit: (headers) => headers }));
  assert.equal(out[0], "GET /x?q HTTP/1.1");
  assert.ok(out.includes("Connection: close"));
  assert.ok(out.includes("X-Forwarded-Host: a"));
});
