/**
 * DESIGN §4, the upstream side: plain HTTP passed through and what its request and answer carry,
 * answers without a body, and a 101 in another spelling, against one gateway in front of the
 * scripted upstream (see _contract_wire.ts). The rebuilt upgrade request is in handshake_test.ts;
 * relayed and refused answers, failover and timeouts in upstream_test.ts; plain bodies and their
 * framing in http_test.ts and smuggling_test.ts.
 */
import assert from "node:assert/strict";
import { RawWs } from "./_clients.ts";
import { ask, head, upgrade } from "./_contract.ts";
import { all, pathOf, wireGateway } from "./_contract_wire.ts";
import { bytes, parseResponse, rawRequest, text } from "./_wire.ts";

Deno.test("contract §4: upstream side against one gateway", async (t) => {
  await using wire = await wireGateway();
  const { gw, raw, afterHead } = wire;

  await t.step(
    "plain HTTP passed through: Connection: close upstream, body both ways, one request only",
    async () => {
      const body = "hello";
      const first = head(
        "POST /ws/plain?n=1 HTTP/1.1",
        "Host: gw.test",
        "Connection: keep-alive",
        `Content-Length: ${body.length}`,
      ) + body;
      const second = head("GET /ws/second HTTP/1.1", "Host: gw.test");
      const answer = text(await rawRequest(gw.port, first + second));
      const res = parseResponse(bytes(answer));
      assert.equal(res.status, 200);
      assert.equal(text(res.body), "plain");
      assert.equal(answer.split("HTTP/1.1 ").length - 1, 1, "exactly one response");
      const seen = raw.heads.find((h) => pathOf(h) === "/ws/plain?n=1")!;
      assert.deepEqual(all(seen, "connection").map((v) => v.toLowerCase()), ["close"]);
      assert.deepEqual(all(seen, "upgrade"), []);
      assert.equal(all(seen, "x-forwarded-for")[0], "127.0.0.1");
      assert.equal(text(afterHead.get("/ws/plain?n=1")!), body);
      assert.ok(!raw.heads.some((h) => pathOf(h) === "/ws/second"), "the pipelined request is not forwarded");
    },
  );

  await t.step("non-101 answers to an upgrade with no body (204/304) end at their head", async () => {
    for (const status of [204, 304]) {
      assert.equal((await ask(gw.port, upgrade(`/ws/${status}?u=1`))).status, status);
    }
  });

  await t.step(
    "plain HTTP: a keep-alive answer is relayed once, with Connection: close, then closed",
    async () => {
      const res = await ask(gw.port, head("GET /ws/keepalive HTTP/1.1", "Host: gw.test"));
      assert.equal(res.status, 200);
      assert.equal(text(res.body), "ok");
      assert.equal(res.headers.get("connection")?.toLowerCase(), "close");
      assert.equal(res.headers.get("keep-alive"), null, "hop-by-hop answer headers are not relayed");
    },
  );

  await t.step(
    "plain HTTP: hop-by-hop request headers removed, X-Forwarded-* and X-Real-IP set by wsgate only",
    async () => {
      await ask(
        gw.port,
        head(
          "GET /ws/plain?n=2 HTTP/1.1",
          "Host: gw.test",
          "Connection: keep-alive, X-Hop",
          "X-Hop: 1",
          "Keep-Alive: timeout=5",
          "TE: trailers",
          "X-Forwarded-Host: evil.test",
          "X-Forwarded-Proto: https",
          "X-Real-IP: 6.6.6.6",
        ),
      );
      const seen = raw.heads.find((h) => pathOf(h) === "/ws/plain?n=2")!;
      for (const name of ["x-hop", "keep-alive", "te", "upgrade"]) {
        assert.deepEqual(all(seen, name), [], name);
      }
      assert.deepEqual(all(seen, "x-forwarded-host"), ["gw.test"]);
      assert.deepEqual(all(seen, "x-forwarded-proto"), ["http"]);
      assert.deepEqual(all(seen, "x-real-ip"), ["127.0.0.1"]);
    },
  );

  await t.step(
    "a valid 101 in another spelling (case, Connection list) is accepted; its extensions are relayed",
    async () => {
      await using c = await RawWs.open(gw.port, { request: upgrade("/ws/variant") });
      assert.equal(c.response.status, 101);
      assert.equal(c.response.headers.get("sec-websocket-extensions"), "x-test; a=1");
    },
  );
});
