/**
 * auth.forward end to end with a real HTTP auth service (Deno.serve) and a raw TCP one for
 * answers no library would write: the subrequest's headers; a 2xx lets the request through with
 * copy_headers (replacing the client's); a 401 with its body and a 302 to a login page are
 * relayed as they are; 500 and an unreachable service are 502; a slow one 504; cached verdicts
 * are seen as fewer subrequests; huge, never-ending and header-injecting answers are refused;
 * jwt and forward on one route must both pass.
 */
import assert from "node:assert/strict";
import { deadPort, rawBackend, wsEchoBackend } from "./_backends.ts";
import { openNodeWs } from "./_clients.ts";
import { eventually, type Gateway, startGateway, tempDir, toYaml } from "./_harness.ts";
import { exchange } from "./_security.ts";
import { parseResponse, rawRequest, text, upgradeRequest } from "./_wire.ts";
import { assertNoTokenIn, makeKeys, sign } from "./_auth.ts";
import { metric, scrapeMetrics } from "./_ops.ts";

interface Seen {
  path: string;
  method: string;
  headers: Headers;
}

/** The auth service: what each path answers. */
function authService() {
  const seen: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const url = new URL(request.url);
    seen.push({ path: url.pathname, method: request.method, headers: request.headers });
    switch (url.pathname) {
      case "/allow":
      case "/cached":
        return new Response(null, { status: 200, headers: { "X-User-Id": "bob", "X-Not-Copied": "1" } });
      case "/deny":
        return new Response("please log in\n", {
          status: 401,
          headers: { "WWW-Authenticate": 'Basic realm="sso"' },
        });
      case "/login":
        return new Response(null, {
          status: 302,
          headers: { Location: "https://login.test/?next=/app", "Set-Cookie": "flow=1; Path=/" },
        });
      case "/broken":
        return new Response("oops", { status: 500 });
      case "/slow":
        await new Promise((r) => setTimeout(r, 3_000));
        return new Response(null, { status: 200 });
      case "/huge":
        return new Response("x".repeat(100 * 1024), { status: 403 });
      case "/trickle": {
        // A 200 whose body comes one byte at a time and never ends.
        let timer: ReturnType<typeof setInterval> | undefined;
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            timer = setInterval(() => controller.enqueue(new Uint8Array([0x61])), 50);
          },
          cancel() {
            clearInterval(timer);
          },
        });
        return new Response(body, { status: 200 });
      }
      case "/forever": {
        // A chunked body that never ends.
        let timer: ReturnType<typeof setInterval> | undefined;
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            timer = setInterval(() => controller.enqueue(new Uint8Array(1024).fill(0x61)), 5);
          },
          cancel() {
            clearInterval(timer);
          },
        });
        return new Response(body, { status: 401 });
      }
      default:
        return new Response("not found", { status: 404 });
    }
  });
  const port = (server.addr as Deno.NetAddr).port;
  return { seen, port, [Symbol.asyncDispose]: () => server.shutdown() };
}

async function handshake(gw: Gateway, path: string, headers: [string, string][] = []) {
  return parseResponse(await rawRequest(gw.port, upgradeRequest({ path, headers }), { timeoutMs: 10_000 }));
}

/** An upgrade whose answer head is read without waiting for the connection to end (a 101 stays open). */
async function answerHead(gw: Gateway, path: string, headers: [string, string][] = []) {
  const outcome = await exchange(gw.port, upgradeRequest({ path, headers }), { untilHead: true });
  assert.ok(outcome.response, "an answer head");
  return outcome.response;
}

Deno.test("auth.forward: a real auth service's verdicts, relayed denials, 502/504, the cache", async (t) => {
  await using service = authService();
  // Headers split over an obs-fold, a bare LF: a strict parser refuses the answer.
  await using rogue = rawBackend(async (peer) => {
    await peer.write("HTTP/1.1 200 OK\r\nX-User-Id: bob\r\n X-Admin: yes\r\nContent-Length: 0\r\n\r\n");
  });
  await using backend = await wsEchoBackend();
  const keys = await makeKeys();
  const service_ = `http://127.0.0.1:${service.port}`;
  const forward = (path: string, extra: Record<string, unknown> = {}) => ({
    forward: { url: `${service_}${path}`, copy_headers: ["X-User-Id"], timeout: "1s", ...extra },
  });
  const route = (path: string, auth: Record<string, unknown>) => ({ path, upstream: "app", auth });
  const config = toYaml({
    servers: [{
      listen: ["127.0.0.1:0"],
      routes: [
        route("/allow/", forward("/allow")),
        route("/deny/", forward("/deny")),
        route("/login/", forward("/login")),
        route("/broken/", forward("/broken")),
        route("/down/", { forward: { url: `http://127.0.0.1:${deadPort()}/x` } }),
        route("/slow/", forward("/slow", { timeout: "300ms" })),
        route("/huge/", forward("/huge")),
        route("/forever/", forward("/forever")),
        route("/trickle/", forward("/trickle", { timeout: "300ms" })),
        route("/rogue/", {
          forward: { url: `http://127.0.0.1:${rogue.port}/`, copy_headers: ["X-User-Id"] },
        }),
        route("/cached/", forward("/cached", { cache: "1m", pass_headers: ["Authorization"] })),
        route("/both/", {
          jwt: { keys: ["jwks.json"], algorithms: ["RS256"] },
          ...forward("/allow"),
        }),
        route("/both-claims/", {
          jwt: { keys: ["jwks.json"], algorithms: ["RS256"], claims_to_headers: { "X-Sub": "sub" } },
          ...forward("/allow"),
        }),
      ],
    }],
    upstreams: { app: { servers: [backend.address] } },
    admin: { listen: "127.0.0.1:0" },
  });
  await using gw = await startGateway({ config, files: keys.files });

  await t.step("2xx: through, X-User-Id copied over the client's, the subrequest described", async () => {
    await using ws = await openNodeWs(`ws://127.0.0.1:${gw.port}/allow/room?x=1`, {
      headers: { "X-User-Id": "forged", Authorization: "Bearer abc", Cookie: "sid=1" },
    });
    ws.send("ok");
    assert.equal(await ws.next(), "ok");
    const upstream = backend.requests.at(-1)!;
    assert.equal(upstream.headers.get("x-user-id"), "bob");
    assert.equal(upstream.headers.get("x-not-copied"), null);
    const sub = service.seen.at(-1)!;
    assert.equal(sub.method, "GET");
    assert.equal(sub.headers.get("authorization"), "Bearer abc");
    assert.equal(sub.headers.get("cookie"), "sid=1");
    assert.equal(sub.headers.get("x-forwarded-method"), "GET");
    assert.equal(sub.headers.get("x-forwarded-proto"), "http");
    assert.equal(sub.headers.get("x-forwarded-host"), `127.0.0.1:${gw.port}`);
    assert.equal(sub.headers.get("x-forwarded-uri"), "/allow/room?x=1");
    assert.equal(sub.headers.get("x-original-uri"), "/allow/room?x=1");
    assert.equal(sub.headers.get("x-forwarded-for"), "127.0.0.1");
    for (const name of ["upgrade", "sec-websocket-key", "sec-websocket-version"]) {
      assert.equal(sub.headers.get(name), null, name);
    }
  });

  await t.step(
    "the client cannot describe the request to the auth service, nor drop copied headers",
    async () => {
      const answer = await answerHead(gw, "/allow/private", [
        ["X-Original-URL", `http://127.0.0.1:${gw.port}/public/`],
        ["X-Original-Method", "HEAD"],
        ["Connection", "Upgrade, X-User-Id"],
      ]);
      assert.equal(answer.status, 101);
      const sub = service.seen.at(-1)!;
      assert.equal(sub.headers.get("x-original-url"), "http://127.0.0.1/allow/private");
      assert.equal(sub.headers.get("x-original-method"), "GET");
      assert.equal(backend.requests.at(-1)!.headers.get("x-user-id"), "bob");
    },
  );

  await t.step(
    "jwt first: the auth service sees the verified claims, never the client's copies",
    async () => {
      const token = await sign(keys.rsa, { sub: "alice" });
      const answer = await answerHead(gw, "/both-claims/", [
        ["Authorization", `Bearer ${token}`],
        ["X-Sub", "admin"],
      ]);
      assert.equal(answer.status, 101);
      assert.equal(service.seen.at(-1)!.headers.get("x-sub"), "alice");
      assert.equal(backend.requests.at(-1)!.headers.get("x-sub"), "alice");
    },
  );

  const before = backend.requests.length;
  await t.step("401 with its body and WWW-Authenticate, relayed as it is", async () => {
    const answer = await handshake(gw, "/deny/");
    assert.equal(answer.status, 401);
    assert.equal(answer.headers.get("www-authenticate"), 'Basic realm="sso"');
    assert.equal(text(answer.body), "please log in\n");
    assert.equal(answer.headers.get("connection"), "close");
  });
  await t.step("302 to a login page, with its cookie", async () => {
    const answer = await handshake(gw, "/login/");
    assert.equal(answer.status, 302);
    assert.equal(answer.headers.get("location"), "https://login.test/?next=/app");
    assert.equal(answer.headers.get("set-cookie"), "flow=1; Path=/");
  });
  for (
    const [path, status, reason] of [
      ["/broken/", 502, /answered 500/],
      ["/down/", 502, /cannot connect/],
      ["/slow/", 504, /no answer within 300 ms/],
      ["/huge/", 502, /body over 65536 bytes/],
      ["/forever/", 502, /body over 65536 bytes/],
      ["/trickle/", 504, /no answer within 300 ms/],
      ["/rogue/", 502, /malformed answer/],
    ] as const
  ) {
    await t.step(`${path}: ${status}`, async () => {
      const answer = await handshake(gw, path);
      assert.equal(answer.status, status);
      const logged = () =>
        gw.records("reject").some((r) =>
          r.fields.status === String(status) && reason.test(r.fields.reason ?? "")
        );
      await eventually(logged, 5_000, `reject ${reason.source}`).catch((err) => {
        throw new Error(`${err.message}: ${gw.records("reject").map((r) => r.fields.reason).join("; ")}`);
      });
    });
  }
  await t.step("plain HTTP on the route is checked too", async () => {
    const answer = parseResponse(await rawRequest(gw.port, "GET /deny/page HTTP/1.1\r\nHost: a\r\n\r\n"));
    assert.equal(answer.status, 401);
    assert.equal(text(answer.body), "please log in\n");
  });
  await t.step("no refused request reached the backend", () => assert.equal(backend.requests.length, before));

  await t.step("cache: one subrequest for the same credentials, another for new ones", async () => {
    const count = () => service.seen.filter((s) => s.path === "/cached").length;
    for (let i = 0; i < 3; i++) {
      await using _ws = await openNodeWs(`ws://127.0.0.1:${gw.port}/cached/`, {
        headers: { Authorization: "Bearer one", Cookie: `visit=${i}` },
      });
    }
    // pass_headers: [Authorization]: the cookie is neither sent nor part of the cache key.
    assert.equal(count(), 1);
    const sub = service.seen.findLast((s) => s.path === "/cached")!;
    assert.equal(sub.headers.get("authorization"), "Bearer one");
    assert.equal(sub.headers.get("cookie"), null);
    await using _ws = await openNodeWs(`ws://127.0.0.1:${gw.port}/cached/`, {
      headers: { Authorization: "Bearer two" },
    });
    assert.equal(count(), 2);
    assert.equal(backend.requests.at(-1)!.headers.get("x-user-id"), "bob");
  });

  await t.step("jwt and forward on one route: both must pass, jwt first", async () => {
    const subrequests = service.seen.length;
    assert.equal((await handshake(gw, "/both/")).status, 401);
    assert.equal(service.seen.length, subrequests, "no subrequest without a valid token");
    const token = await sign(keys.rsa);
    await using _ws = await openNodeWs(`ws://127.0.0.1:${gw.port}/both/`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    assert.equal(service.seen.length, subrequests + 1);
    assert.equal(backend.requests.at(-1)!.headers.get("x-user-id"), "bob");
  });
  await t.step("wsgate_auth_total counts ok, denied and error per route", async () => {
    const metrics = await scrapeMetrics(gw);
    const count = (route: string, result: string) => metric(metrics, "wsgate_auth_total", { route, result });
    assert.deepEqual(
      [
        count("/allow/", "ok"),
        count("/deny/", "denied"),
        count("/login/", "denied"),
        count("/broken/", "error"),
      ],
      [2, 2, 1, 1],
    );
    assert.deepEqual([count("/slow/", "error"), count("/cached/", "ok")], [1, 4]);
  });
  await eventually(() => gw.records("access").length > 10, 5_000, "access records");
  assertNoTokenIn(gw);
});

Deno.test("auth.forward over a unix socket: the verdict and copy_headers, the request described", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.path}/auth.sock`;
  const seen: Headers[] = [];
  const server = Deno.serve({ path, onListen() {} }, (request) => {
    seen.push(request.headers);
    const ok = request.headers.get("authorization") === "Bearer letmein";
    return new Response(ok ? null : "no\n", {
      status: ok ? 204 : 403,
      headers: { "X-User-Id": "unix-user" },
    });
  });
  try {
    await using backend = await wsEchoBackend();
    await using gw = await startGateway({
      config: toYaml({
        servers: [{
          listen: ["127.0.0.1:0"],
          routes: [{
            path: "/",
            upstream: "app",
            auth: { forward: { url: `unix:${path}`, copy_headers: ["X-User-Id"] } },
          }],
        }],
        upstreams: { app: { servers: [backend.address] } },
      }),
    });
    const denied = await handshake(gw, "/", [["Authorization", "Bearer nope"]]);
    assert.equal(denied.status, 403);
    assert.equal(text(denied.body), "no\n");
    await using _ws = await openNodeWs(`ws://127.0.0.1:${gw.port}/`, {
      headers: { Authorization: "Bearer letmein" },
    });
    assert.equal(backend.requests.length, 1);
    assert.equal(backend.requests[0]!.headers.get("x-user-id"), "unix-user");
    assert.equal(seen.at(-1)!.get("x-original-uri"), "/");
  } finally {
    await server.shutdown();
  }
});

Deno.test("auth.forward keeps its connection to the auth service, and replaces one the service closed", async (t) => {
  const ports: number[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (_request, info) => {
    ports.push(info.remoteAddr.port);
    return new Response(null, { status: 200, headers: { "X-User-Id": "kept" } });
  });
  // One answer per connection, then a close, or an idle 408 and a close (as servers do when a
  // kept connection times out).
  let idle408: () => void = () => {};
  await using closing = rawBackend(async (peer) => {
    await peer.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-User-Id: once\r\n\r\n");
  });
  await using timingOut = rawBackend(async (peer) => {
    await peer.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-User-Id: t\r\n\r\n");
    await new Promise((r) => setTimeout(r, 50));
    await peer.write("HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    idle408();
  });
  try {
    await using backend = await wsEchoBackend();
    const route = (path: string, port: number) => ({
      path,
      upstream: "app",
      auth: { forward: { url: `http://127.0.0.1:${port}/`, copy_headers: ["X-User-Id"] } },
    });
    await using gw = await startGateway({
      config: toYaml({
        servers: [{
          listen: ["127.0.0.1:0"],
          routes: [
            route("/kept/", (server.addr as Deno.NetAddr).port),
            route("/closing/", closing.port),
            route("/timing-out/", timingOut.port),
          ],
        }],
        upstreams: { app: { servers: [backend.address] } },
      }),
    });
    const open = async (path: string) => {
      await using ws = await openNodeWs(`ws://127.0.0.1:${gw.port}${path}`);
      ws.send("x");
      assert.equal(await ws.next(), "x");
    };
    await t.step("sequential handshakes: one connection to the service", async () => {
      for (let i = 0; i < 4; i++) await open("/kept/");
      assert.equal(ports.length, 4);
      assert.equal(new Set(ports).size, 1, JSON.stringify(ports));
    });
    await t.step("a kept connection the service closed: the GET goes out again on a new one", async () => {
      for (let i = 0; i < 3; i++) await open("/closing/");
      assert.equal(closing.heads.length, 3);
      assert.equal(backend.requests.at(-1)!.headers.get("x-user-id"), "once");
    });
    await t.step("a 408 on a kept connection is not the answer: asked again on a new one", async () => {
      const sent = new Promise<void>((resolve) => idle408 = resolve);
      await open("/timing-out/");
      await sent;
      await open("/timing-out/");
      assert.equal(timingOut.heads.length, 2);
      assert.equal(backend.requests.at(-1)!.headers.get("x-user-id"), "t");
    });
    assert.deepEqual([closing.errors, timingOut.errors], [[], []]);
  } finally {
    await server.shutdown();
  }
});
