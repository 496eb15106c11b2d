/**
 * The client side of the handshake (DESIGN §4): what reaches the backend, which spellings pass, and
 * every refusal of an upgrade. Malformed heads of any request (obs-fold, bare LF, duplicate Host,
 * Content-Length with Transfer-Encoding ...) are in smuggling_test.ts; head size and time limits in
 * limits_test.ts.
 */
import assert from "node:assert/strict";
import { wsEchoBackend } from "./_backends.ts";
import { openDenoWs, RawWs } from "./_clients.ts";
import { startGateway, toYaml } from "./_harness.ts";
import { expectRefusal } from "./_security.ts";
import { acceptFor, CRLF, text } from "./_wire.ts";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

/** Every value of header `name` (lower-case), one per header line as the backend received them. */
const valuesOf = (rawHeaders: [string, string][], name: string) =>
  rawHeaders.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);

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
        "Host: Example.test:8443",
        "Upgrade: websocket",
        "Connection: keep-alive, Upgrade, X-Hop",
        "X-Hop: 1",
        "Keep-Alive: timeout=5",
        "Proxy-Connection: keep-alive",
        "TE: trailers",
        "Trailer: X-Checksum",
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
      assert.deepEqual([seen.method, seen.url, seen.version], ["GET", "/chat/room?id=7&q=a%20b", "1.1"]);
      // Exactly these lines: one each, or none.
      const expected: Record<string, string[]> = {
        "host": ["Example.test:8443"],
        "cookie": ['session=abc123; theme="dark"'],
        "x-custom": ["Value  with   spaces"],
        "sec-websocket-key": [KEY],
        "sec-websocket-version": ["13"],
        "sec-websocket-protocol": ["p1, p2"],
        "sec-websocket-extensions": ["x-test; a=1"],
        "x-forwarded-for": [xff],
        "x-forwarded-proto": ["http"],
        "x-forwarded-host": ["Example.test:8443"],
        "x-real-ip": ["127.0.0.1"],
        "forwarded": ['for=127.0.0.1;host="Example.test:8443";proto=http'],
        "upgrade": ["websocket"],
        "x-hop": [],
        "keep-alive": [],
        "proxy-connection": [],
        "te": [],
        "trailer": [],
        "transfer-encoding": [],
      };
      for (const [header, values] of Object.entries(expected)) {
        assert.deepEqual(valuesOf(seen.rawHeaders, header), values, header);
      }
      assert.deepEqual(valuesOf(seen.rawHeaders, "connection").map((v) => v.toLowerCase()), ["upgrade"]);

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

/** A request head from a request line and header lines. */
const head = (requestLine: string, lines: string[]) => [requestLine, ...lines].join(CRLF) + CRLF + CRLF;
const get = (lines: string[]) => head("GET /only/x HTTP/1.1", lines);
const isNamed = (line: string, name: string) => line.toLowerCase().startsWith(`${name.toLowerCase()}:`);
const without = (name: string) => GOOD.filter((l) => !isNamed(l, name));
/** GOOD with the line of header `name` replaced by `lines` (none, one, or several). */
const replacing = (name: string, ...lines: string[]) => GOOD.flatMap((l) => isNamed(l, name) ? lines : [l]);

/** Refusals of an upgrade as such; every one is checked by expectRefusal. */
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
    {
      name: "Connection without upgrade",
      request: get(replacing("Connection", "Connection: keep-alive")),
      status: 400,
    },
    {
      // RFC 6455 §4.2.2: the version we speak; RFC 9110 §15.5.22: a 426 names the protocol to switch to.
      name: "version 8",
      request: get(replacing("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8")),
      status: 426,
      headers: { "sec-websocket-version": "13", "upgrade": "websocket" },
    },
    {
      name: "request line alone over max_head_bytes",
      request: head(`GET /only/${"a".repeat(3_000)} HTTP/1.1`, GOOD),
      status: 414,
    },
    { name: "no route matches", request: head("GET /elsewhere HTTP/1.1", GOOD), status: 404 },
    {
      name: "no route matches a plain GET",
      request: head("GET /nothing HTTP/1.1", ["Host: gw.test"]),
      status: 404,
    },
  ];

/** Valid upgrades written in other ways than GOOD: each must get its 101. */
const SPELLINGS: [string, string[]][] = [
  ["Firefox's Connection: keep-alive, Upgrade", replacing("Connection", "Connection: keep-alive, Upgrade")],
  [
    "Upgrade: WebSocket with Connection: keep-alive, Upgrade",
    replacing("Connection", "Connection: keep-alive, Upgrade").map((l) =>
      isNamed(l, "Upgrade") ? "Upgrade: WebSocket" : l
    ),
  ],
  [
    "Connection split over two lines",
    replacing("Connection", "Connection: keep-alive", "Connection: upgrade"),
  ],
  [
    "lower-case names, no space after the colons",
    GOOD.map((l) => l.replace(/^([^:]+): /, (_, n) => `${n.toLowerCase()}:`)),
  ],
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
  const reached = () => backend.requests.length;

  for (const { name, request, status, headers } of BAD_HANDSHAKES) {
    await t.step(`${name} -> ${status}`, async () => {
      await expectRefusal(gw, request, status, { ...(headers && { headers }), reached, bystander });
    });
  }

  for (const [name, lines] of SPELLINGS) {
    await t.step(`${name} is accepted`, async () => {
      await using client = await RawWs.open(gw.port, { request: get(lines) });
      assert.equal(client.response.status, 101);
      assert.equal(client.response.headers.get("sec-websocket-accept"), acceptFor(KEY));
    });
  }

  await t.step("a good client still works", async () => {
    await using client = await openDenoWs(`ws://127.0.0.1:${gw.port}/only/after`);
    client.send("still fine");
    assert.equal(await client.next(), "still fine");
  });
  assert.equal(
    backend.requests.filter((r) => r.url === "/only/x").length,
    SPELLINGS.length,
    "only the valid spellings reached the backend",
  );
});
