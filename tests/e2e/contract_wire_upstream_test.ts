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
    "plain HTTP passed through: Connection: close upstream, body both ways, a pipelined request on its own",
    async () => {
      const body = "hello";
      const first = head(
        "POST /ws/plain?n=1 HTTP/1.1",
        "Host: gw.test",
        "Connection: keep-alive",
        `Content-Length: ${body.length}`,
      ) + body;
      const second = head("GET /ws/plain?n=3 HTTP/1.1", "Host: gw.test", "Connection: close");
      const answer = text(await rawRequest(gw.port, first + second));
      const res = parseResponse(bytes(answer));
      assert.equal(res.status, 200);
      assert.equal(text(res.body), "plain");
      // Keep-alive (§3a): the second request is answered after the first, then the connection closes.
      assert.equal(answer.split("HTTP/1.1 200 ").length - 1, 2, "two answers, in order");
      const seen = raw.heads.find((h) => pathOf(h) === "/ws/plain?n=1")!;
      assert.deepEqual(all(seen, "connection").map((v) => v.toLowerCase()), ["close"]);
      assert.deepEqual(all(seen, "upgrade"), []);
      assert.equal(all(seen, "x-forwarded-for")[0], "127.0.0.1");
      assert.equal(text(afterHead.get("/ws/plain?n=1")!), body);
      const next = raw.heads.find((h) => pathOf(h) === "/ws/plain?n=3");
      assert.ok(next, "the pipelined request is forwarded as a request of its own");
      assert.equal(all(next, "x-forwarded-for")[0], "127.0.0.1", "rebuilt like any request");
      assert.equal(afterHead.get("/ws/plain?n=3")?.length, 0, "not inside the first one's body");
    },
  );

  await t.step("non-101 answers to an upgrade with no body (204/304) end at their head", async () => {
    for (const status of [204, 304]) {
      assert.equal((await ask(gw.port, upgrade(`/ws/${status}?u=1`))).status, status);
    }
  });

  await t.step(
    "plain HTTP: a client's Connection: close is honoured; the backend's Keep-Alive is not relayed",
    async () => {
      const res = await ask(
        gw.port,
        head("GET /ws/keepalive HTTP/1.1", "Host: gw.test", "Connection: close"),
      );
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
          "Connection: close, X-Hop",
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
