/**
 * DESIGN §4, the upstream side: the request wsgate rebuilds, the answers it relays or refuses, and
 * failover, against one gateway in front of the scripted upstream (see _contract_wire.ts).
 */
import assert from "node:assert/strict";
import { denoEchoBackend } from "./_backends.ts";
import { RawWs } from "./_clients.ts";
import { ask, connection, head, KEY, upgrade } from "./_contract.ts";
import { all, pathOf, wireGateway } from "./_contract_wire.ts";
import { startGateway } from "./_harness.ts";
import { acceptFor, bytes, CRLF, parseResponse, randomBytes, rawRequest, text, writeAll } from "./_wire.ts";

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

  await t.step(
    "the upstream request is rebuilt: hop-by-hop out, Upgrade/Connection set, X-Forwarded-*, Sec-* as sent",
    async () => {
      const request = head(
        "GET /ws/rebuild?x=1&y=%20 HTTP/1.1",
        "Host: Example.test:8443",
        "Upgrade: websocket",
        "Connection: keep-alive, Upgrade, X-Hop",
        "X-Hop: secret",
        "Keep-Alive: timeout=5",
        "Proxy-Connection: keep-alive",
        "TE: trailers",
        "Trailer: X-Checksum",
        `Sec-WebSocket-Key: ${KEY}`,
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Protocol: chat, superchat",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        "X-Custom: kept as is",
      );
      await using c = await RawWs.open(gw.port, { request });
      assert.equal(c.response.status, 101);
      assert.equal(c.response.headers.get("sec-websocket-accept"), acceptFor(KEY));
      assert.equal(c.response.headers.get("sec-websocket-protocol"), "chat");
      const seen = raw.heads.find((h) => pathOf(h) === "/ws/rebuild?x=1&y=%20")!;
      assert.equal(seen.split(CRLF)[0], "GET /ws/rebuild?x=1&y=%20 HTTP/1.1");
      const expect: Record<string, string[]> = {
        "upgrade": ["websocket"],
        "host": ["Example.test:8443"],
        "x-forwarded-for": ["127.0.0.1"],
        "x-forwarded-proto": ["http"],
        "x-forwarded-host": ["Example.test:8443"],
        "x-real-ip": ["127.0.0.1"],
        "sec-websocket-key": [KEY],
        "sec-websocket-version": ["13"],
        "sec-websocket-protocol": ["chat, superchat"],
        "sec-websocket-extensions": ["permessage-deflate; client_max_window_bits"],
        "x-custom": ["kept as is"],
        "x-hop": [],
        "keep-alive": [],
        "proxy-connection": [],
        "te": [],
        "trailer": [],
        "transfer-encoding": [],
      };
      for (const [name, values] of Object.entries(expect)) assert.deepEqual(all(seen, name), values, name);
      assert.deepEqual(all(seen, "connection").map((v) => v.toLowerCase()), ["upgrade"]);
    },
  );

  await t.step("Transfer-Encoding on an upgrade: refused, or removed upstream", async () => {
    const request = upgrade("/ws/te", "Transfer-Encoding: chunked") + "0\r\n\r\n";
    await using link = await connection(gw.port);
    const { conn, reader } = link;
    await writeAll(conn, bytes(request));
    const status = Number(/^HTTP\/1\.1 (\d+)/.exec((await reader.readHead(5_000)) ?? "")?.[1]);
    const seen = raw.heads.find((h) => pathOf(h) === "/ws/te");
    assert.ok(
      status === 400 || (status === 101 && seen && all(seen, "transfer-encoding").length === 0),
      `${status}`,
    );
  });

  for (const path of ["bad-accept", "no-upgrade", "no-connection"]) {
    await t.step(`bad 101 (${path}) -> 502`, async () => {
      assert.equal((await ask(gw.port, upgrade(`/ws/${path}`))).status, 502);
    });
  }

  const relayed: [string, number, string][] = [
    ["403 with Content-Length, upstream keeps the socket open", 403, "forbidden"],
    ["chunked 503, upstream keeps the socket open", 503, "hello"],
    ["200 delimited by close", 200, "until the end"],
  ];
  for (const [name, status, body] of relayed) {
    const path = { 403: "403", 503: "chunked", 200: "eof-body" }[status]!;
    await t.step(`non-101 relayed with its body, then closed (${name})`, async () => {
      const res = await ask(gw.port, upgrade(`/ws/${path}`));
      assert.equal(res.status, status);
      assert.equal(text(res.body), body);
    });
  }

  await t.step("connect refused -> next server of the group; none left -> 502", async () => {
    for (let i = 0; i < 3; i++) {
      await using c = await RawWs.open(gw.port, { request: upgrade(`/retry/r${i}`) });
      assert.equal(c.response.status, 101);
    }
    assert.equal((await ask(gw.port, upgrade("/dead/x"))).status, 502);
    assert.ok(gw.records("upstream_failed").length > 0, "upstream_failed logged");
  });

  await t.step("upstream closes before answering (only server) -> 502", async () => {
    assert.equal((await ask(gw.port, upgrade("/ws/close-early"))).status, 502);
  });

  await t.step("upstream silent -> 504 within handshake_timeout", async () => {
    const started = Date.now();
    const res = await ask(gw.port, upgrade("/ws/silent"));
    assert.equal(res.status, 504);
    const elapsed = Date.now() - started;
    assert.ok(elapsed > 1_500 && elapsed < 6_000, `answered after ${elapsed} ms`);
  });

  await t.step(
    "plain HEAD/204/304 answers end at their head, though the backend keeps its socket open",
    async () => {
      const res = await ask(gw.port, head("HEAD /ws/head-keepalive HTTP/1.1", "Host: gw.test"));
      assert.equal(res.status, 200);
      for (const status of [204, 304]) {
        assert.equal(
          (await ask(gw.port, head(`GET /ws/${status} HTTP/1.1`, "Host: gw.test"))).status,
          status,
        );
      }
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

  await t.step("plain HTTP: a chunked request body reaches the backend framed as sent", async () => {
    const body = "5\r\nhello\r\n0\r\n\r\n";
    const request = head("POST /ws/chunked-body HTTP/1.1", "Host: gw.test", "Transfer-Encoding: chunked") +
      body;
    assert.equal((await ask(gw.port, request)).status, 200);
    assert.equal(text(afterHead.get("/ws/chunked-body")!), body);
  });

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

  for (const path of ["no-accept", "garbage"]) {
    await t.step(`upstream answer ${path} -> 502`, async () => {
      assert.equal((await ask(gw.port, upgrade(`/ws/${path}`))).status, 502);
    });
  }
});

Deno.test("plain HTTP through a real server: 1 MiB body each way with fetch", async () => {
  await using backend = await denoEchoBackend();
  await using gw = await startGateway({ args: ["--listen", "127.0.0.1:0", "--upstream", backend.address] });
  const body = randomBytes(1024 * 1024);
  const res = await fetch(`http://127.0.0.1:${gw.port}/upload?x=1`, {
    method: "POST",
    body: new Blob([body.slice()]),
  });
  const got = new Uint8Array(await res.arrayBuffer());
  assert.equal(res.status, 200);
  const prefix = bytes(`POST /upload?x=1 ${body.length}\n`);
  assert.deepEqual(got.subarray(0, prefix.length), prefix);
  assert.deepEqual(got.subarray(prefix.length), body);
});
