/**
 * Edge rules (DESIGN §3a, part A) with real peers: header rules and prefix rewrites seen byte for
 * byte at a raw backend and at a raw client (the 101 included), a real `ws` client through them,
 * redirect and respond routes that never open a backend connection, request IDs generated, kept
 * from a trusted proxy and replaced from anyone else, in the log records.
 */
import assert from "node:assert/strict";
import { WebSocket } from "ws";
import { rawBackend, type RawPeer, switching, type WsBackendOptions, wsEchoBackend } from "./_backends.ts";
import { openNodeWs, RawWs } from "./_clients.ts";
import { CA_PEM, CERTS, runGateway, startGateway, tempDir, toYaml } from "./_harness.ts";
import { acceptFor, CRLF, parseResponse, rawRequest, serveEach, text, upgradeRequest } from "./_wire.ts";
import { requestFrom } from "./_security.ts";

const HEX32 = /^[0-9a-f]{32}$/;

/** Header lines of a head as received (name: value), the start line dropped. */
function headerLines(head: string): string[] {
  return head.split(CRLF).slice(1).filter((line) => line !== "");
}

/** Every value of `name` in a head, in order. */
function values(head: string, name: string): string[] {
  const wanted = name.toLowerCase();
  return headerLines(head)
    .filter((line) => line.slice(0, line.indexOf(":")).toLowerCase() === wanted)
    .map((line) => line.slice(line.indexOf(":") + 1).trim());
}

/** Answers plain requests with 200 "ok" and upgrades with a 101 then "hello"; both carry
 * `Server` and `X-Powered-By` for response rules to remove, and a Strict-Transport-Security for
 * a `set` to replace. */
async function answer(peer: RawPeer): Promise<void> {
  const extra = `Server: backend/1${CRLF}X-Powered-By: php${CRLF}Strict-Transport-Security: max-age=0${CRLF}`;
  if (/^upgrade:\s*websocket\s*$/im.test(peer.head)) {
    await peer.write(switching(peer.head).replace(CRLF + CRLF, CRLF + extra + CRLF) + "hello");
    await peer.reader.readToEnd(5_000);
  } else {
    await peer.write(`HTTP/1.1 200 OK${CRLF}${extra}Content-Length: 2${CRLF}${CRLF}ok`);
  }
}

function rulesConfig(backend: string, echo: string): string {
  return toYaml({
    servers: [{
      listen: ["127.0.0.1:0"],
      routes: [
        {
          path: "/api/",
          upstream: "app",
          strip_prefix: true,
          add_prefix: "/v2",
          request_headers: {
            set: {
              "X-Env": "prod",
              Host: "backend.internal",
              "X-Client": "{client_ip} {scheme} {host} {uri} {request_id}",
              "X-Client-Port": "{client_port}",
              "X-Client-Subject": "{tls.client.subject}",
            },
            add: { "X-Tag": "edge" },
            remove: ["Cookie"],
          },
          response_headers: {
            set: { "Strict-Transport-Security": "max-age=31536000", "X-Request-Id": "{request_id}" },
            add: { "X-Edge": "1" },
            remove: ["Server", "X-Powered-By"],
          },
        },
        {
          path: "/echo/",
          upstream: "echo",
          strip_prefix: true,
          response_headers: { set: { "X-Frame-Options": "DENY" } },
        },
      ],
    }],
    upstreams: { app: { servers: [backend] }, echo: { servers: [echo] } },
  });
}

/** What a client sends that the rules must override: forged values and a Connection header
 * naming headers the gateway writes (hop-by-hop removal must not drop the gateway's own). */
const FORGED: [string, string][] = [
  ["Host", "gw.test:8020"],
  ["Cookie", "session=1"],
  ["X-Env", "forged"],
  ["X-Request-Id", "planted"],
  ["X-Client-Subject", "CN=admin"],
  ["Connection", "Upgrade, X-Env, X-Request-Id, X-Tag"],
];

/** The request head the backend got carries every rule, once, and nothing the client forged. */
function assertRulesApplied(head: string, uri: string): string {
  const [id] = values(head, "x-request-id");
  assert.match(id ?? "", HEX32);
  assert.deepEqual(values(head, "x-request-id"), [id]);
  assert.deepEqual(values(head, "x-env"), ["prod"]);
  assert.deepEqual(values(head, "host"), ["backend.internal"]);
  assert.deepEqual(values(head, "x-tag"), ["edge"]);
  assert.deepEqual(values(head, "cookie"), []);
  assert.deepEqual(
    values(head, "x-client-subject"),
    [],
    "no certificate: not sent, and the forged one removed",
  );
  assert.deepEqual(values(head, "x-client"), [`127.0.0.1 http gw.test ${uri} ${id}`]);
  assert.deepEqual(values(head, "x-forwarded-host"), ["gw.test:8020"], "the client's Host, not the rule's");
  return id!;
}

Deno.test("edge rules: header rules and prefix rewrites at a real backend and a real client", async (t) => {
  await using backend = rawBackend(answer);
  const echoOptions: WsBackendOptions = {};
  await using echo = await wsEchoBackend(echoOptions);
  await using gw = await startGateway({ config: rulesConfig(backend.address, echo.address) });

  await t.step(
    "plain HTTP: rewritten target (encoding and query kept), request rules, response rules",
    async () => {
      const forged = FORGED.filter(([name]) => name !== "Connection");
      const request = `GET /api/a%2Fb/c?x=1&y=%0A HTTP/1.1${CRLF}` +
        [...forged, ["Connection", "close, X-Env, X-Request-Id, X-Tag"]].map(([n, v]) => `${n}: ${v}${CRLF}`)
          .join(
            "",
          ) +
        CRLF;
      const response = parseResponse(await rawRequest(gw.port, request));
      const head = backend.heads.at(-1)!;
      assert.equal(head.split(CRLF)[0], "GET /v2/a%2Fb/c?x=1&y=%0A HTTP/1.1");
      const id = assertRulesApplied(head, "/api/a%2Fb/c?x=1&y=%0A");
      assert.equal(response.status, 200);
      assert.equal(text(response.body), "ok");
      assert.deepEqual(values(response.head, "strict-transport-security"), ["max-age=31536000"]);
      assert.deepEqual(values(response.head, "x-request-id"), [id]);
      assert.deepEqual(values(response.head, "x-edge"), ["1"]);
      assert.deepEqual([...values(response.head, "server"), ...values(response.head, "x-powered-by")], []);
      const access = await gw.waitForEvent("access", { request_id: id });
      assert.equal(access.fields.path, "/api/a%2Fb/c?x=1&y=%0A");
      assert.equal(`127.0.0.1:${values(head, "x-client-port")[0]}`, access.fields.client);
    },
  );

  await t.step("upgrade: the backend's handshake and the 101 the client reads (raw sockets)", async () => {
    const key = "dGhlIHNhbXBsZSBub25jZQ==";
    await using ws = await RawWs.open(gw.port, {
      request: upgradeRequest({ path: "/api/live?t=1", key, headers: FORGED }),
    });
    const head = backend.heads.at(-1)!;
    assert.equal(head.split(CRLF)[0], "GET /v2/live?t=1 HTTP/1.1");
    const id = assertRulesApplied(head, "/api/live?t=1");
    assert.deepEqual(values(head, "upgrade"), ["websocket"]);
    const answer = ws.response;
    assert.equal(answer.status, 101);
    assert.deepEqual(values(answer.head, "sec-websocket-accept"), [acceptFor(key)]);
    assert.deepEqual(values(answer.head, "upgrade"), ["websocket"]);
    assert.deepEqual(values(answer.head, "strict-transport-security"), ["max-age=31536000"]);
    assert.deepEqual(values(answer.head, "x-request-id"), [id]);
    assert.deepEqual(values(answer.head, "x-edge"), ["1"]);
    assert.deepEqual([...values(answer.head, "server"), ...values(answer.head, "x-powered-by")], []);
    // The tunnel carries what the backend sent after its 101.
    while (ws.reader.buffered.length < 5) assert.ok(await ws.reader.fill(5_000));
    assert.equal(text(ws.reader.take(5)), "hello");
    const open = await gw.waitForEvent("tunnel_open", { request_id: id });
    assert.equal(open.fields.route, "/api/");
  });

  await t.step("a real ws client through strip_prefix and a response rule", async () => {
    await using client = await openNodeWs(`ws://127.0.0.1:${gw.port}/echo/room/1?token=a%20b`);
    client.send("ping");
    assert.equal(await client.next(), "ping");
    assert.equal(echo.requests.at(-1)!.url, "/room/1?token=a%20b");
    assert.match(echo.requests.at(-1)!.headers.get("x-request-id") ?? "", HEX32);
  });

  await t.step("an upgrade the backend refuses: its answer gets the response rules too", async () => {
    echoOptions.reject = { status: 403, body: "no" };
    try {
      const response = parseResponse(await rawRequest(gw.port, upgradeRequest({ path: "/echo/x" })));
      assert.deepEqual([response.status, text(response.body)], [403, "no"]);
      assert.equal(response.headers.get("x-frame-options"), "DENY");
    } finally {
      delete echoOptions.reject;
    }
  });

  await t.step("a real ws client sees the response rule on the 101", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/echo/`);
    let upgradeHeaders: Record<string, unknown> = {};
    ws.on("upgrade", (res: { headers: Record<string, unknown> }) => upgradeHeaders = res.headers);
    const closed = new Promise((resolve) => ws.on("close", resolve));
    await new Promise((resolve, reject) => {
      ws.on("open", resolve);
      ws.on("error", reject);
    });
    ws.close();
    await closed;
    assert.equal(upgradeHeaders["x-frame-options"], "DENY");
  });

  await t.step("a header value that renders empty is logged once for the route", () => {
    const logged = gw.records("header_not_sent").filter((r) => r.fields.header === "X-Client-Subject");
    assert.equal(logged.length, 1);
    assert.deepEqual([logged[0]!.fields.route, logged[0]!.fields.reason], ["/api/", "empty"]);
  });
  assert.deepEqual(backend.errors, []);
});

/** A TCP listener that only counts the connections it accepts. */
function countingListener(): { address: string; accepted: () => number } & AsyncDisposable {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let accepted = 0;
  const served = serveEach(listener, (conn) => {
    accepted++;
    conn.close();
    return Promise.resolve();
  });
  return {
    address: `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    accepted: () => accepted,
    [Symbol.asyncDispose]: async () => {
      await served.stopAccepting();
      await served.settled();
    },
  };
}

Deno.test("edge rules: redirect and respond answer plain requests and upgrades without contacting a backend", async (t) => {
  await using counter = countingListener();
  await using gw = await startGateway({
    config: toYaml({
      servers: [{
        listen: ["127.0.0.1:0"],
        routes: [
          {
            path: "/",
            redirect: { to: "https://{host}{uri}", status: 308 },
            response_headers: { set: { "Strict-Transport-Security": "max-age=60" } },
          },
          { path: "/rel/", redirect: { to: "{uri}" } },
          { path: "= /query", redirect: { to: "{query}" } },
          { path: "= /ping", respond: { status: 200, body: "ok\n", content_type: "text/plain" } },
          { path: "= /gone", respond: { status: 410 } },
          { path: "/app/", upstream: "app" },
        ],
      }],
      upstreams: { app: { servers: [counter.address] } },
    }),
  });

  await t.step("redirect: plain GET, with the query; response rules apply", async () => {
    const response = parseResponse(
      await rawRequest(gw.port, `GET /a/b?c=1 HTTP/1.1${CRLF}Host: chat.example.com:8020${CRLF}${CRLF}`),
    );
    assert.equal(response.status, 308);
    assert.equal(response.reason, "Permanent Redirect");
    assert.equal(response.headers.get("location"), "https://chat.example.com/a/b?c=1");
    assert.equal(response.headers.get("strict-transport-security"), "max-age=60");
    assert.equal(response.headers.get("content-length"), "0");
    const access = await gw.waitForEvent("access", { path: "/a/b?c=1" });
    assert.deepEqual([access.fields.status, access.fields.answer], ["308", "redirect"]);
    assert.match(access.fields.request_id ?? "", HEX32);
  });

  await t.step("redirect: an upgrade request gets the redirect, no 101", async () => {
    const raw = await rawRequest(gw.port, upgradeRequest({ path: "/ws?x", host: "chat.example.com" }));
    const response = parseResponse(raw);
    assert.equal(response.status, 308);
    assert.equal(response.headers.get("location"), "https://chat.example.com/ws?x");
  });

  await t.step("respond: GET gets the body, HEAD the head alone, an upgrade the answer", async () => {
    const get = parseResponse(
      await rawRequest(gw.port, `GET /ping HTTP/1.1${CRLF}Host: a${CRLF}Connection: close${CRLF}${CRLF}`),
    );
    assert.deepEqual([get.status, text(get.body), get.headers.get("content-type")], [
      200,
      "ok\n",
      "text/plain",
    ]);
    const head = await rawRequest(
      gw.port,
      `HEAD /ping HTTP/1.1${CRLF}Host: a${CRLF}Connection: close${CRLF}${CRLF}`,
    );
    assert.equal(
      text(head),
      `HTTP/1.1 200 OK${CRLF}Content-Type: text/plain${CRLF}Content-Length: 3${CRLF}Connection: close${CRLF}${CRLF}`,
    );
    const upgrade = parseResponse(await rawRequest(gw.port, upgradeRequest({ path: "/ping" })));
    assert.equal(upgrade.status, 200);
    const gone = parseResponse(
      await rawRequest(gw.port, `GET /gone HTTP/1.1${CRLF}Host: a${CRLF}Connection: close${CRLF}${CRLF}`),
    );
    assert.deepEqual([gone.status, gone.reason, text(gone.body)], [410, "Gone", ""]);
  });

  await t.step("a relative redirect of //host/ stays on this site (no open redirect)", async () => {
    const response = parseResponse(
      await rawRequest(
        gw.port,
        `GET //rel//evil.example/x HTTP/1.1${CRLF}Host: a${CRLF}Connection: close${CRLF}${CRLF}`,
      ),
    );
    assert.equal(response.status, 302);
    assert.equal(response.headers.get("location"), "/rel//evil.example/x");
    const direct = parseResponse(
      await rawRequest(gw.port, `GET /rel/x HTTP/1.1${CRLF}Host: a${CRLF}Connection: close${CRLF}${CRLF}`),
    );
    assert.equal(direct.headers.get("location"), "/rel/x");
  });

  await t.step("a redirect target that renders empty is a 500, logged once for the route", async () => {
    for (let i = 0; i < 2; i++) {
      const response = parseResponse(
        await rawRequest(gw.port, `GET /query HTTP/1.1${CRLF}Host: a${CRLF}${CRLF}`),
      );
      assert.equal(response.status, 500);
    }
    const withQuery = parseResponse(
      await rawRequest(gw.port, `GET /query?next=1 HTTP/1.1${CRLF}Host: a${CRLF}${CRLF}`),
    );
    assert.deepEqual([withQuery.status, withQuery.headers.get("location")], [302, "next=1"]);
    const logged = gw.records("header_not_sent");
    assert.deepEqual(logged.map((r) => [r.fields.route, r.fields.header, r.fields.reason]), [
      ["= /query", "Location", "empty"],
    ]);
    assert.deepEqual(gw.records("internal_error"), [], "a configured answer, not a crash");
    const reject = await gw.waitForEvent("reject", { status: "500" });
    assert.equal(reject.fields.reason, "redirect target of route = /query rendered empty");
  });

  await t.step("no backend connection was opened", () => {
    assert.equal(counter.accepted(), 0);
  });
  await t.step("the upstream route next to them does reach the backend (the counter counts)", async () => {
    await rawRequest(gw.port, `GET /app/ HTTP/1.1${CRLF}Host: a${CRLF}Connection: close${CRLF}${CRLF}`);
    assert.equal(counter.accepted(), 1);
  });
});

Deno.test("edge rules: request IDs generated, kept from a trusted proxy, replaced from anyone else", async (t) => {
  await using backend = rawBackend(answer);
  await using gw = await startGateway({
    config: toYaml({
      servers: [{ listen: ["127.0.0.1:0"], routes: [{ path: "/", upstream: "app" }] }],
      upstreams: { app: { servers: [backend.address] } },
      trusted_proxies: ["127.0.0.1"],
    }),
  });
  const get = (id?: string) =>
    `GET /r HTTP/1.1${CRLF}Host: a${CRLF}Connection: close${CRLF}${
      id === undefined ? "" : `X-Request-Id: ${id}${CRLF}`
    }${CRLF}`;

  await t.step("none sent: a new one upstream and in the access record", async () => {
    await rawRequest(gw.port, get());
    const [id] = values(backend.heads.at(-1)!, "x-request-id");
    assert.match(id!, HEX32);
    await gw.waitForEvent("access", { request_id: id! });
  });

  await t.step("a trusted proxy's ID is kept, on upgrades too (tunnel_open)", async () => {
    await rawRequest(gw.port, get("edge-7f3a"));
    assert.deepEqual(values(backend.heads.at(-1)!, "x-request-id"), ["edge-7f3a"]);
    await gw.waitForEvent("access", { request_id: "edge-7f3a" });
    await using ws = await RawWs.open(gw.port, {
      request: upgradeRequest({ headers: [["X-Request-Id", "edge-ws-1"]] }),
    });
    assert.equal(ws.response.status, 101);
    assert.deepEqual(values(backend.heads.at(-1)!, "x-request-id"), ["edge-ws-1"]);
    await gw.waitForEvent("tunnel_open", { request_id: "edge-ws-1" });
  });

  await t.step("from 127.0.0.2 (not trusted) the client's ID is replaced, never forwarded", async () => {
    const response = parseResponse(await requestFrom("127.0.0.2", gw.port, get("planted")));
    assert.equal(response.status, 200);
    const [id] = values(backend.heads.at(-1)!, "x-request-id");
    assert.match(id!, HEX32);
    assert.ok(!backend.heads.at(-1)!.includes("planted"));
    const access = await gw.waitForEvent("access", { request_id: id! });
    assert.match(access.fields.client ?? "", /^127\.0\.0\.2:\d+$/);
  });
  assert.deepEqual(backend.errors, []);
});

Deno.test('edge rules: request_id_header "" sends none and logs none', async () => {
  await using backend = rawBackend(answer);
  await using gw = await startGateway({
    config: toYaml({
      servers: [{ listen: ["127.0.0.1:0"], routes: [{ path: "/", upstream: "app" }] }],
      upstreams: { app: { servers: [backend.address] } },
      request_id_header: "",
    }),
  });
  await rawRequest(
    gw.port,
    `GET /r HTTP/1.1${CRLF}Host: a${CRLF}Connection: close${CRLF}X-Request-Id: client${CRLF}${CRLF}`,
  );
  assert.deepEqual(values(backend.heads.at(-1)!, "x-request-id"), ["client"], "passed on like any header");
  const access = await gw.waitForEvent("access", { path: "/r" });
  assert.equal(access.fields.request_id, undefined);
});

Deno.test("edge rules: path tricks on a strip_prefix route", async (t) => {
  await using backend = rawBackend(answer);
  await using gw = await startGateway({
    config: toYaml({
      servers: [{
        listen: ["127.0.0.1:0"],
        routes: [
          { path: "/api/", upstream: "app", strip_prefix: true },
          { path: "/", respond: { status: 404, body: "not here\n" } },
        ],
      }],
      upstreams: { app: { servers: [backend.address] } },
    }),
  });
  const sentAs = async (target: string) => {
    const before = backend.heads.length;
    const response = parseResponse(
      await rawRequest(gw.port, `GET ${target} HTTP/1.1${CRLF}Host: a${CRLF}Connection: close${CRLF}${CRLF}`),
    );
    const head = backend.heads.length > before ? backend.heads.at(-1)! : undefined;
    return { status: response.status, line: head?.split(CRLF)[0] };
  };

  await t.step("dot-segments are refused before any rewrite (400, nothing upstream)", async () => {
    for (const target of ["/api/../admin", "/api/%2e%2e/admin", "/api%2F..%2Fadmin", "/api/./x"]) {
      assert.deepEqual(await sentAs(target), { status: 400, line: undefined }, target);
    }
  });
  await t.step("the upstream path starts with one slash (no //host for URL parsers)", async () => {
    assert.deepEqual(await sentAs("/api//evil.example/x"), {
      status: 200,
      line: "GET /evil.example/x HTTP/1.1",
    });
    assert.deepEqual(await sentAs("//api///x?q"), { status: 200, line: "GET /x?q HTTP/1.1" });
  });
  await t.step("an encoded slash in the prefix ends the prefix; after it, encoding is kept", async () => {
    assert.deepEqual(await sentAs("/api%2Fadmin%2Fx"), { status: 200, line: "GET /admin%2Fx HTTP/1.1" });
    assert.deepEqual(await sentAs("/api;v=1/x"), { status: 200, line: "GET /x HTTP/1.1" });
  });
  await t.step(
    "a path that only resembles the prefix is not stripped: it takes the other route",
    async () => {
      assert.deepEqual(await sentAs("/apix"), { status: 404, line: undefined });
      assert.deepEqual(await sentAs("/api"), { status: 404, line: undefined });
    },
  );
  assert.deepEqual(backend.errors, []);
});

Deno.test("edge rules: a client-controlled value rendered too long is not sent, and logged once", async () => {
  await using backend = rawBackend(answer);
  await using gw = await startGateway({
    config: toYaml({
      servers: [{
        listen: ["127.0.0.1:0"],
        routes: [{
          path: "/",
          upstream: "app",
          request_headers: { set: { "X-Uri": "{uri}{uri}{uri}" } },
          response_headers: { set: { "X-Echo": "{uri}{uri}{uri}" } },
        }],
      }],
      upstreams: { app: { servers: [backend.address] } },
    }),
  });
  const long = `/${"a".repeat(3_000)}`;
  for (let i = 0; i < 2; i++) {
    const response = parseResponse(
      await rawRequest(gw.port, `GET ${long} HTTP/1.1${CRLF}Host: a${CRLF}Connection: close${CRLF}${CRLF}`),
    );
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("x-echo"), null);
    assert.deepEqual(values(backend.heads.at(-1)!, "x-uri"), []);
  }
  const short = parseResponse(
    await rawRequest(gw.port, `GET /s HTTP/1.1${CRLF}Host: a${CRLF}Connection: close${CRLF}${CRLF}`),
  );
  assert.equal(short.headers.get("x-echo"), "/s/s/s");
  const logged = gw.records("header_not_sent");
  assert.deepEqual(logged.map((r) => [r.fields.header, r.fields.reason]), [["X-Uri", "too long"], [
    "X-Echo",
    "too long",
  ]]);
});

Deno.test("edge rules: on a TLS listener {scheme} is https; without a client certificate {tls.client.*} send nothing", async () => {
  await using backend = rawBackend(answer);
  await using gw = await startGateway({
    config: toYaml({
      servers: [{
        listen: ["127.0.0.1:0"],
        tls: { cert: `${CERTS}localhost.pem`, key: `${CERTS}localhost-key.pem` },
        routes: [{
          path: "/",
          upstream: "app",
          request_headers: {
            set: {
              "X-Scheme": "{scheme}",
              "X-Cert-Subject": "{tls.client.subject}",
              "X-Cert-Fingerprint": "{tls.client.fingerprint}",
              "X-Cert-Verified": "{tls.client.verified}",
            },
          },
          response_headers: { set: { Location: "{scheme}://{host}/" } },
        }],
      }],
      upstreams: { app: { servers: [backend.address] } },
    }),
  });
  const request =
    `GET /t HTTP/1.1${CRLF}Host: localhost${CRLF}X-Cert-Verified: true${CRLF}Connection: close${CRLF}${CRLF}`;
  const response = parseResponse(await rawRequest({ port: gw.port, tls: { caCerts: [CA_PEM] } }, request));
  assert.equal(response.headers.get("location"), "https://localhost/");
  const head = backend.heads.at(-1)!;
  assert.deepEqual(values(head, "x-scheme"), ["https"]);
  for (const name of ["x-cert-subject", "x-cert-fingerprint", "x-cert-verified"]) {
    assert.deepEqual(values(head, name), [], name);
  }
  assert.deepEqual(backend.errors, []);
});

Deno.test("edge rules: check reports every bad edge key at its line and column, and summarises fixed answers", async () => {
  await using tmp = await tempDir();
  const bad = [
    "servers:",
    '  - listen: ["127.0.0.1:0"]',
    "    routes:",
    "      - path: /api/",
    "        upstream: app",
    '        request_headers: { set: { X-Client: "{clinet_ip}", X-Forwarded-For: x } }',
    "      - path: /",
    '        redirect: { to: "https://{host}{uri}", status: 200 }',
    '      - { path: "= /ping", upstream: app, respond: { body: "ok" } }',
    "upstreams:",
    "  app: { servers: [127.0.0.1:8080] }",
    "",
  ].join("\n");
  await Deno.writeTextFile(`${tmp.path}/bad.yaml`, bad);
  const failed = await runGateway(["check", "--config", `${tmp.path}/bad.yaml`]);
  assert.equal(failed.code, 1);
  const file = `${tmp.path}/bad.yaml`;
  assert.deepEqual(failed.stderr.trim().split("\n"), [
    `${file}:6:45: servers[0].routes[0].request_headers.set.X-Client: unknown placeholder "{clinet_ip}"; did you mean "{client_ip}"?`,
    `${file}:6:60: servers[0].routes[0].request_headers.set.X-Forwarded-For: "X-Forwarded-For" is written by the gateway and cannot be changed by header rules`,
    `${file}:8:56: servers[0].routes[1].redirect.status: must be one of: 301, 302, 303, 307, 308`,
    `${file}:9:43: servers[0].routes[2].respond: cannot be combined with "upstream": a route has exactly one of upstream, redirect or respond`,
    `${file}: 4 problem(s); configuration NOT valid`,
  ]);
  const good = bad.replace("{clinet_ip}", "{client_ip}").replace(", X-Forwarded-For: x", "")
    .replace("status: 200", "status: 308").replace("upstream: app, respond", "respond");
  await Deno.writeTextFile(`${tmp.path}/good.yaml`, good);
  const passed = await runGateway(["check", "--config", `${tmp.path}/good.yaml`]);
  assert.equal(passed.code, 0, passed.stderr);
  assert.match(passed.stdout, /route \/ -> redirect 308 https:\/\/\{host\}\{uri\}/);
  assert.match(passed.stdout, /route = \/ping -> respond 200/);
});
