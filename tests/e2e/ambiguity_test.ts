/**
 * Places where wsgate and a backend could read the same request differently, end to end: bytes a
 * client sends after its Upgrade head (held until a 101, dropped otherwise), dot-segments in the
 * path, a Host with a trailing dot, header names with "_", and a repeated Origin.
 */
import assert from "node:assert/strict";
import { rawBackend, type RawPeer, switching } from "./_backends.ts";
import { readN } from "./_contract.ts";
import { eventually, startGateway, toYaml } from "./_harness.ts";
import { ByteReader, bytes, CRLF, text, TimeoutError, upgradeRequest, writeAll } from "./_wire.ts";
import { exchange } from "./_security.ts";

/** What reaches the backend after the head within `ms`, without answering anything. */
async function bytesWithin(peer: RawPeer, ms: number): Promise<string> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      if (!await peer.reader.fill(Math.max(1, deadline - Date.now()))) break;
    } catch (err) {
      if (!(err instanceof TimeoutError)) throw err;
    }
  }
  return text(peer.reader.take(peer.reader.buffered.length));
}

/** Routes `/admin/` (refused to everyone) and `/` (open) to one backend. */
const adminDenied = (backend: string) =>
  toYaml({
    servers: [{
      listen: ["127.0.0.1:0"],
      routes: [
        { path: "/admin/", upstream: "app", deny: ["0.0.0.0/0", "::/0"] },
        { path: "/", upstream: "app" },
      ],
    }],
    upstreams: { app: { servers: [backend] } },
  });

/** 101 to an upgrade, 200 to anything else. */
const switchOrOk = (peer: RawPeer) =>
  /^upgrade:/im.test(peer.head) ? peer.write(switching(peer.head)) : answerOk(peer);

const answerOk = (peer: RawPeer) => peer.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");

const SMUGGLED = ["GET /admin/secret HTTP/1.1", "Host: h", "X-Forwarded-For: 10.0.0.1"].join(CRLF) + CRLF +
  CRLF;

/** What the backend sends in the same write as its 101. */
const EARLY_SERVER = "early-server-bytes";

Deno.test("early data: bytes after an Upgrade head reach the backend only after its 101, and bytes after the 101 reach the client", async (t) => {
  /** Per upgrade: what the backend read after the head before answering, and after. */
  const seen: { before: string; after: string }[] = [];
  await using backend = rawBackend(async (peer) => {
    const before = await bytesWithin(peer, 400);
    if (peer.head.startsWith("GET /refuse")) {
      // A backend that refuses the upgrade but keeps the connection open for another request.
      await peer.write("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
      seen.push({ before, after: await bytesWithin(peer, 600) });
      return;
    }
    await peer.write(switching(peer.head) + EARLY_SERVER);
    seen.push({ before, after: await bytesWithin(peer, 600) });
  });
  await using gw = await startGateway({
    config: toYaml({
      servers: [{
        listen: ["127.0.0.1:0"],
        routes: [
          { path: "/admin/", upstream: "app", deny: ["0.0.0.0/0", "::/0"] },
          { path: "/", upstream: "app" },
        ],
      }],
      upstreams: { app: { servers: [backend.address], retries: 0 } },
    }),
  });

  await t.step("a refused upgrade: the smuggled request never reaches the backend", async () => {
    const outcome = await exchange(gw.port, upgradeRequest({ path: "/refuse" }) + SMUGGLED, {
      timeoutMs: 3_000,
    });
    assert.equal(outcome.response?.status, 401);
    assert.equal(outcome.closed, true, "the client connection is closed after a non-101 answer");
    assert.deepEqual(seen.at(-1), { before: "", after: "" });
    assert.equal(backend.heads.length, 1, "one request head at the backend");
  });

  await t.step("a 101: held bytes follow it, in order and unchanged, both ways", async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: gw.port });
    const reader = new ByteReader(conn);
    try {
      await writeAll(conn, bytes(upgradeRequest({ path: "/ws" }) + "early-frame-bytes")); // one write
      const head = await reader.readHead(5_000);
      assert.match(head ?? "", /^HTTP\/1\.1 101 /);
      assert.equal(text(await readN(reader, EARLY_SERVER.length)), EARLY_SERVER, "sent with the 101");
      await eventually(() => seen.length === 2, 5_000, "the backend read what followed its 101");
      assert.deepEqual(seen.at(-1), { before: "", after: "early-frame-bytes" });
    } finally {
      await reader.close();
    }
  });
  assert.deepEqual(backend.errors, []);
});

Deno.test("paths with dot-segments get 400 and reach no backend", async (t) => {
  await using backend = rawBackend(answerOk);
  await using gw = await startGateway({ config: adminDenied(backend.address) });
  const paths = [
    "/admin/..",
    "/admin/%2e%2e/",
    "/admin/.%2e/",
    "/admin/%2E%2e",
    "/public/../admin/x",
    "/public/%2e%2e/admin/x",
    "/public/./../admin/x",
    "/public/./x",
    "/public/..;/admin/",
    "/public%2f..%2fadmin/",
    "/public\\..\\admin/",
    "/public%5c..%5cadmin/",
  ];
  for (const path of paths) {
    for (const kind of ["plain", "upgrade"]) {
      await t.step(`${kind} ${path} -> 400`, async () => {
        const request = kind === "plain"
          ? `GET ${path} HTTP/1.1\r\nHost: h\r\n\r\n`
          : upgradeRequest({ path });
        const outcome = await exchange(gw.port, request, { timeoutMs: 3_000 });
        assert.equal(outcome.response?.status, 400);
        assert.equal(outcome.closed, true);
      });
    }
  }
  assert.equal(backend.heads.length, 0, "no request reached the backend");
  const refusals = () =>
    gw.records("reject").filter((r) => /dot-segment|backslash/.test(r.fields.reason ?? ""));
  await eventually(() => refusals().length === paths.length * 2, 3_000, "a reject record per request");
  await t.step("dots inside names still route", async () => {
    const outcome = await exchange(gw.port, "GET /files/a..b/.c HTTP/1.1\r\nHost: h\r\n\r\n", {
      timeoutMs: 3_000,
    });
    assert.equal(outcome.response?.status, 200);
  });
});

Deno.test("a Host with a trailing dot matches its server block (and its access rules)", async () => {
  await using backend = rawBackend(answerOk);
  await using gw = await startGateway({
    config: toYaml({
      servers: [
        {
          listen: ["127.0.0.1:0"],
          hosts: ["internal.example"],
          routes: [{ path: "/", upstream: "app", deny: ["127.0.0.0/8", "::1/128"] }],
        },
        { listen: ["127.0.0.1:0"], routes: [{ path: "/", upstream: "app" }] },
      ],
      upstreams: { app: { servers: [backend.address] } },
    }),
  });
  for (const host of ["internal.example", "internal.example.", "INTERNAL.example.:80"]) {
    const outcome = await exchange(gw.port, `GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`, { timeoutMs: 3_000 });
    assert.equal(outcome.response?.status, 403, host);
  }
  const other = await exchange(gw.port, "GET / HTTP/1.1\r\nHost: other.example\r\n\r\n", {
    timeoutMs: 3_000,
  });
  assert.equal(other.response?.status, 200, "the catch-all block still serves other names");
  assert.equal(backend.heads.length, 1);
});

Deno.test("header names with '_' are dropped before forwarding; a repeated Origin is refused", async (t) => {
  await using backend = rawBackend(switchOrOk);
  await using gw = await startGateway({
    config: toYaml({
      servers: [{
        listen: ["127.0.0.1:0"],
        routes: [
          { path: "/app/", upstream: "app", allow_origins: ["https://app.test"] },
          { path: "/", upstream: "app" },
        ],
      }],
      upstreams: { app: { servers: [backend.address] } },
    }),
  });
  const lookalikes: [string, string][] = [
    ["X_Forwarded_For", "6.6.6.6"],
    ["X-Real_IP", "6.6.6.6"],
    ["X_Forwarded_Proto", "https"],
    ["X-Forwarded_Host", "admin.internal"],
  ];
  await t.step("plain request", async () => {
    const head = lookalikes.map(([n, v]) => `${n}: ${v}`).join(CRLF);
    const outcome = await exchange(gw.port, `GET /x HTTP/1.1\r\nHost: h\r\n${head}\r\nX-Kept: 1\r\n\r\n`, {
      timeoutMs: 3_000,
    });
    assert.equal(outcome.response?.status, 200);
    const seen = backend.heads.at(-1)!;
    assert.doesNotMatch(seen, /_/, "no name with '_' reached the backend");
    assert.match(seen, /^X-Kept: 1$/m);
    assert.match(seen, /^X-Forwarded-For: 127\.0\.0\.1$/m);
  });
  await t.step("upgrade", async () => {
    const outcome = await exchange(gw.port, upgradeRequest({ path: "/x", headers: lookalikes }), {
      untilHead: true,
      timeoutMs: 3_000,
    });
    assert.equal(outcome.response?.status, 101);
    assert.doesNotMatch(backend.heads.at(-1)!, /^[^:\r\n]*_[^:\r\n]*:/m);
  });
  await t.step("two Origin headers -> 400, whichever comes first", async () => {
    const before = backend.heads.length;
    for (
      const origins of [["https://app.test", "https://evil.test"], ["https://evil.test", "https://app.test"]]
    ) {
      const headers: [string, string][] = origins.map((o, i) => [i === 0 ? "Origin" : "origin", o]);
      const outcome = await exchange(gw.port, upgradeRequest({ path: "/app/ws", headers }), {
        timeoutMs: 3_000,
      });
      assert.equal(outcome.response?.status, 400);
    }
    assert.equal(backend.heads.length, before);
    await gw.waitForLine(/reject .*Multiple origin headers/);
  });
});

Deno.test("paths a lenient backend reads as another route's take that route, or get 400", async (t) => {
  await using backend = rawBackend(answerOk);
  await using gw = await startGateway({ config: adminDenied(backend.address) });
  const cases: [path: string, status: number][] = [
    ["/admin\\secret", 400], // not a URI character; WHATWG URL parsers read it as "/"
    ["/admin%5csecret", 403], // decoded, a backslash routes as "/"
    ["/admin;/secret", 403], // Tomcat, Jetty and Spring serve /admin/secret
    ["/admin;jsessionid=x/secret", 403],
    ["/admin%3b/secret", 403],
    ["/x/%252e%252e/admin/secret", 400], // a backend that decodes twice sees ..
    ["/x/%c0%ae%c0%ae/admin/secret", 400], // overlong UTF-8 "."
    ["/x%0d%0aX-Injected:%201", 400],
    ["/public;v=1/x", 200],
  ];
  for (const [path, status] of cases) {
    await t.step(`${path} -> ${status}`, async () => {
      const outcome = await exchange(gw.port, `GET ${path} HTTP/1.1\r\nHost: h\r\n\r\n`, {
        timeoutMs: 3_000,
      });
      assert.equal(outcome.response?.status, status);
    });
  }
  assert.equal(backend.heads.length, 1, "only the last request reached the backend");
});

Deno.test("a Host with ',' or ';' is refused; Connection cannot remove the Origin allow_origins passed", async (t) => {
  await using backend = rawBackend(switchOrOk);
  await using gw = await startGateway({
    config: toYaml({
      servers: [{
        listen: ["127.0.0.1:0"],
        routes: [{ path: "/", upstream: "app", allow_origins: ["https://ok.example"] }],
      }],
      upstreams: { app: { servers: [backend.address] } },
    }),
  });
  await t.step("Host lists", async () => {
    for (const host of ["admin.example.com,evil", "admin.example.com;evil"]) {
      const outcome = await exchange(
        gw.port,
        upgradeRequest({ host, headers: [["Origin", "https://ok.example"]] }),
        {
          timeoutMs: 3_000,
        },
      );
      assert.equal(outcome.response?.status, 400, host);
    }
    assert.equal(backend.heads.length, 0);
  });
  await t.step("Connection: Upgrade, Origin", async () => {
    const headers: [string, string][] = [["Origin", "https://ok.example"], ["Connection", "Upgrade, Origin"]];
    const outcome = await exchange(gw.port, upgradeRequest({ headers }), {
      untilHead: true,
      timeoutMs: 3_000,
    });
    assert.equal(outcome.response?.status, 101);
    assert.match(backend.heads.at(-1)!, /^Origin: https:\/\/ok\.example$/m);
  });
});
