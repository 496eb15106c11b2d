/** The client side of the handshake (DESIGN §4): what reaches the backend, and every refusal. */
import assert from "node:assert/strict";
import { wsEchoBackend } from "./_backends.ts";
import { openDenoWs, RawWs } from "./_clients.ts";
import { eventually, startGateway, toYaml } from "./_harness.ts";
import { acceptFor, ByteReader, CRLF, dial, parseResponse, rawRequest, text, writeAll } from "./_wire.ts";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

Deno.test("handshake: the request reaches the backend rebuilt, with X-Forwarded-* and without hop-by-hop headers", async (t) => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({ args: ["--listen", "127.0.0.1:0", "--upstream", backend.address] });
  const cases = [
    { name: "no X-Forwarded-For from the client", incomingXff: [], xff: "127.0.0.1" },
    {
      // Appended only for trusted_proxies (security_test.ts covers that case).
      name: "X-Forwarded-For from an untrusted client is replaced",
      incomingXff: ["X-Forwarded-For: 203.0.113.9"],
      xff: "127.0.0.1",
    },
  ];
  for (const { name, incomingXff, xff } of cases) {
    await t.step(name, async () => {
      const request = [
        "GET /chat/room?id=7&q=a%20b HTTP/1.1",
        "Host: example.test:8443",
        "Upgrade: websocket",
        "Connection: Upgrade, X-Hop",
        "X-Hop: 1",
        "Keep-Alive: timeout=5",
        "Proxy-Connection: keep-alive",
        'Cookie: session=abc123; theme="dark"',
        "X-Custom: Value  with   spaces",
        `Sec-WebSocket-Key: ${KEY}`,
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Protocol: p1, p2",
        "Sec-WebSocket-Extensions: x-test; a=1",
        ...incomingXff,
      ].join(CRLF) + CRLF + CRLF;
      await using client = await RawWs.open(gw.port, { request });
      assert.equal(client.response.status, 101);
      assert.equal(client.response.headers.get("sec-websocket-accept"), acceptFor(KEY));
      assert.equal(client.response.headers.get("sec-websocket-protocol"), "p1");

      const seen = backend.requests.at(-1)!;
      assert.equal(seen.method, "GET");
      assert.equal(seen.url, "/chat/room?id=7&q=a%20b");
      const expected: Record<string, string | null> = {
        "host": "example.test:8443",
        "cookie": 'session=abc123; theme="dark"',
        "x-custom": "Value  with   spaces",
        "sec-websocket-key": KEY,
        "sec-websocket-version": "13",
        "sec-websocket-protocol": "p1, p2",
        "sec-websocket-extensions": "x-test; a=1",
        "x-forwarded-for": xff,
        "x-forwarded-proto": "http",
        "x-forwarded-host": "example.test:8443",
        "x-real-ip": "127.0.0.1",
        "forwarded": 'for=127.0.0.1;host="example.test:8443";proto=http',
        "upgrade": "websocket",
        "x-hop": null,
        "keep-alive": null,
        "proxy-connection": null,
      };
      for (const [header, value] of Object.entries(expected)) {
        assert.equal(seen.headers.get(header), value, header);
      }
      assert.equal(seen.headers.get("connection")?.toLowerCase(), "upgrade");

      await client.sendText("through");
      assert.equal(text((await client.next())!.payload), "through");
    });
  }
});

const GOOD = [
  "Host: gw.test",
  "Upgrade: websocket",
  "Connection: Upgrade",
  `Sec-WebSocket-Key: ${KEY}`,
  "Sec-WebSocket-Version: 13",
];

/** A request head from a request line and header lines, CRLF everywhere unless a line brings its own LF. */
const head = (requestLine: string, lines: string[]) => [requestLine, ...lines].join(CRLF) + CRLF + CRLF;
const get = (lines: string[]) => head("GET /only/x HTTP/1.1", lines);
const without = (name: string) => GOOD.filter((l) => !l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
const replacing = (name: string, line: string) =>
  GOOD.map((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`) ? line : l);

const BAD_HANDSHAKES: { name: string; request: string; status: number; headers?: Record<string, string> }[] =
  [
    { name: "missing Sec-WebSocket-Key", request: get(without("Sec-WebSocket-Key")), status: 400 },
    {
      name: "key is not base64",
      request: get(replacing("Sec-WebSocket-Key", "Sec-WebSocket-Key: not*base64!")),
      status: 400,
    },
    {
      name: "key is 15 bytes",
      request: get(replacing("Sec-WebSocket-Key", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA")),
      status: 400,
    },
    { name: "not GET", request: head("POST /only/x HTTP/1.1", [...GOOD, "Content-Length: 0"]), status: 400 },
    { name: "no Host", request: get(without("Host")), status: 400 },
    { name: "duplicate Host", request: get([...GOOD, "Host: other.test"]), status: 400 },
    {
      name: "Connection without upgrade",
      request: get(replacing("Connection", "Connection: keep-alive")),
      status: 400,
    },
    { name: "bad request line", request: head("GET /only/x", GOOD), status: 400 },
    { name: "obs-fold", request: get([...GOOD, "X-Folded: a", " b"]), status: 400 },
    {
      name: "bare LF ending a header line",
      request: get(["Host: gw.test\nUpgrade: websocket", ...GOOD.slice(2)]),
      status: 400,
    },
    { name: "space before colon", request: get([...GOOD, "X-Spaced : 1"]), status: 400 },
    { name: "control byte in a header value", request: get([...GOOD, "X-Ctl: a\x01b"]), status: 400 },
    {
      name: "Content-Length and Transfer-Encoding",
      request: get([...GOOD, "Content-Length: 0", "Transfer-Encoding: chunked"]),
      status: 400,
    },
    {
      name: "duplicate Content-Length",
      request: get([...GOOD, "Content-Length: 0", "Content-Length: 0"]),
      status: 400,
    },
    {
      name: "version 8",
      request: get(replacing("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8")),
      status: 426,
      headers: { "sec-websocket-version": "13" },
    },
    { name: "head over max_head_bytes", request: get([...GOOD, `X-Big: ${"b".repeat(3_000)}`]), status: 431 },
    {
      name: "request line over max_head_bytes",
      request: head(`GET /only/${"a".repeat(3_000)} HTTP/1.1`, GOOD),
      status: 414,
    },
    { name: "no route matches", request: head("GET /elsewhere HTTP/1.1", GOOD), status: 404 },
  ];

Deno.test("handshake: every bad handshake gets its status, a reject log line, and harms nobody", async (t) => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: toYaml({
      servers: [{ listen: ["127.0.0.1:0"], routes: [{ path: "/only/", upstream: "app" }] }],
      upstreams: { app: { servers: [backend.address] } },
      limits: { max_head_bytes: 2048 },
    }),
  });
  // A tunnel open the whole time: refusals must never affect it.
  await using bystander = await openDenoWs(`ws://127.0.0.1:${gw.port}/only/bystander`);

  for (const { name, request, status, headers } of BAD_HANDSHAKES) {
    await t.step(`${name} -> ${status}`, async () => {
      const rejectsBefore = gw.records("reject").length;
      const response = parseResponse(await rawRequest(gw.port, request));
      assert.equal(response.status, status, response.head);
      assert.equal(response.headers.get("connection")?.toLowerCase(), "close");
      for (const [header, value] of Object.entries(headers ?? {})) {
        assert.equal(response.headers.get(header), value);
      }
      await eventually(() => gw.records("reject").length > rejectsBefore, 3_000, "reject log line");
      const rejects = gw.records("reject");
      assert.equal(rejects.length, rejectsBefore + 1, "exactly one reject line");
      assert.equal(rejects.at(-1)!.fields.status, String(status));
      assert.ok(rejects.at(-1)!.fields.reason, "the reject line gives a reason");
      bystander.send(name);
      assert.equal(await bystander.next(), name);
    });
  }

  await t.step("Firefox-style Connection: keep-alive, Upgrade is accepted", async () => {
    await using client = await RawWs.open(gw.port, {
      request: get(replacing("Connection", "Connection: keep-alive, Upgrade")),
    });
    assert.equal(client.response.status, 101);
    assert.equal(client.response.headers.get("sec-websocket-accept"), acceptFor(KEY));
  });

  await t.step("a good client still works", async () => {
    await using client = await openDenoWs(`ws://127.0.0.1:${gw.port}/only/after`);
    client.send("still fine");
    assert.equal(await client.next(), "still fine");
  });
  assert.equal(
    backend.requests.filter((r) => r.url === "/only/x").length,
    1,
    "only the Firefox handshake reached the backend",
  );
});

Deno.test("handshake: a head that stalls gets 408 after handshake_timeout and is closed", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: toYaml({
      servers: [{ listen: ["127.0.0.1:0"], routes: [{ path: "/", upstream: "app" }] }],
      upstreams: { app: { servers: [backend.address] } },
      limits: { handshake_timeout: "1s" },
    }),
  });
  const conn = await dial(gw.port);
  const reader = new ByteReader(conn);
  try {
    const started = Date.now();
    await writeAll(conn, new TextEncoder().encode("GET / HTTP/1.1\r\nHost: gw.test\r\nUpgr"));
    const response = parseResponse(await reader.readToEnd(5_000));
    const elapsed = Date.now() - started;
    assert.equal(response.status, 408);
    assert.ok(elapsed >= 900 && elapsed < 3_000, `408 after ${elapsed} ms`);
    assert.ok(reader.eof, "the connection was closed");
    await gw.waitForEvent("reject", { status: "408" });
  } finally {
    await reader.close();
  }
  assert.equal(backend.requests.length, 0);
});
