/**
 * Client keep-alive and upstream connection reuse for plain HTTP (DESIGN §3a), with real peers:
 * several requests and then an upgrade on one client connection, pipelining, the limits and
 * timeouts, kept upstream connections and their one retry, and what a hostile client or backend
 * tries against them (smuggling across requests, bytes after an upgrade or after a body, slowloris
 * between requests, idle connections against max_connections, drain and reload).
 */
import assert from "node:assert/strict";
import { CERTS, eventually, oneRouteConfig, startGateway, toYaml } from "./_harness.ts";
import { denoEchoBackend, rawBackend } from "./_backends.ts";
import { type BackendRequest, type Handled, keepAliveBackend, KeptConn, request } from "./_keepalive.ts";
import { CRLF, encodeFrame, Opcode, readFrame, text, upgradeRequest } from "./_wire.ts";

/** One route to `upstream`; `group` holds the upstream group's keys. */
function config(
  upstream: string,
  options: {
    server?: Record<string, unknown>;
    group?: Record<string, unknown>;
    top?: Record<string, unknown>;
  } = {},
): string {
  return oneRouteConfig([upstream], {
    upstream: options.group ?? {},
    server: options.server ?? {},
    top: options.top ?? {},
  });
}

const answer200 = (body: string, extra = "") =>
  `HTTP/1.1 200 OK${CRLF}${extra}Content-Length: ${body.length}${CRLF}${CRLF}${body}`;

Deno.test("keep-alive: one client connection carries plain requests, then a WebSocket upgrade", async () => {
  await using backend = await denoEchoBackend();
  await using gw = await startGateway({ config: config(backend.address) });
  await using client = await KeptConn.open(gw.port);
  await client.send(request("/a"));
  const first = await client.answer();
  assert.equal(first?.status, 200);
  assert.equal(first.body, "GET /a 0\n");
  assert.equal(first.headers.get("connection"), null, "HTTP/1.1 persists without saying so");
  await client.send(request("/b", [], "POST", "hello"));
  assert.equal((await client.answer())?.body, "POST /b 5\nhello");
  await client.send(
    "POST /c HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
  );
  assert.equal((await client.answer())?.body, "POST /c 3\nabc");
  await client.send(upgradeRequest({ path: "/ws" }));
  const upgraded = await client.answer();
  assert.equal(upgraded?.status, 101);
  await client.send(
    encodeFrame(Opcode.text, new TextEncoder().encode("after three requests"), { mask: true }),
  );
  const echoed = await readFrame(client.reader, 5_000);
  assert.equal(text(echoed?.payload ?? new Uint8Array()), "after three requests");
  const access = gw.records("access");
  assert.deepEqual(access.map((r) => [r.fields.id, r.fields.request, r.fields.path, r.fields.status]), [
    ["1", undefined, "/a", "200"],
    ["1", "2", "/b", "200"],
    ["1", "3", "/c", "200"],
  ]);
  assert.equal(gw.records("tunnel_open").length, 1);
  assert.deepEqual(backend.requests.map((r) => r.url), ["/a", "/b", "/c", "/ws"]);
});

Deno.test("keep-alive over TLS: several requests on one TLS connection (one handshake)", async () => {
  await using backend = keepAliveBackend();
  const tls = { cert: `${CERTS}localhost.pem`, key: `${CERTS}localhost-key.pem` };
  await using gw = await startGateway({ config: config(backend.address, { server: { tls } }) });
  await using client = await KeptConn.openTls(gw.port);
  for (const path of ["/1", "/2", "/3"]) {
    await client.send(request(path));
    assert.match((await client.answer())?.body ?? "", new RegExp(`^GET ${path} `));
  }
  await eventually(() => gw.records("access").length === 3, 5_000, "three access records");
  assert.deepEqual(new Set(gw.records("access").map((r) => r.fields.id)).size, 1, "one connection");
  assert.ok(backend.requests.every((r) => /^x-forwarded-proto: https\r$/im.test(r.head)));
});

Deno.test("keep-alive: pipelined requests are answered in order, byte for byte, nothing after the last", async () => {
  await using backend = keepAliveBackend();
  await using gw = await startGateway({ config: config(backend.address) });
  await using client = await KeptConn.open(gw.port);
  await client.send(
    request("/1") + request("/2", [], "POST", "body-two") + request("/3", ["Content-Length: 0"]) +
      request("/4", ["Connection: close"]),
  );
  const answers = [];
  for (let i = 0; i < 4; i++) answers.push(await client.answer());
  assert.deepEqual(answers.map((a) => a?.raw), [
    answer200("GET /1 c1 r1"),
    answer200("POST /2 c2 r1"),
    answer200("GET /3 c3 r1"),
    // The last one asked to close: it says so, and nothing follows.
    `HTTP/1.1 200 OK${CRLF}Content-Length: 12${CRLF}Connection: close${CRLF}${CRLF}GET /4 c4 r1`,
  ]);
  assert.ok(await client.closed());
  assert.equal(client.reader.buffered.length, 0);
  assert.deepEqual(backend.requests.map((r) => [r.method, r.path, r.body]), [
    ["GET", "/1", ""],
    ["POST", "/2", "body-two"],
    ["GET", "/3", ""],
    ["GET", "/4", ""],
  ]);
});

Deno.test("keep-alive: an idle connection is closed after keepalive_timeout; 0 = one request each", async () => {
  await using backend = keepAliveBackend();
  await using gw = await startGateway({
    config: config(backend.address, { server: { keepalive_timeout: "1s" } }),
  });
  await using client = await KeptConn.open(gw.port);
  await client.send(request("/once"));
  assert.equal((await client.answer())?.status, 200);
  assert.ok(await client.closed(10_000), "closed once idle for keepalive_timeout");
  assert.equal(gw.records("reject").length, 0, "an idle close is no error");

  await using off = await startGateway({
    config: config(backend.address, { server: { keepalive_timeout: 0 } }),
  });
  await using single = await KeptConn.open(off.port);
  await single.send(request("/x") + request("/never"));
  const only = await single.answer();
  assert.equal(only?.headers.get("connection"), "close");
  assert.ok(await single.closed());
  assert.ok(!backend.requests.some((r) => r.path === "/never"));
});

Deno.test("keep-alive: max_requests_per_connection ends the connection after that many answers", async () => {
  await using backend = keepAliveBackend();
  await using gw = await startGateway({
    config: config(backend.address, { server: { max_requests_per_connection: 2 } }),
  });
  await using client = await KeptConn.open(gw.port);
  await client.send(request("/1") + request("/2") + request("/3"));
  assert.equal((await client.answer())?.headers.get("connection"), null);
  assert.equal((await client.answer())?.headers.get("connection"), "close");
  assert.ok(await client.closed());
  assert.deepEqual(backend.requests.map((r) => r.path), ["/1", "/2"]);
});

Deno.test("upstream keepalive: requests reuse backend connections; without it, one connection each", async () => {
  await using kept = keepAliveBackend();
  await using fresh = keepAliveBackend();
  await using gw = await startGateway({
    config: toYaml({
      servers: [{
        listen: ["127.0.0.1:0"],
        routes: [{ path: "/kept/", upstream: "kept" }, { path: "/fresh/", upstream: "fresh" }],
      }],
      upstreams: {
        kept: { servers: [kept.address], keepalive: 4 },
        fresh: { servers: [fresh.address] },
      },
    }),
  });
  for (let c = 0; c < 3; c++) {
    await using client = await KeptConn.open(gw.port);
    for (let i = 0; i < 3; i++) {
      await client.send(request(`/kept/${c}${i}`));
      assert.equal((await client.answer())?.status, 200);
      await client.send(request(`/fresh/${c}${i}`));
      assert.equal((await client.answer())?.status, 200);
    }
  }
  assert.equal(kept.connections, 1, "nine requests on one kept backend connection");
  assert.equal(kept.requests.at(-1)?.index, 9);
  assert.equal(fresh.connections, 9);
  assert.match(kept.requests[0]!.head, /^GET \/kept\/00 HTTP\/1\.1\r\n/);
  assert.doesNotMatch(kept.requests[0]!.head, /^connection:/im, "no Connection: close to a kept backend");
  assert.match(fresh.requests[0]!.head, /^connection: close\r$/im);
});

Deno.test("upstream keepalive: a kept connection that fails unanswered is retried once for GET, never for POST", async () => {
  // Each backend connection answers its first request and drops its second unanswered.
  const second = (req: BackendRequest): Promise<Handled> =>
    Promise.resolve(req.index === 2 ? "close" : false);
  await using backend = keepAliveBackend(second);
  await using gw = await startGateway({ config: config(backend.address, { group: { keepalive: 2 } }) });
  await using client = await KeptConn.open(gw.port);
  await client.send(request("/first"));
  assert.equal((await client.answer())?.body, "GET /first c1 r1");
  await client.send(request("/again"));
  const retried = await client.answer();
  assert.equal(retried?.status, 200);
  assert.equal(retried.body, "GET /again c2 r1", "sent again on a new connection");
  assert.equal(
    gw.records("upstream_failed").length,
    0,
    "a kept connection's end is not the server's failure",
  );
  await client.send(request("/pay", [], "POST", "once"));
  const post = await client.answer();
  assert.equal(post?.status, 502);
  const posts = backend.requests.filter((r) => r.method === "POST");
  assert.equal(posts.length, 1, "a POST reaches the backend at most once");
  const failed = await gw.waitForEvent("upstream_failed");
  assert.match(failed.fields.reason ?? "", /not retried: method not idempotent/);
  assert.equal(gw.records("upstream_failed").length, 1, "the GET's retry was never logged as a failure");
});

Deno.test("upstream keepalive: bytes a backend sends after a body never become the next answer", async () => {
  const forged = answer200("forged");
  await using backend = keepAliveBackend(async (req, write) => {
    if (req.path === "/glued") {
      // The forged answer in the same write as the real one.
      await write(answer200("ok") + forged);
      return "linger";
    }
    if (req.path === "/late") {
      await write(answer200("ok"));
      await write(forged); // a separate write, after the answer
      return "linger";
    }
    return false;
  });
  await using gw = await startGateway({ config: config(backend.address, { group: { keepalive: 2 } }) });
  await using client = await KeptConn.open(gw.port);
  for (const path of ["/glued", "/late"]) {
    await client.send(request(path));
    assert.equal((await client.answer())?.raw, answer200("ok"), path);
    // The gateway closed that backend connection instead of keeping it.
    await eventually(() => backend.ended.length === (path === "/glued" ? 1 : 2), 5_000, `${path} closed`);
    await client.send(request(`${path}/next`));
    const next = await client.answer();
    assert.doesNotMatch(next?.body ?? "", /forged/);
    assert.match(next?.body ?? "", new RegExp(`^GET ${path}/next c\\d r1$`), "a new backend connection");
  }
  assert.equal(client.reader.buffered.length, 0);
});

Deno.test("keep-alive attacks: an ambiguous request after a good one is refused and ends the connection", async (t) => {
  await using backend = keepAliveBackend();
  await using gw = await startGateway({ config: config(backend.address, { group: { keepalive: 2 } }) });
  const cases: [string, string][] = [
    [
      "CL and TE",
      "POST /smuggle HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ],
    [
      "two Content-Lengths",
      "POST /smuggle HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
    ],
    [
      "a bad chunk size",
      "POST /smuggle HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ["obs-fold", "GET /smuggle HTTP/1.1\r\nHost: gw.test\r\nX-A: 1\r\n 2\r\n\r\n"],
  ];
  for (const [name, bad] of cases) {
    await t.step(name, async () => {
      const before = backend.requests.length;
      await using client = await KeptConn.open(gw.port);
      await client.send(request("/good") + bad + request("/after"));
      assert.equal((await client.answer())?.status, 200);
      const refused = await client.answer();
      assert.equal(refused?.status, 400, name);
      assert.equal(refused.headers.get("connection"), "close");
      assert.ok(await client.closed());
      assert.deepEqual(backend.requests.slice(before).map((r) => r.path), ["/good"], "only the good one");
    });
  }
});

Deno.test("keep-alive attacks: bytes pipelined after an upgrade request are never read as a request", async () => {
  await using ws = await denoEchoBackend();
  await using refusing = keepAliveBackend(async (_req, write) => {
    await write(answer200("no upgrade here"));
    return "answered";
  });
  const smuggled = request("/smuggled");
  for (const [name, address] of [["upgraded", ws.address], ["refused", refusing.address]] as const) {
    await using gw = await startGateway({ config: config(address) });
    await using client = await KeptConn.open(gw.port);
    await client.send(upgradeRequest({ path: "/ws" }) + smuggled);
    const answer = await client.answer();
    assert.equal(answer?.status, name === "upgraded" ? 101 : 200, name);
    if (name === "refused") {
      // A refused upgrade ends the connection: its held bytes are dropped, not served.
      assert.equal(answer.headers.get("connection"), "close");
      assert.ok(await client.closed());
    }
    await eventually(() => gw.records("access").length + gw.records("tunnel_open").length >= 1, 5_000, name);
    assert.equal(gw.records("access").filter((r) => r.fields.path === "/smuggled").length, 0, name);
  }
  assert.deepEqual(ws.requests.map((r) => r.url), ["/ws"]);
  assert.deepEqual(refusing.requests.map((r) => r.path), ["/ws"]);
});

Deno.test("keep-alive attacks: slowloris between requests gets 408 after handshake_timeout", async () => {
  await using backend = keepAliveBackend();
  await using gw = await startGateway({
    config: config(backend.address, {
      server: { keepalive_timeout: "60s" },
      top: { limits: { handshake_timeout: "1s" } },
    }),
  });
  await using client = await KeptConn.open(gw.port);
  await client.send(request("/fast"));
  assert.equal((await client.answer())?.status, 200);
  await client.send("GET /slow HTTP/1.1\r\nHo"); // and nothing more
  const timedOut = await client.answer(10_000);
  assert.equal(timedOut?.status, 408);
  assert.ok(await client.closed());
  await gw.waitForEvent("reject", { status: "408" });
});

Deno.test("keep-alive attacks: a body still trickling after its answer ends the connection", async () => {
  // The backend answers at the head, without reading the body (as many do to an upload they refuse).
  await using backend = rawBackend(async (peer) => {
    await peer.write(answer200("early"));
    await peer.closing;
  });
  await using gw = await startGateway({
    config: config(backend.address, { top: { limits: { handshake_timeout: "1s" } } }),
  });
  await using client = await KeptConn.open(gw.port);
  await client.send("POST /upload HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 100000\r\n\r\nabc");
  assert.equal((await client.answer())?.body, "early");
  await client.send("defg"); // ... and the rest never comes
  assert.ok(await client.closed(10_000), "not kept waiting for the rest of the body");
});

Deno.test("keep-alive attacks: idle connections give their slots to new clients at max_connections", async () => {
  await using backend = keepAliveBackend();
  await using gw = await startGateway({
    config: config(backend.address, { top: { limits: { max_connections: 2 } } }),
  });
  await using a = await KeptConn.open(gw.port);
  await using b = await KeptConn.open(gw.port);
  for (const client of [a, b]) {
    await client.send(request("/idle"));
    assert.equal((await client.answer())?.status, 200);
  }
  // Both slots are held by idle keep-alive connections: a newcomer is served, the oldest goes.
  await using c = await KeptConn.open(gw.port);
  await c.send(request("/new"));
  assert.equal((await c.answer())?.status, 200);
  assert.ok(await a.closed(), "the oldest idle connection was closed");
  await b.send(request("/still"));
  assert.equal((await b.answer())?.status, 200, "the younger one still works");
  assert.equal(gw.records("reject").length, 0);
});

Deno.test("keep-alive: drain closes idle connections at once; a busy one gets its answer, then Connection: close", async () => {
  const release = Promise.withResolvers<void>();
  await using backend = keepAliveBackend(async (req, write) => {
    if (req.path !== "/slow") return false;
    await release.promise;
    await write(answer200("late"));
    return "answered";
  });
  await using gw = await startGateway({
    config: config(backend.address, { top: { shutdown_timeout: "60s" } }),
  });
  await using idle = await KeptConn.open(gw.port);
  await idle.send(request("/idle"));
  assert.equal((await idle.answer())?.status, 200);
  await using busy = await KeptConn.open(gw.port);
  await busy.send(request("/slow"));
  await eventually(
    () => backend.requests.some((r) => r.path === "/slow"),
    5_000,
    "slow request at the backend",
  );
  Deno.kill(gw.pid, "SIGTERM");
  assert.ok(await idle.closed(), "the idle connection closed at once");
  release.resolve();
  const last = await busy.answer();
  assert.equal(last?.body, "late");
  assert.equal(last.headers.get("connection"), "close");
  assert.ok(await busy.closed());
  const stopped = await gw.waitForEvent("stopped", {}, 10_000);
  assert.equal(stopped.fields.forced, "0");
});

Deno.test("keep-alive: a reload closes idle connections, so the next request meets the new config", async () => {
  await using backend = keepAliveBackend();
  const yaml = config(backend.address);
  await using gw = await startGateway({ config: yaml });
  await using client = await KeptConn.open(gw.port);
  await client.send(request("/before"));
  assert.equal((await client.answer())?.status, 200);
  await gw.writeConfig(yaml.replace('path: "/"', 'path: "/only/"'));
  Deno.kill(gw.pid, "SIGHUP");
  await gw.waitForEvent("reloaded", {}, 10_000);
  assert.ok(await client.closed());
  await using next = await KeptConn.open(gw.port);
  await next.send(request("/before"));
  assert.equal((await next.answer())?.status, 404);
});
