/**
 * DESIGN §4, the client side: which upgrades pass and which heads are refused, and with what status,
 * against one gateway in front of the scripted upstream (see _contract_wire.ts).
 */
import assert from "node:assert/strict";
import { wsEchoBackend } from "./_backends.ts";
import { RawWs } from "./_clients.ts";
import { ask, connection, head, KEY, readN, upgrade, upgradeLines } from "./_contract.ts";
import { all, pathOf, wireGateway } from "./_contract_wire.ts";
import { eventually, startGateway } from "./_harness.ts";
import { acceptFor, bytes, parseResponse, randomBytes, writeAll } from "./_wire.ts";

Deno.test("contract §4: client side against one gateway", async (t) => {
  await using wire = await wireGateway();
  const { gw, raw } = wire;

  const headsBefore = () => raw.heads.length;

  /** Asserts the answer's status, that nothing reached the backend, and one `reject` line. */
  const refused = async (request: string | Uint8Array, status: number) => {
    const [heads, rejects] = [headsBefore(), gw.records("reject").length];
    const res = await ask(gw.port, request);
    assert.equal(res.status, status, res.head);
    assert.equal(raw.heads.length, heads, "nothing reaches the backend");
    await eventually(() => gw.records("reject").length > rejects, 3_000, "a reject line");
    const added = gw.records("reject").slice(rejects);
    assert.equal(added.length, 1, "exactly one reject line");
    assert.ok((added[0]!.fields.reason ?? "").length > 0, "the reject line has a reason");
    return res;
  };

  const ws = upgradeLines();
  const without = (prefix: string) => ws.filter((l) => !l.startsWith(prefix));

  await t.step("valid upgrade: routed, 101 relayed with the right accept, bytes piped", async () => {
    await using c = await RawWs.open(gw.port, { request: upgrade("/ws/echo") });
    assert.equal(c.response.status, 101);
    assert.equal(c.response.headers.get("sec-websocket-accept"), acceptFor(KEY));
    const payload = randomBytes(200_000); // the tunnel is raw: any bytes, not only frames
    await writeAll(c.conn, payload);
    assert.deepEqual(await readN(c.reader, payload.length), payload);
  });

  const variants: [string, string][] = [
    [
      "Upgrade: WebSocket, Connection: keep-alive, Upgrade",
      head(
        "GET /ws/v1 HTTP/1.1",
        "Host: gw.test",
        "Upgrade: WebSocket",
        "Connection: keep-alive, Upgrade",
        `Sec-WebSocket-Key: ${KEY}`,
        "Sec-WebSocket-Version: 13",
      ),
    ],
    [
      "Connection split over two lines",
      head(
        "GET /ws/v2 HTTP/1.1",
        "Host: gw.test",
        "Upgrade: websocket",
        "Connection: keep-alive",
        "Connection: upgrade",
        `Sec-WebSocket-Key: ${KEY}`,
        "Sec-WebSocket-Version: 13",
      ),
    ],
    [
      "lower-case names, no space after colons",
      head(
        "GET /ws/v3 HTTP/1.1",
        "host:gw.test",
        "upgrade:websocket",
        "connection:upgrade",
        `sec-websocket-key:${KEY}`,
        "sec-websocket-version:13",
      ),
    ],
  ];
  for (const [name, request] of variants) {
    await t.step(`valid upgrade variant (${name}) -> 101`, async () => {
      await using c = await RawWs.open(gw.port, { request });
      assert.equal(c.response.status, 101);
    });
  }

  await t.step("Sec-WebSocket-Protocol over two lines reaches the upstream as sent", async () => {
    await using c = await RawWs.open(gw.port, {
      request: upgrade("/ws/proto2", "Sec-WebSocket-Protocol: a", "Sec-WebSocket-Protocol: b, c"),
    });
    assert.equal(c.response.status, 101);
    const seen = raw.heads.find((h) => pathOf(h) === "/ws/proto2")!;
    assert.deepEqual(all(seen, "sec-websocket-protocol").join(", "), "a, b, c");
  });

  await t.step("Sec-WebSocket-Version 8 -> 426 + Sec-WebSocket-Version: 13", async () => {
    const request = head(
      "GET /ws/x HTTP/1.1",
      ...without("Sec-WebSocket-Version"),
      "Sec-WebSocket-Version: 8",
    );
    const res = await refused(request, 426);
    assert.equal(res.headers.get("sec-websocket-version"), "13");
  });

  const invalidUpgrades: [string, string][] = [
    [
      "key of 15 bytes",
      head("GET /ws/x HTTP/1.1", ...without("Sec-WebSocket-Key"), "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA"),
    ],
    [
      "key not base64",
      head(
        "GET /ws/x HTTP/1.1",
        ...without("Sec-WebSocket-Key"),
        "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==",
      ),
    ],
    ["missing key", head("GET /ws/x HTTP/1.1", ...without("Sec-WebSocket-Key"))],
    ["POST", head("POST /ws/x HTTP/1.1", ...ws, "Content-Length: 0")],
    ["no Host", head("GET /ws/x HTTP/1.1", ...without("Host"))],
    ["HTTP/1.0", head("GET /ws/x HTTP/1.0", ...ws)],
    [
      "Connection without upgrade",
      head("GET /ws/x HTTP/1.1", ...without("Connection"), "Connection: keep-alive"),
    ],
  ];
  for (const [name, request] of invalidUpgrades) {
    await t.step(`invalid upgrade (${name}) -> 400`, () => refused(request, 400).then(() => {}));
  }

  const plainGet = ["GET /ws/x HTTP/1.1", "Host: gw.test"];
  const malformed: [string, string | Uint8Array][] = [
    ["bad request line", "GET /ws/x\r\nHost: gw.test\r\n\r\n"],
    ["three tokens, double space", "GET  /ws/x HTTP/1.1\r\nHost: gw.test\r\n\r\n"],
    ["obs-fold", head(...plainGet, "X-A: 1", " folded")],
    ["bare LF line ends", "GET /ws/x HTTP/1.1\nHost: gw.test\n\n"],
    ["bare CR in a value", head(...plainGet, "X-A: a\rb")],
    ["NUL in a value", head(...plainGet, "X-A: a\0b")],
    ["invalid byte in a name", head(...plainGet, "X(A): 1")],
    ["space before colon", head(...plainGet, "X-A : 1")],
    [
      "Content-Length and Transfer-Encoding",
      head("POST /ws/x HTTP/1.1", "Host: gw.test", "Content-Length: 5", "Transfer-Encoding: chunked") +
      "0\r\n\r\n",
    ],
    [
      "duplicate Content-Length",
      head("POST /ws/x HTTP/1.1", "Host: gw.test", "Content-Length: 1", "Content-Length: 1") + "a",
    ],
    ["duplicate Host", head(...plainGet, "Host: other.test")],
    ["duplicate Host on an upgrade", upgrade("/ws/x", "Host: evil.test")],
  ];
  for (const [name, request] of malformed) {
    await t.step(`malformed head (${name}) -> 400, close`, () => refused(request, 400).then(() => {}));
  }

  await t.step("head over max_head_bytes -> 431, close", async () => {
    await refused(head(...plainGet, `X-Big: ${"a".repeat(5_000)}`), 431);
  });

  await t.step("request line alone over max_head_bytes -> 414, close", async () => {
    await refused(head(`GET /ws/${"a".repeat(5_000)} HTTP/1.1`, "Host: gw.test"), 414);
  });

  await t.step("head not complete within handshake_timeout (2 s) -> 408, close", async () => {
    await using link = await connection(gw.port);
    const { conn, reader } = link;
    const started = Date.now();
    await writeAll(conn, bytes("GET /ws/x HTTP/1.1\r\nHost: gw.test\r\n"));
    const res = parseResponse(await reader.readToEnd(8_000));
    assert.equal(res.status, 408);
    const elapsed = Date.now() - started;
    assert.ok(elapsed > 1_500 && elapsed < 6_000, `answered after ${elapsed} ms`);
    await gw.waitForEvent("reject", { status: "408" }); // before the next step counts reject lines
  });

  await t.step("no route matches -> 404 (prefix and exact)", async () => {
    await refused(upgrade("/elsewhere"), 404);
    assert.equal((await ask(gw.port, upgrade("/exact/more"))).status, 404);
    assert.equal((await ask(gw.port, head("GET /nothing HTTP/1.1", "Host: gw.test"))).status, 404);
    await using exact = await RawWs.open(gw.port, { request: upgrade("/exact") });
    assert.equal(exact.response.status, 101);
  });

  await t.step("plain HTTP on a websocket_only route -> 426", async () => {
    const res = await ask(gw.port, head("GET /only/page HTTP/1.1", "Host: gw.test"));
    assert.equal(res.status, 426);
  });

  await t.step({
    name: "426 carries Upgrade: websocket (RFC 9110 §15.5.22: the server MUST send Upgrade)",
    fn: async () => {
      const version8 = head(
        "GET /ws/x HTTP/1.1",
        ...without("Sec-WebSocket-Version"),
        "Sec-WebSocket-Version: 8",
      );
      for (const request of [head("GET /only/page HTTP/1.1", "Host: gw.test"), version8]) {
        const res = await ask(gw.port, request);
        assert.equal(res.status, 426);
        assert.equal(res.headers.get("upgrade")?.toLowerCase(), "websocket", res.head);
      }
    },
  });
});

Deno.test("Sec-WebSocket-Version missing: 400, or 426 with Sec-WebSocket-Version: 13", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({ args: ["--listen", "127.0.0.1:0", "--upstream", backend.address] });
  const res = await ask(gw.port, head("GET / HTTP/1.1", ...upgradeLines().slice(0, 4)));
  assert.ok(
    res.status === 400 || (res.status === 426 && res.headers.get("sec-websocket-version") === "13"),
    res.head,
  );
});
