/**
 * auth.jwt end to end (DESIGN §3b), tokens signed by jose at test time: RS256 from a JWKS file,
 * ES256 from a PEM, HS256 from a secret file, EdDSA; each refusal is a 401 with its exact
 * WWW-Authenticate, a reject record with its reason, and never a backend connection; each token
 * source; a token in the subprotocol list next to a negotiated subprotocol; the token stripped;
 * claims mapped onto headers (replacing the client's); close_at_expiry on tracked and raw
 * tunnels; and no token anywhere in the gateway's output.
 */
import assert from "node:assert/strict";
import { eventually, type Gateway, startGateway, toYaml } from "./_harness.ts";
import { type Backend, wsEchoBackend } from "./_backends.ts";
import { openNodeWs, RawWs } from "./_clients.ts";
import { exchange } from "./_security.ts";
import { parseResponse, rawRequest, upgradeRequest } from "./_wire.ts";
import { metric, scrapeMetrics } from "./_ops.ts";
import {
  assertNoTokenIn,
  AUDIENCE,
  hsKey,
  ISSUER,
  makeKeys,
  protocolEntry,
  remember,
  sign,
  type TestKeys,
  unsigned,
} from "./_auth.ts";

const K8S = "base64url.bearer.authorization.k8s.io.";

function jwtAuth(extra: Record<string, unknown> = {}) {
  return {
    jwt: {
      keys: ["jwks.json", "ec.pub.pem"],
      secret_file: "hs.key",
      algorithms: ["RS256", "ES256", "HS256", "EdDSA"],
      issuer: ISSUER,
      audience: [AUDIENCE],
      token_from: ["header:Authorization", "query:access_token", "cookie:token", `protocol:${K8S}`],
      claims_to_headers: { "X-User-Id": "sub", "X-Roles": "roles" },
      ...extra,
    },
  };
}

async function start(keys: TestKeys, backend: Backend): Promise<Gateway> {
  const config = toYaml({
    servers: [{
      listen: ["127.0.0.1:0"],
      routes: [
        {
          path: "/tracked/",
          upstream: "app",
          websocket: { track_frames: true },
          auth: jwtAuth({ close_at_expiry: true }),
        },
        { path: "/raw/", upstream: "app", auth: jwtAuth({ close_at_expiry: true }) },
        { path: "/keep/", upstream: "app", auth: jwtAuth({ strip_token: false }) },
        {
          path: "/query-first/",
          upstream: "app",
          auth: jwtAuth({ token_from: ["query:access_token", "header:Authorization"] }),
        },
        {
          path: "/rules/",
          upstream: "app",
          auth: jwtAuth(),
          request_headers: { set: { "X-Sub": "{jwt.sub}", "X-Roles-Seen": "{jwt.roles}", "X-Uri": "{uri}" } },
        },
        {
          path: "/tenant/",
          upstream: "app",
          auth: jwtAuth(),
          request_headers: { set: { Host: "{jwt.tenant}" } },
        },
        { path: "/", upstream: "app", auth: jwtAuth() },
      ],
    }],
    upstreams: { app: { servers: [backend.address] } },
    admin: { listen: "127.0.0.1:0" },
  });
  return await startGateway({ config, files: keys.files });
}

/** One handshake written by hand; the answer parsed. */
async function handshake(gw: Gateway, path: string, headers: [string, string][] = []) {
  return parseResponse(await rawRequest(gw.port, upgradeRequest({ path, headers })));
}

/** An upgrade whose answer head is read without waiting for the connection to end (a 101 stays open). */
async function answerHead(gw: Gateway, path: string, headers: [string, string][] = []) {
  const outcome = await exchange(gw.port, upgradeRequest({ path, headers }), { untilHead: true });
  assert.ok(outcome.response, "an answer head");
  return outcome.response;
}

Deno.test("auth.jwt: valid tokens of every key type pass, with claims as headers; every bad one is a 401 that never reaches the backend", async (t) => {
  const keys = await makeKeys();
  await using backend = await wsEchoBackend();
  await using gw = await start(keys, backend);

  await t.step("RS256 (JWKS file), ES256 (PEM), HS256 (secret file), EdDSA (JWKS file) pass", async () => {
    for (const key of [keys.rsa, keys.ec, keys.hs, keys.ed]) {
      const token = await sign(key, { sub: `user-${key.alg}`, roles: ["a", "b"] });
      await using ws = await openNodeWs(`ws://127.0.0.1:${gw.port}/chat`, {
        headers: { Authorization: `Bearer ${token}`, "X-User-Id": "forged", "x-roles": "admin" },
      });
      ws.send("hi");
      assert.deepEqual(await ws.next(), "hi");
      const seen = backend.requests.at(-1)!;
      assert.deepEqual(seen.headers.get("x-user-id"), `user-${key.alg}`, key.alg);
      assert.deepEqual(seen.headers.get("x-roles"), "a,b");
      assert.deepEqual(seen.rawHeaders.filter(([n]) => /^x-user-id$/i.test(n)).length, 1);
    }
  });

  await t.step(
    "a client naming the claim headers in Connection cannot take them away (hop-by-hop)",
    async () => {
      const token = await sign(keys.rsa, { sub: "alice", roles: ["r"] });
      const answer = await answerHead(gw, "/chat", [
        ["Authorization", `Bearer ${token}`],
        ["Connection", "Upgrade, X-User-Id, X-Roles"],
      ]);
      assert.equal(answer.status, 101);
      const seen = backend.requests.at(-1)!;
      assert.deepEqual([seen.headers.get("x-user-id"), seen.headers.get("x-roles")], ["alice", "r"]);
    },
  );

  await t.step("a claim absent from the token still removes the client's header", async () => {
    const token = await sign(keys.rsa, {});
    await using _ws = await openNodeWs(`ws://127.0.0.1:${gw.port}/`, {
      headers: { Authorization: `Bearer ${token}`, "X-Roles": "admin" },
    });
    assert.deepEqual(backend.requests.at(-1)!.headers.get("x-roles"), null);
  });

  const before = backend.requests.length;
  const cases: { name: string; headers: [string, string][]; www: string; reason: RegExp; result: string }[] =
    [
      {
        name: "missing",
        headers: [],
        www: 'Bearer realm="wsgate"',
        reason: /^jwt: no token/,
        result: "missing",
      },
      {
        name: "bad signature",
        headers: [["Authorization", `Bearer ${await tamper(await sign(keys.rsa))}`]],
        www: 'Bearer error="invalid_token"',
        reason: /^jwt: bad signature/,
        result: "invalid",
      },
      {
        name: "alg none",
        headers: [["Authorization", `Bearer ${unsigned()}`]],
        www: 'Bearer error="invalid_token"',
        reason: /^jwt: algorithm not allowed/,
        result: "invalid",
      },
      {
        name: "algorithm confusion (HS256 signed with the RSA public key PEM)",
        headers: [["Authorization", `Bearer ${await sign(hsKey(keys.rsaPublicPem))}`]],
        www: 'Bearer error="invalid_token"',
        reason: /^jwt: bad signature/,
        result: "invalid",
      },
      {
        name: "expired",
        headers: [["Authorization", `Bearer ${await sign(keys.ec, {}, { expiresIn: -60 })}`]],
        www: 'Bearer error="invalid_token"',
        reason: /^jwt: token expired/,
        result: "expired",
      },
      {
        name: "not yet valid",
        headers: [["Authorization", `Bearer ${await sign(keys.ec, {}, { notBeforeIn: 600 })}`]],
        www: 'Bearer error="invalid_token"',
        reason: /^jwt: token not yet valid/,
        result: "invalid",
      },
      {
        name: "wrong issuer",
        headers: [["Authorization", `Bearer ${await sign(keys.rsa, {}, { issuer: "https://evil.test" })}`]],
        www: 'Bearer error="invalid_token"',
        reason: /^jwt: wrong issuer/,
        result: "invalid",
      },
      {
        name: "wrong audience",
        headers: [["Authorization", `Bearer ${await sign(keys.rsa, {}, { audience: "billing" })}`]],
        www: 'Bearer error="invalid_token"',
        reason: /^jwt: wrong audience/,
        result: "invalid",
      },
    ];
  for (const c of cases) {
    await t.step(`${c.name}: 401, ${c.www}`, async () => {
      const rejects = gw.records("reject").length;
      const answer = await handshake(gw, "/", c.headers);
      assert.deepEqual(answer.status, 401);
      assert.deepEqual(answer.headers.get("www-authenticate"), c.www);
      assert.deepEqual(answer.headers.get("connection"), "close");
      await eventually(() => gw.records("reject").length > rejects, 5_000, "reject record");
      const reject = gw.records("reject").at(-1)!;
      assert.deepEqual(reject.fields.status, "401");
      assert.match(reject.fields.reason!, c.reason);
    });
  }
  await t.step("plain HTTP on the route is checked too", async () => {
    const answer = parseResponse(await rawRequest(gw.port, "GET /page HTTP/1.1\r\nHost: a\r\n\r\n"));
    assert.deepEqual(answer.status, 401);
    assert.deepEqual(answer.headers.get("www-authenticate"), 'Bearer realm="wsgate"');
  });
  await t.step("none of them reached the backend", () => assert.deepEqual(backend.requests.length, before));

  await t.step("wsgate_auth_total counts each result", async () => {
    const metrics = await scrapeMetrics(gw);
    const count = (result: string) => metric(metrics, "wsgate_auth_total", { route: "/", result });
    assert.deepEqual([count("ok"), count("missing"), count("expired"), count("invalid")], [6, 2, 1, 6]);
  });
  assertNoTokenIn(gw);
});

/** The token with one character of its signature changed. */
function tamper(token: string): string {
  const last = token.at(-2) === "A" ? "B" : "A";
  return remember(`${token.slice(0, -2)}${last}${token.at(-1)}`);
}

Deno.test("auth.jwt: a Host rule that renders empty refuses the request instead of sending the client's Host", async () => {
  const keys = await makeKeys();
  await using backend = await wsEchoBackend();
  await using gw = await start(keys, backend);
  const withTenant = await answerHead(gw, "/tenant/", [
    ["Host", "other-tenant"],
    ["Authorization", `Bearer ${await sign(keys.rsa, { sub: "a", tenant: "acme" })}`],
  ]);
  assert.equal(withTenant.status, 101);
  assert.equal(backend.requests.at(-1)!.headers.get("host"), "acme");
  const before = backend.requests.length;
  const without = await answerHead(gw, "/tenant/", [
    ["Host", "other-tenant"],
    ["Authorization", `Bearer ${await sign(keys.rsa, { sub: "a" })}`],
  ]);
  assert.equal(without.status, 500);
  assert.equal(backend.requests.length, before, "never reached the backend");
  assert.match((await gw.waitForEvent("reject", { status: "500" })).fields.reason ?? "", /Host rule/);
});

Deno.test("auth.jwt: each token source, stripped before the backend; the subprotocol entry beside a negotiated subprotocol", async (t) => {
  const keys = await makeKeys();
  await using backend = await wsEchoBackend({
    handleProtocols: (offered) => offered.includes("chat.v1") ? "chat.v1" : false,
  });
  await using gw = await start(keys, backend);
  const url = (path: string) => `ws://127.0.0.1:${gw.port}${path}`;

  await t.step("query: the parameter is removed, the others kept byte for byte", async () => {
    const token = await sign(keys.rsa, { sub: "q" });
    await using _ws = await openNodeWs(url(`/x?a=1&access_token=${token}&b=%2F`));
    const seen = backend.requests.at(-1)!;
    assert.deepEqual(seen.url, "/x?a=1&b=%2F");
    assert.deepEqual(seen.headers.get("x-user-id"), "q");
  });
  await t.step("strip_token: false leaves the query and the subprotocol entry to the backend", async () => {
    const token = await sign(keys.rsa, { sub: "k" });
    const entry = protocolEntry(token);
    await using ws = await openNodeWs(url(`/keep/?access_token=${token}`), { protocols: [entry, "chat.v1"] });
    assert.equal(ws.protocol, "chat.v1");
    const seen = backend.requests.at(-1)!;
    assert.equal(seen.url, `/keep/?access_token=${token}`);
    assert.equal(seen.headers.get("sec-websocket-protocol"), `${entry},chat.v1`);
  });
  await t.step(
    "{jwt.CLAIM} placeholders in header rules render the verified claims; {uri} has no token",
    async () => {
      const token = await sign(keys.ec, { sub: "placeholder", roles: ["x", "y"] });
      await using _ws = await openNodeWs(url(`/rules/?a=1&access_token=${token}`), {
        headers: { "X-Sub": "forged" },
      });
      const seen = backend.requests.at(-1)!;
      assert.equal(seen.headers.get("x-sub"), "placeholder");
      assert.equal(seen.headers.get("x-roles-seen"), "x,y");
      assert.equal(seen.headers.get("x-uri"), "/rules/?a=1");
    },
  );
  await t.step("cookie", async () => {
    const token = await sign(keys.ec, { sub: "c" });
    await using _ws = await openNodeWs(url("/"), { headers: { Cookie: `theme=dark; token=${token}` } });
    assert.deepEqual(backend.requests.at(-1)!.headers.get("x-user-id"), "c");
  });
  await t.step(
    "subprotocol entry: the backend sees the list without it, the client gets chat.v1 in the 101",
    async () => {
      const token = await sign(keys.ed, { sub: "p" });
      await using ws = await openNodeWs(url("/"), { protocols: [protocolEntry(token), "chat.v1"] });
      assert.deepEqual(ws.protocol, "chat.v1");
      const seen = backend.requests.at(-1)!;
      assert.deepEqual(seen.headers.get("sec-websocket-protocol"), "chat.v1");
      assert.deepEqual(seen.headers.get("x-user-id"), "p");
      ws.send("over the tunnel");
      assert.deepEqual(await ws.next(), "over the tunnel");
    },
  );
  await t.step(
    "two tokens in one source, or different ones in a header and a cookie, are refused",
    async () => {
      const a = await sign(keys.rsa);
      const b = await sign(keys.rsa, { sub: "mallory" });
      for (
        const headers of [[["Cookie", `token=${a}; token=${b}`]], [["Authorization", `Bearer ${a}`], [
          "Authorization",
          `Bearer ${b}`,
        ]]] as [string, string][][]
      ) {
        const answer = await handshake(gw, "/", headers);
        assert.deepEqual(answer.status, 401);
      }
      assert.deepEqual((await handshake(gw, `/?access_token=${a}&access_token=${b}`)).status, 401);
      assert.deepEqual((await handshake(gw, `/?access_token=${a}&access%5Ftoken=${b}`)).status, 401);
      // A valid header next to another token in a cookie the backend would also get.
      assert.deepEqual(
        (await handshake(gw, "/", [["Authorization", `Bearer ${a}`], ["Cookie", `token=${b}`]])).status,
        401,
      );
    },
  );
  await t.step("an unverified token in another source is stripped as well", async () => {
    const good = await sign(keys.rsa, { sub: "h" });
    const other = remember("not.a-verified.token");
    await using _ws = await openNodeWs(url(`/y?access_token=${other}`), {
      headers: { Authorization: `Bearer ${good}` },
      protocols: [`${K8S}${btoa(other).replace(/=+$/, "")}`, "chat.v1"],
    });
    const seen = backend.requests.at(-1)!;
    assert.deepEqual(seen.url, "/y");
    assert.deepEqual(seen.headers.get("sec-websocket-protocol"), "chat.v1");
  });
  await t.step(
    "an open tunnel opened with a query token: /tunnels.json, /status and /metrics show no token",
    async () => {
      const token = await sign(keys.rsa, { sub: "status" });
      await using ws = await openNodeWs(url(`/tracked/?access_token=${token}`));
      ws.send("x");
      assert.equal(await ws.next(), "x");
      const pages = await Promise.all(
        ["/tunnels.json", "/status", "/status.json", "/metrics"].map(async (path) => {
          const answer = await gw.admin("GET", path);
          assert.equal(answer.status, 200, path);
          return new TextDecoder().decode(answer.body);
        }),
      );
      assert.equal(JSON.parse(pages[0]!).tunnels[0].route, "/tracked/");
      assertNoTokenIn(gw, pages);
    },
  );
  await t.step("a refused request line quoting its query logs no token (400s before any route)", async () => {
    const token = await sign(keys.rsa, { sub: "dots" });
    for (
      const target of [
        `/a/../b?access_token=${token}`,
        `/a?access_token=${token}\x7f`,
        `/%zz?access_token=${token}`,
      ]
    ) {
      const answer = parseResponse(await rawRequest(gw.port, `GET ${target} HTTP/1.1\r\nHost: a\r\n\r\n`));
      assert.equal(answer.status, 400, target);
    }
    await eventually(
      () => gw.records("reject").filter((r) => r.fields.status === "400").length >= 3,
      5_000,
      "rejects",
    );
  });
  await t.step("the access record carries the path with access_token=REDACTED", async () => {
    await eventually(
      () => gw.records("access").some((r) => r.fields.path?.includes("REDACTED")),
      5_000,
      "access",
    );
    const paths = gw.records("access").map((r) => r.fields.path ?? "");
    assert(paths.includes("/x?a=1&access_token=REDACTED&b=%2F"), paths.join("\n"));
  });
  assertNoTokenIn(gw);
});

Deno.test("auth.jwt: token spellings a lenient backend reads (Bearer<TAB>, ';' in the query, names in any case) are checked, stripped or refused", async (t) => {
  const keys = await makeKeys();
  await using backend = await wsEchoBackend();
  await using gw = await start(keys, backend);
  const url = (path: string) => `ws://127.0.0.1:${gw.port}${path}`;
  const good = await sign(keys.rsa, { sub: "good" });
  const forged = unsigned({ sub: "mallory" });

  /** A refused handshake: 401 invalid_token, its reject record, no backend connection. */
  async function refused(path: string, headers: [string, string][], reason: RegExp) {
    const before = backend.requests.length;
    const rejects = gw.records("reject").length;
    const answer = await handshake(gw, path, headers);
    assert.equal(answer.status, 401, path);
    assert.equal(answer.headers.get("www-authenticate"), 'Bearer error="invalid_token"');
    await eventually(() => gw.records("reject").length > rejects, 5_000, "reject record");
    assert.match(gw.records("reject").at(-1)!.fields.reason!, reason);
    assert.equal(backend.requests.length, before, "the backend was not contacted");
  }

  const bearers = ["Bearer\t", "bearer ", "BEARER ", "Bearer    "];
  await t.step(
    "a forged Authorization in any Bearer spelling beside a valid query token is refused",
    async () => {
      for (const scheme of bearers) {
        const headers: [string, string][] = [["Authorization", `${scheme}${forged}`]];
        // Checked first, it fails verification; checked second, it differs from the query's.
        await refused(
          `/?access_token=${good}`,
          headers,
          /^jwt: algorithm not allowed \(header:Authorization\)/,
        );
        await refused(
          `/query-first/?access_token=${good}`,
          headers,
          /^jwt: different tokens in query:access_token and header:Authorization$/,
        );
      }
    },
  );
  await t.step("the same token in both: accepted, the query one stripped", async () => {
    await using _ws = await openNodeWs(url(`/query-first/?a=1&access_token=${good}`), {
      headers: { Authorization: `Bearer\t${good}` },
    });
    const seen = backend.requests.at(-1)!;
    assert.equal(seen.url, "/query-first/?a=1");
    assert.equal(seen.headers.get("x-user-id"), "good");
  });
  await t.step("a token after ';' is stripped, or refused without strip_token", async () => {
    await using _ws = await openNodeWs(url(`/x?a=1;access_token=${forged}&b=2`), {
      headers: { Authorization: `Bearer ${good}` },
    });
    assert.equal(backend.requests.at(-1)!.url, "/x?a=1&b=2");
    await refused(
      `/keep/?a=1;access_token=${forged}`,
      [["Authorization", `Bearer ${good}`]],
      /^jwt: different tokens in header:Authorization and query:access_token$/,
    );
  });
  await t.step("a query name in another case is stripped, or two of them refused", async () => {
    await using _ws = await openNodeWs(url(`/x?ACCESS_TOKEN=${forged}&a=1`), {
      headers: { Authorization: `Bearer ${good}` },
    });
    assert.equal(backend.requests.at(-1)!.url, "/x?a=1");
    await refused(
      `/?access_token=${good}&ACCESS_TOKEN=${forged}`,
      [],
      /^jwt: more than one token in query:access_token$/,
    );
  });
  await t.step("every record carrying a path has those parameters REDACTED", async () => {
    const expected = [
      "/x?a=1;access_token=REDACTED&b=2",
      "/keep/?a=1;access_token=REDACTED",
      "/x?ACCESS_TOKEN=REDACTED&a=1",
      "/?access_token=REDACTED&ACCESS_TOKEN=REDACTED",
    ];
    const paths = () => [...gw.records("access"), ...gw.records("reject")].map((r) => r.fields.path ?? "");
    await eventually(() => expected.every((path) => paths().includes(path)), 5_000, "the redacted paths");
  });
  assertNoTokenIn(gw);
});

Deno.test("auth.jwt close_at_expiry: a tracked tunnel gets Close 1008 and the backend is closed; a raw one is cut", async (t) => {
  const keys = await makeKeys();
  await using backend = await wsEchoBackend();
  await using gw = await start(keys, backend);

  await t.step("tracked: Close 1008 'token expired' to both sides", async () => {
    const token = await sign(keys.rsa, {}, { expiresIn: 2 });
    await using ws = await openNodeWs(`ws://127.0.0.1:${gw.port}/tracked/`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    ws.send("still valid");
    assert.deepEqual(await ws.next(), "still valid");
    const closed = await ws.closed;
    assert.deepEqual(closed, { code: 1008, reason: "token expired" });
    await eventually(() => backend.closes.some((c) => c.code === 1008), 5_000, "backend got Close 1008");
    const access = await gw.waitForEvent("access", { route: "/tracked/", reason: "token_expired" });
    assert.deepEqual(access.fields.closed_by, "proxy");
  });
  await t.step("raw: the TCP connection is closed", async () => {
    const token = await sign(keys.ec, {}, { expiresIn: 2 });
    await using ws = await openNodeWs(`ws://127.0.0.1:${gw.port}/raw/`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    const closed = await ws.closed;
    assert.deepEqual(closed.code, 1006);
    const access = await gw.waitForEvent("access", { route: "/raw/", reason: "token_expired" });
    assert.deepEqual(access.fields.closed_by, "proxy");
  });
  assertNoTokenIn(gw);
});

Deno.test("auth.jwt: key files are re-read on reload (a rotated PEM and secret apply, the old ones stop)", async () => {
  const before = await makeKeys();
  const after = await makeKeys();
  await using backend = await wsEchoBackend();
  await using gw = await start(before, backend);
  const status = async (token: string) => {
    const request = upgradeRequest({ path: "/", headers: [["Authorization", `Bearer ${token}`]] });
    await using ws = await RawWs.open(gw.port, { request });
    return ws.response.status;
  };
  assert.equal(await status(await sign(before.ec)), 101);
  assert.equal(await status(await sign(after.ec)), 401);
  for (const name of ["ec.pub.pem", "hs.key"]) {
    await Deno.writeTextFile(`${gw.dir}/${name}`, after.files[name]!);
  }
  assert.equal((await gw.admin("POST", "/reload")).status, 200);
  await gw.waitForEvent("reloaded");
  assert.equal(await status(await sign(after.ec)), 101);
  assert.equal(await status(await sign(after.hs)), 101);
  assert.equal(await status(await sign(before.ec)), 401);
  assert.equal(await status(await sign(before.hs)), 401);
  assertNoTokenIn(gw);
});
