/** Plain HTTP (no Upgrade): passed through one request per connection, or 426 on websocket_only routes. */
import assert from "node:assert/strict";
import { denoEchoBackend, rawBackend, wsEchoBackend } from "./_backends.ts";
import { openDenoWs } from "./_clients.ts";
import { eventually, oneRouteConfig, startGateway, toYaml } from "./_harness.ts";
import {
  bytes,
  concat,
  CRLF,
  parseResponse,
  randomBytes,
  rawRequest,
  sha256,
  text,
  upgradeRequest,
} from "./_wire.ts";
import { exchange } from "./_security.ts";
import { MAX_INTERIM_ANSWERS } from "../../lib/upstream/answer.ts";

/** A complete chunked body; `extension` is added to the first chunk-size line. */
const chunkedBody = (parts: Uint8Array[], extension = "") =>
  concat([
    ...parts.flatMap((
      p,
      i,
    ) => [bytes(`${p.length.toString(16)}${i ? "" : extension}${CRLF}`), p, bytes(CRLF)]),
    bytes(`0${CRLF}${CRLF}`),
  ]);

const adHoc = (upstream: string) => ({ args: ["--listen", "127.0.0.1:0", "--upstream", upstream] });

Deno.test("http: GET and POST bodies (1 MiB with Content-Length) pass through to a Deno.serve backend and back", async (t) => {
  await using backend = await denoEchoBackend();
  await using gw = await startGateway(adHoc(backend.address));
  const binary = randomBytes(1024 * 1024);
  // Larger than any first read, so the body has to be forwarded beyond the bytes that came with the head.
  const chunked = [bytes("hello "), randomBytes(70_000), bytes("world")];
  const cases = [
    {
      name: "GET",
      request: bytes(`GET /page?x=1 HTTP/1.1${CRLF}Host: gw.test${CRLF}Connection: close${CRLF}${CRLF}`),
      url: "/page?x=1",
      body: new Uint8Array(0),
    },
    {
      name: "POST with Content-Length",
      request: concat([
        bytes(
          `POST /upload?x=1 HTTP/1.1${CRLF}Host: gw.test${CRLF}Connection: close${CRLF}Content-Length: ${binary.length}${CRLF}${CRLF}`,
        ),
        binary,
      ]),
      url: "/upload?x=1",
      body: binary,
    },
    {
      name: "POST chunked",
      request: concat([
        bytes(
          `POST /chunks HTTP/1.1${CRLF}Host: gw.test${CRLF}Connection: close${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}`,
        ),
        chunkedBody(chunked, ";ext=1"),
      ]),
      url: "/chunks",
      body: concat(chunked),
    },
  ];
  for (const { name, request, url, body } of cases) {
    await t.step(name, async () => {
      // rawRequest reads until the gateway closes: each request says Connection: close (keep-alive: keepalive_test.ts).
      const response = parseResponse(await rawRequest(gw.port, request));
      assert.equal(response.status, 200);
      const method = name.split(" ")[0]!;
      assert.deepEqual(response.body, concat([bytes(`${method} ${url} ${body.length}\n`), body]));
      const seen = backend.requests.at(-1)!;
      assert.equal(seen.method, method);
      assert.equal(seen.url, url);
      assert.deepEqual(seen.body, body);
    });
  }
});

const BIG = randomBytes(200_000);
const answer = (head: string, body: Uint8Array = new Uint8Array(0)) =>
  concat([bytes(head + CRLF + CRLF), body]);

/** The backend keeps its connection open unless the body is close-delimited: the gateway must find the end. */
const FRAMINGS = [
  {
    name: "Content-Length body",
    answer: answer("HTTP/1.1 200 OK\r\nContent-Length: 11", bytes("hello world")),
    status: 200,
    body: bytes("hello world"),
  },
  {
    name: "chunked body",
    answer: answer(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked",
      chunkedBody([bytes("hello"), bytes(" world")]),
    ),
    status: 200,
    body: bytes("hello world"),
  },
  {
    name: "close-delimited body",
    answer: answer("HTTP/1.1 200 OK\r\nContent-Type: text/plain", bytes("until close")),
    status: 200,
    body: bytes("until close"),
    closeDelimited: true,
  },
  {
    name: "200 KB Content-Length body",
    answer: answer(`HTTP/1.1 200 OK\r\nContent-Length: ${BIG.length}`, BIG),
    status: 200,
    body: BIG,
  },
  {
    name: "200 KB chunked body",
    answer: answer(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked",
      chunkedBody([BIG.subarray(0, 150_000), BIG.subarray(150_000)]),
    ),
    status: 200,
    body: BIG,
  },
  {
    name: "200 KB close-delimited body",
    answer: answer("HTTP/1.1 200 OK", BIG),
    status: 200,
    body: BIG,
    closeDelimited: true,
  },
  {
    name: "404 with a body",
    answer: answer("HTTP/1.1 404 Not Found\r\nContent-Length: 9", bytes("not here!")),
    status: 404,
    body: bytes("not here!"),
  },
  {
    name: "204 without a body",
    answer: answer("HTTP/1.1 204 No Content"),
    status: 204,
    body: new Uint8Array(0),
  },
  {
    name: "304 whose Content-Length announces no body",
    answer: answer("HTTP/1.1 304 Not Modified\r\nContent-Length: 50"),
    status: 304,
    body: new Uint8Array(0),
  },
];

for (const { name, answer, status, body, closeDelimited } of FRAMINGS) {
  Deno.test(`http: a response with a ${name} comes back intact`, async () => {
    await using backend = rawBackend(async (peer) => {
      await peer.write(answer);
      if (!closeDelimited) await peer.closing;
    });
    await using gw = await startGateway(adHoc(backend.address));
    const response = parseResponse(
      await rawRequest(
        gw.port,
        `GET /framed HTTP/1.1${CRLF}Host: gw.test${CRLF}Connection: close${CRLF}${CRLF}`,
        {
          timeoutMs: 3_000,
        },
      ),
    );
    assert.equal(response.status, status);
    assert.equal(response.body.length, body.length);
    assert.equal(sha256(response.body), sha256(body));
    const head = backend.heads[0] ?? "";
    assert.match(head, /^GET \/framed HTTP\/1\.1\r\n/);
    assert.match(head, /\r\nconnection: close\r\n/i, "the upstream request says Connection: close");
    assert.match(head, /\r\nx-forwarded-for: 127\.0\.0\.1\r\n/i);
  });
}

Deno.test("http: a HEAD response's Content-Length is not waited for", async () => {
  await using backend = rawBackend(async (peer) => {
    await peer.write(`HTTP/1.1 200 OK${CRLF}Content-Length: 5000${CRLF}${CRLF}`);
    await peer.closing;
  });
  await using gw = await startGateway(adHoc(backend.address));
  const raw = await rawRequest(
    gw.port,
    `HEAD /meta HTTP/1.1${CRLF}Host: gw.test${CRLF}Connection: close${CRLF}${CRLF}`,
    {
      timeoutMs: 3_000,
    },
  );
  const response = parseResponse(raw);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-length"), "5000");
  assert.equal(text(raw), response.head, "nothing after the head");
});

Deno.test("http: a websocket_only route answers 426 + Upgrade: websocket to plain HTTP and still takes WebSockets", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address], { route: { websocket_only: true } }),
  });
  const response = parseResponse(
    await rawRequest(
      gw.port,
      `GET /plain HTTP/1.1${CRLF}Host: gw.test${CRLF}Connection: close${CRLF}${CRLF}`,
    ),
  );
  assert.equal(response.status, 426);
  // RFC 9110 §15.5.22: the server MUST send Upgrade with a 426.
  assert.equal(response.headers.get("upgrade")?.toLowerCase(), "websocket", response.head);
  assert.equal(backend.requests.length, 0, "the plain request never reached the backend");
  await using client = await openDenoWs(`ws://127.0.0.1:${gw.port}/ws`);
  client.send("websockets welcome");
  assert.equal(await client.next(), "websockets welcome");
});

Deno.test("http: an HTTP/1.0 client gets a streamed answer unchunked (the request goes upstream as 1.0)", async () => {
  const seen: string[] = [];
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    seen.push(req.headers.get("x-forwarded-for") ?? "");
    // A streamed body: chunked to an HTTP/1.1 request, close-delimited to 1.0.
    const parts = ["first ", "second ", "third"];
    return new Response(
      new ReadableStream({ pull: (c) => parts.length ? c.enqueue(bytes(parts.shift()!)) : c.close() }),
    );
  });
  await using gw = await startGateway(adHoc(`127.0.0.1:${server.addr.port}`));
  for (const version of ["1.0", "1.1"]) {
    // 1.0: the connection ends after the answer by itself; 1.1 says so.
    const close = version === "1.1" ? `Connection: close${CRLF}` : "";
    const raw = await rawRequest(
      gw.port,
      `GET /stream HTTP/${version}${CRLF}Host: gw.test${CRLF}${close}${CRLF}`,
      {
        timeoutMs: 3_000,
      },
    );
    const response = parseResponse(raw);
    assert.equal(response.status, 200, version);
    assert.equal(text(response.body), "first second third", version);
    const chunked = /\r\ntransfer-encoding: chunked\r\n/i.test(response.head);
    assert.equal(chunked, version === "1.1", `${version}: ${response.head}`);
  }
  assert.deepEqual(seen, ["127.0.0.1", "127.0.0.1"]);
});

Deno.test("http: a backend sending 1xx answers without end gets the client a 502 after a bounded number", async (t) => {
  let sent = 0;
  await using endless = rawBackend(async (peer) => {
    // Until wsgate hangs up: the write that fails ends the script.
    for (let i = 0;; i++) {
      await peer.write(
        i % 2 ? "HTTP/1.1 100 Continue\r\n\r\n" : "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n",
      );
      sent++;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  });
  await using echo = await denoEchoBackend();
  await using gw = await startGateway({
    config: toYaml({
      servers: [{
        listen: ["127.0.0.1:0"],
        routes: [{ path: "/endless", upstream: "endless" }, { path: "/", upstream: "echo" }],
      }],
      upstreams: {
        // max_fails: 0 keeps the backend in rotation after each 502.
        endless: { servers: [{ address: endless.address, max_fails: 0 }] },
        echo: { servers: [echo.address] },
      },
    }),
  });
  const requests = {
    "plain GET": `GET /endless HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`,
    "WebSocket upgrade": upgradeRequest({ path: "/endless/ws" }),
  };
  for (const [name, request] of Object.entries(requests)) {
    await t.step(name, async () => {
      const outcome = await exchange(gw.port, request, { timeoutMs: 5_000 });
      assert.ok(outcome.closed, `closed within the timeout, after ${sent} interim answers sent`);
      const statuses = [...text(outcome.raw).matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => Number(m[1]));
      assert.equal(statuses.at(-1), 502, "the final answer");
      assert.equal(statuses.length - 1, MAX_INTERIM_ANSWERS, "interim answers relayed before it");
      assert.ok(statuses.slice(0, -1).every((status) => status === 100 || status === 103));
    });
  }
  const rejects = () => gw.records("reject").filter((r) => r.fields.status === "502");
  await eventually(() => rejects().length === 2, 5_000, "a reject line per request");
  for (const r of rejects()) assert.match(r.fields.reason ?? "", /too many interim responses/);
  await t.step("the gateway serves on", async () => {
    const response = parseResponse(
      await rawRequest(gw.port, `GET /after HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`),
    );
    assert.equal(response.status, 200);
  });
});

Deno.test("http: a plain answer's body is bounded by the route's read_timeout and send_timeout", async (t) => {
  const BIG = 256 * 1024 * 1024; // more than any socket buffers hold, so a non-reading client blocks the write
  let backendWriteFailed = false;
  await using backend = rawBackend(async (peer) => {
    if (peer.head.startsWith("GET /stall")) {
      await peer.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
      await peer.closing; // never the other 90 bytes
      return;
    }
    await peer.write(`HTTP/1.1 200 OK\r\nContent-Length: ${BIG}\r\n\r\n`);
    const block = new Uint8Array(1024 * 1024);
    try {
      for (let sent = 0; sent < BIG; sent += block.length) await peer.write(block);
    } catch {
      backendWriteFailed = true; // the gateway let go of the upstream connection
    }
  });
  await using gw = await startGateway({
    config: toYaml({
      servers: [{
        listen: ["127.0.0.1:0"],
        routes: [{ path: "/", upstream: "app", read_timeout: "1s", send_timeout: "1s" }],
      }],
      upstreams: { app: { servers: [backend.address] } },
    }),
  });
  await t.step("a backend that stalls mid-body: the client connection ends after read_timeout", async () => {
    const started = Date.now();
    const outcome = await exchange(gw.port, "GET /stall HTTP/1.1\r\nHost: h\r\n\r\n", { timeoutMs: 6_000 });
    assert.equal(outcome.closed, true, "closed, not held open");
    assert.ok(Date.now() - started < 5_000, `closed after ${Date.now() - started} ms`);
    assert.match(text(outcome.raw), /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n0123456789$/);
    await gw.waitForLine(/access .*path=\/stall .*reason="no body bytes for 1000 ms"/);
  });
  await t.step("a client that stops reading: the upstream is let go after send_timeout", async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: gw.port });
    try {
      await conn.write(bytes("GET /big HTTP/1.1\r\nHost: h\r\n\r\n"));
      await gw.waitForLine(/access .*path=\/big .*reason="body write blocked for 1000 ms"/, 10_000);
      await eventually(() => backendWriteFailed, 5_000, "the backend's writes fail");
    } finally {
      conn.close();
    }
  });
});
