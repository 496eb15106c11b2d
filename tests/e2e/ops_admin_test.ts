/**
 * The admin listener with real traffic: Prometheus numbers, draining an upstream server, log ids;
 * and as a target of attacks (DESIGN §3e): cross-site POSTs, rebound Host names, no token, idle sockets.
 */
import assert from "node:assert/strict";
import { type Backend, wsEchoBackend } from "./_backends.ts";
import { openNodeWs, RawWs } from "./_clients.ts";
import { eventually, type Gateway, oneRouteConfig, runGateway, startGateway, tempDir } from "./_harness.ts";
import { EchoLoop, metric, progress, scrapeMetrics, viaWsClient } from "./_ops.ts";
import {
  ByteReader,
  Opcode,
  parseResponse,
  PY_READ_HEAD,
  rawRequest,
  text,
  upgradeRequest,
} from "./_wire.ts";

const ADMIN = { admin: { listen: "127.0.0.1:0" } };

/** Frame size on the wire for a payload under 126 bytes: 2 head bytes, plus the mask from a client. */
const frameSize = (payload: number, masked: boolean) => 2 + (masked ? 4 : 0) + payload;

/** A backend that answers each upgrade with a 101 and resets the connection at once (SO_LINGER 0):
 * Deno cannot send a reset, so it is Python's. Prints its port, serves `count` connections. */
const RESETTING_BACKEND = String.raw`
import base64, hashlib, socket, struct, sys
${PY_READ_HEAD}
count = int(sys.argv[1])
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(64)
print(server.getsockname()[1], flush=True)
for _ in range(count):
    conn, _ = server.accept()
    head = read_head(conn)
    key = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key:")]
    accept = base64.b64encode(hashlib.sha1(key[0] + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
`;

Deno.test("admin: a tunnel whose early bytes cannot reach the backend (reset after its 101) leaves no open-tunnel gauge behind", async () => {
  const attempts = 10;
  const backend = new Deno.Command("python3", {
    args: ["-c", RESETTING_BACKEND, String(attempts)],
    stdout: "piped",
    signal: AbortSignal.timeout(30_000),
  }).spawn();
  const lines = backend.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const port = Number((await lines.read()).value?.trim());
  const address = `127.0.0.1:${port}`;
  try {
    await using gw = await startGateway({ config: oneRouteConfig([address], { top: ADMIN }) });
    // The client's first frames come with its head: the gateway writes them once the 101 is relayed.
    const early = new Uint8Array(50_000).fill(0x82);
    for (let i = 0; i < attempts; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: gw.port });
      const head = new TextEncoder().encode(upgradeRequest());
      const sent = new Uint8Array(head.length + early.length);
      sent.set(head);
      sent.set(early, head.length);
      await conn.write(sent).catch(() => 0);
      const sink = new Uint8Array(4096);
      while (await conn.read(sink).catch(() => null) !== null) { /* until the gateway closes it */ }
      conn.close();
    }
    await eventually(
      async () => {
        const families = await scrapeMetrics(gw);
        return metric(families, "wsgate_active_tunnels", { route: "/" }) === 0 &&
          metric(families, "wsgate_upstream_active_tunnels", { upstream: "app", server: address }) === 0;
      },
      5_000,
      "the open-tunnel gauges back to 0",
    );
  } finally {
    await lines.cancel();
    try {
      backend.kill();
    } catch { /* it served its connections and exited */ }
    await backend.status;
  }
});

Deno.test("admin: /metrics parses as Prometheus text and counts what the test did", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({ config: oneRouteConfig([backend.address], { top: ADMIN }) });
  const clients = await Promise.all([0, 1, 2].map((i) => RawWs.open(gw.port, { path: `/m${i}` })));
  let up = 0;
  let down = 0;
  try {
    for (const [i, client] of clients.entries()) {
      for (let n = 0; n <= i; n++) {
        const message = `client ${i} message ${n}`;
        await client.sendText(message);
        up += frameSize(message.length, true);
        const echo = await client.next();
        assert.equal(echo?.opcode, Opcode.text);
        assert.equal(text(echo.payload), message);
        down += frameSize(echo.payload.length, false);
      }
    }
    const bad = [
      upgradeRequest({ headers: [["Sec-WebSocket-Key", "not base64 of 16 bytes"]] }),
      "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
    ];
    for (const request of bad) assert.match(text(await rawRequest(gw.port, request)), /^HTTP\/1\.1 400 /);

    const open = await scrapeMetrics(gw);
    assert.equal(metric(open, "wsgate_active_tunnels", { route: "/" }), 3, "the gauge counts open tunnels");
    assert.equal(
      metric(open, "wsgate_upstream_active_tunnels", { upstream: "app", server: backend.address }),
      3,
    );
    // Long-lived tunnels count their bytes as they go, not only when they close.
    assert.equal(metric(open, "wsgate_bytes_total", { direction: "up" }), up, "live bytes up");
    assert.equal(metric(open, "wsgate_bytes_total", { direction: "down" }), down, "live bytes down");
  } finally {
    for (const client of clients) {
      await client.closeWrite();
      down += (await client.reader.readToEnd(5_000)).length;
      await client[Symbol.asyncDispose]();
    }
  }
  const access = await Promise.all([0, 1, 2].map((i) => gw.waitForEvent("access", { path: `/m${i}` })));
  const logged = (key: string) => access.reduce((n, r) => n + Number(r.fields[key]), 0);
  assert.equal(logged("up_bytes"), up, "the access log counts what was sent");
  assert.equal(logged("down_bytes"), down, "the access log counts what came back");

  const after = await scrapeMetrics(gw);
  const cases: [string, Record<string, string>, number][] = [
    ["wsgate_handshakes_total", { result: "tunnel", status: "101" }, 3],
    ["wsgate_handshakes_total", { result: "rejected", status: "400" }, 2],
    ["wsgate_tunnels_total", { route: "/" }, 3],
    ["wsgate_connections_accepted_total", { listener: "127.0.0.1:0" }, 5],
    ["wsgate_bytes_total", { direction: "up" }, up],
    ["wsgate_bytes_total", { direction: "down" }, down],
    ["wsgate_active_tunnels", { route: "/" }, 0],
    ["wsgate_upstream_server_healthy", { upstream: "app", server: backend.address }, 1],
    ["wsgate_draining", {}, 0],
    ["wsgate_reloads_total", { result: "ok" }, 0],
  ];
  for (const [name, labels, value] of cases) {
    assert.equal(metric(after, name, labels), value, `${name}${JSON.stringify(labels)}`);
  }
  const tunnelSeconds = after.find((f) => f.name === "wsgate_tunnel_duration_seconds");
  assert.equal(tunnelSeconds?.type, "HISTOGRAM");

  const json = await gw.admin("GET", "/metrics.json");
  assert.equal(json.status, 200);
  assert.ok(Array.isArray((JSON.parse(text(json.body)) as { counters: unknown[] }).counters));
});

/** Opens `n` tunnels one after the other and tells which backend saw each upgrade. */
async function landings(gw: Gateway, backends: Backend[], n: number, tag: string): Promise<number[]> {
  const counts = backends.map(() => 0);
  for (let i = 0; i < n; i++) {
    const path = `/${tag}/${i}`;
    await using client = await openNodeWs(`ws://127.0.0.1:${gw.port}${path}`);
    client.send(path);
    assert.equal(await client.next(), path);
    counts[backends.findIndex((b) => b.requests.some((r) => r.url === path))]!++;
  }
  return counts;
}

interface ServerStatus {
  address: string;
  drained: boolean;
  active: number;
}

async function servers(gw: Gateway): Promise<ServerStatus[]> {
  const answer = await gw.admin("GET", "/status.json");
  assert.equal(answer.status, 200);
  const status = JSON.parse(text(answer.body)) as { upstreams: { name: string; servers: ServerStatus[] }[] };
  return status.upstreams.find((u) => u.name === "app")!.servers;
}

Deno.test("admin: drain sends new tunnels elsewhere while the drained server's tunnel keeps echoing", async () => {
  await using a = await wsEchoBackend();
  await using b = await wsEchoBackend();
  const backends = [a, b];
  await using gw = await startGateway({ config: oneRouteConfig([a.address, b.address], { top: ADMIN }) });
  await using held = await openNodeWs(`ws://127.0.0.1:${gw.port}/held`);
  const drained = backends.find((x) => x.requests.some((r) => r.url === "/held"))!;
  const other = backends.find((x) => x !== drained)!;
  const loop = new EchoLoop("held", viaWsClient(held));
  try {
    const path = `/upstreams/app/servers/${encodeURIComponent(drained.address)}`;
    assert.equal((await gw.admin("POST", `${path}/drain`)).status, 200);
    await gw.waitForEvent("server_drained", { upstream: "app", server: drained.address });
    const state = await servers(gw);
    assert.deepEqual(state.map((s) => [s.address, s.drained, s.active]), [
      [a.address, drained === a, drained === a ? 1 : 0],
      [b.address, drained === b, drained === b ? 1 : 0],
    ]);

    const whileDrained = await landings(gw, backends, 10, "drained");
    assert.equal(whileDrained[backends.indexOf(other)], 10, "all 10 new tunnels go to the other server");
    await progress([loop], 20);

    assert.equal((await gw.admin("POST", `${path}/undrain`)).status, 200);
    assert.ok((await servers(gw)).every((s) => !s.drained));
    const restored = await landings(gw, backends, 10, "restored");
    assert.ok(restored.every((n) => n > 0), `both servers take tunnels again: ${restored}`);

    const unknown = await gw.admin("POST", "/upstreams/app/servers/127.0.0.1%3A1/drain");
    assert.equal(unknown.status, 404);
    assert.equal((await gw.admin("GET", `${path}/drain`)).status, 405);
    await progress([loop], 5);
  } finally {
    await loop.stop();
  }
  assert.equal(loop.failure, undefined);
});

Deno.test("admin: tunnel_open and access records of a connection share its id", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({ config: oneRouteConfig([backend.address]) });
  {
    await using client = await RawWs.open(gw.port, { path: "/traced" });
    assert.equal(client.response.status, 101);
    const clientAddr = `127.0.0.1:${(client.conn.localAddr as Deno.NetAddr).port}`;
    const open = await gw.waitForEvent("tunnel_open", { client: clientAddr });
    await client.closeWrite();
    await client.reader.readToEnd(5_000);
    const access = await gw.waitForEvent("access", { path: "/traced" });
    assert.match(open.fields.id ?? "", /^\d+$/);
    assert.deepEqual(
      [access.fields.id, access.fields.client, access.fields.upstream, access.fields.status],
      [open.fields.id, clientAddr, open.fields.upstream, "101"],
    );
  }
});

/**
 * One raw request to the admin listener. Host is `127.0.0.1:<admin port>` unless `headers`
 * sets it (null leaves it out); a body goes with Content-Length, like a browser's form POST.
 */
async function adminRaw(
  gw: Gateway,
  method: string,
  path: string,
  headers: Record<string, string | null> = {},
  body = "",
) {
  const all: Record<string, string | null> = { Host: `127.0.0.1:${gw.adminPort}`, ...headers };
  const lines = Object.entries(all).flatMap(([name, value]) => value === null ? [] : [`${name}: ${value}`]);
  const head = [`${method} ${path} HTTP/1.1`, ...lines, `Content-Length: ${body.length}`, "", ""].join(
    "\r\n",
  );
  return parseResponse(await rawRequest(gw.adminPort, head + body));
}

/** `address: drained` for every server of group `app`, read with `headers` (the token, if any). */
async function drainedMap(gw: Gateway, headers: Record<string, string> = {}) {
  const answer = await adminRaw(gw, "GET", "/status.json", headers);
  assert.equal(answer.status, 200, text(answer.body));
  const status = JSON.parse(text(answer.body)) as {
    upstreams: { name: string; servers: ServerStatus[] }[];
    totals: { reloads: number };
  };
  const servers = status.upstreams.find((u) => u.name === "app")!.servers;
  return {
    drained: Object.fromEntries(servers.map((s) => [s.address, s.drained])),
    reloads: status.totals.reloads,
  };
}

// Nothing listens on these: the admin API only needs the servers to exist in the config.
const FAKE_SERVERS = ["127.0.0.1:1", "127.0.0.1:2"];
const DRAIN_1 = "/upstreams/app/servers/127.0.0.1%3A1/drain";

Deno.test("admin: a page of another site cannot drain or reload (403), a rebound name cannot even read (421)", async (t) => {
  const top = { admin: { listen: "127.0.0.1:0" }, limits: { handshake_timeout: "1s" } };
  await using gw = await startGateway({ config: oneRouteConfig(FAKE_SERVERS, { top }) });
  const own = `http://127.0.0.1:${gw.adminPort}`;
  const nothingDrained = { "127.0.0.1:1": false, "127.0.0.1:2": false };

  await t.step("cross-site POSTs are refused with 403, logged, and change nothing", async () => {
    const attacks: [string, Record<string, string>][] = [
      ["the browser's full set", {
        Origin: "https://evil.test",
        "Sec-Fetch-Site": "cross-site",
        "Content-Type": "text/plain",
      }],
      ["Origin alone", { Origin: "https://evil.test" }],
      ["Origin: null (sandboxed iframe, file://)", { Origin: "null" }],
      ["our host on another port", { Origin: `http://127.0.0.1:${gw.adminPort + 1}` }],
      ["Sec-Fetch-Site: same-site", { "Sec-Fetch-Site": "same-site" }],
      ["Sec-Fetch-Site: cross-site without Origin", { "Sec-Fetch-Site": "cross-site" }],
    ];
    for (const [what, headers] of attacks) {
      const answer = await adminRaw(gw, "POST", DRAIN_1, headers, "x");
      assert.equal(answer.status, 403, `${what}: ${text(answer.body)}`);
      assert.deepEqual((await drainedMap(gw)).drained, nothingDrained, `${what}: nothing drained`);
    }
    const logged = () => gw.records("admin_reject").filter((r) => r.fields.status === "403");
    await eventually(() => logged().length === attacks.length, 5_000, "one admin_reject line per refusal");
    const [first] = logged();
    assert.equal(first!.fields.path, DRAIN_1);
    assert.match(first!.fields.reason ?? "", /evil\.test/);
  });

  await t.step("a cross-site POST /reload does not reload", async () => {
    await gw.writeConfig(oneRouteConfig([...FAKE_SERVERS, "127.0.0.1:3"], { top }));
    const headers = {
      Origin: "https://evil.test",
      "Sec-Fetch-Site": "cross-site",
      "Content-Type": "text/plain",
    };
    assert.equal((await adminRaw(gw, "POST", "/reload", headers, "x")).status, 403);
    assert.deepEqual(await drainedMap(gw), { drained: nothingDrained, reloads: 0 }, "still the old config");
    assert.equal(gw.records("reloaded").length, 0);
  });

  await t.step(
    "a Host that is not loopback, an IP literal or in admin.hosts gets 421 (DNS rebinding)",
    async () => {
      for (const host of ["evil.test", `evil.test:${gw.adminPort}`, `localhost.evil.test:${gw.adminPort}`]) {
        const answer = await adminRaw(gw, "GET", "/status.json", { Host: host });
        assert.equal(answer.status, 421, host);
        assert.doesNotMatch(text(answer.body), /upstreams/, "no status leaks");
      }
      const rebound = { Host: `evil.test:${gw.adminPort}`, Origin: `http://evil.test:${gw.adminPort}` };
      assert.equal((await adminRaw(gw, "POST", DRAIN_1, rebound)).status, 421);
      assert.equal(
        (await adminRaw(gw, "GET", "/status.json", { Host: null }, "")).status,
        400,
        "HTTP/1.1 needs a Host",
      );
      assert.deepEqual((await drainedMap(gw)).drained, nothingDrained);
      await gw.waitForEvent("admin_reject", { status: "421" });
    },
  );

  await t.step("the admin's own pages, curl and loopback names still work", async () => {
    const page = { Origin: own, "Sec-Fetch-Site": "same-origin" };
    assert.equal((await adminRaw(gw, "POST", "/reload", page)).status, 200, "reload from the status page");
    assert.equal((await drainedMap(gw)).reloads, 1);
    assert.equal((await adminRaw(gw, "POST", DRAIN_1, page)).status, 200, "drain from the status page");
    assert.equal((await drainedMap(gw)).drained["127.0.0.1:1"], true);
    assert.equal((await adminRaw(gw, "POST", DRAIN_1.replace(/drain$/, "undrain"))).status, 200, "curl");
    const local = { Host: `LOCALHOST.:${gw.adminPort}`, Origin: `http://localhost:${gw.adminPort}` };
    assert.equal((await adminRaw(gw, "POST", DRAIN_1, local)).status, 200);
    const malformed = await adminRaw(gw, "POST", "/upstreams/app/servers/%zz/drain");
    assert.equal(malformed.status, 400, "a bad %-escape is a 400, not an internal error");
    for (const host of [`[::1]:${gw.adminPort}`, "127.0.0.1", `localhost:${gw.adminPort}`]) {
      assert.equal((await adminRaw(gw, "GET", "/status.json", { Host: host })).status, 200, host);
    }
    assert.deepEqual((await drainedMap(gw)).drained, {
      ...nothingDrained,
      "127.0.0.1:1": true,
      "127.0.0.1:3": false,
    });
  });

  await t.step("an idle or half-sent admin connection is closed after handshake_timeout (1 s)", async () => {
    for (const sent of ["", "GET /status.json HTTP/1.1\r\nHost: 127.0.0.1\r\n"]) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: gw.adminPort });
      const reader = new ByteReader(conn);
      try {
        if (sent) await conn.write(new TextEncoder().encode(sent));
        const started = Date.now();
        const answer = await reader.readToEnd(8_000);
        assert.ok(reader.eof, `closed by the gateway (${JSON.stringify(sent)})`);
        assert.ok(
          Date.now() - started < 6_000,
          `closed within 1 s + margin, took ${Date.now() - started} ms`,
        );
        assert.match(text(answer), /^HTTP\/1\.1 408 /);
      } finally {
        await reader.close();
      }
    }
    const timedOut = () => gw.records("admin_reject").filter((r) => r.fields.status === "408").length;
    await eventually(() => timedOut() === 2, 5_000, "two admin_reject lines with status 408");
  });

  await t.step("no page may frame the status page (clickjacking its Drain buttons)", async () => {
    for (const path of ["/status", "/status.json", "/metrics"]) {
      const answer = await adminRaw(gw, "GET", path);
      assert.equal(answer.status, 200, path);
      assert.equal(answer.headers.get("x-frame-options"), "DENY", path);
      assert.equal(answer.headers.get("content-security-policy"), "frame-ancestors 'none'", path);
      assert.equal(answer.headers.get("x-content-type-options"), "nosniff", path);
    }
    const refused = await rawRequest(gw.adminPort, "GET /status HTTP/1.1\r\nHost: evil.test\r\n\r\n");
    assert.match(text(refused), /^HTTP\/1\.1 421 Misdirected Request\r\n/);
  });
});

Deno.test("admin: admin.hosts names are answered, others still get 421", async () => {
  const top = { admin: { listen: "127.0.0.1:0", hosts: ["wsgate-admin.internal"] } };
  await using gw = await startGateway({ config: oneRouteConfig(FAKE_SERVERS, { top }) });
  const host = `WSGATE-admin.internal:${gw.adminPort}`;
  assert.equal((await adminRaw(gw, "GET", "/status.json", { Host: host })).status, 200);
  const origin = `http://wsgate-admin.internal:${gw.adminPort}`;
  assert.equal((await adminRaw(gw, "POST", DRAIN_1, { Host: host, Origin: origin })).status, 200);
  assert.equal((await adminRaw(gw, "GET", "/status.json", { Host: "other.internal" })).status, 421);
});

const TOKEN = "e2e-S3cret-t0ken";

Deno.test("admin: with admin.token_file every endpoint but /healthz needs the bearer token (401)", async (t) => {
  const top = { admin: { listen: "127.0.0.1:0", token_file: "admin.token" } };
  await using gw = await startGateway({
    config: oneRouteConfig(FAKE_SERVERS, { top }),
    files: { "admin.token": `${TOKEN}\n` },
  });
  const auth = (token: string) => ({ Authorization: `Bearer ${token}` });

  await t.step("/healthz is open, the rest answers 401 with WWW-Authenticate", async () => {
    assert.equal((await adminRaw(gw, "GET", "/healthz")).status, 200);
    for (const path of ["/status.json", "/metrics", "/metrics.json", "/status"]) {
      for (const headers of [{}, auth("wrong"), { Authorization: `Basic ${btoa(`admin:${TOKEN}`)}` }]) {
        const answer = await adminRaw(gw, "GET", path, headers);
        assert.equal(answer.status, 401, `${path} ${JSON.stringify(headers)}`);
        assert.equal(answer.headers.get("www-authenticate"), 'Bearer realm="wsgate-admin"');
        assert.doesNotMatch(text(answer.body), /127\.0\.0\.1:1|wsgate_/, "no data without the token");
      }
    }
    assert.equal((await adminRaw(gw, "GET", "/status.json", auth(TOKEN))).status, 200);
    assert.equal((await adminRaw(gw, "GET", "/metrics", auth(TOKEN))).status, 200);
  });

  await t.step("drain and reload need it too", async () => {
    assert.equal((await adminRaw(gw, "POST", DRAIN_1)).status, 401);
    assert.equal((await adminRaw(gw, "POST", DRAIN_1, auth("wrong"))).status, 401);
    assert.equal((await adminRaw(gw, "POST", "/reload")).status, 401);
    assert.deepEqual(await drainedMap(gw, auth(TOKEN)), {
      drained: { "127.0.0.1:1": false, "127.0.0.1:2": false },
      reloads: 0,
    });
    assert.equal((await adminRaw(gw, "POST", DRAIN_1, auth(TOKEN))).status, 200);
    assert.equal((await drainedMap(gw, auth(TOKEN))).drained["127.0.0.1:1"], true);
    await gw.waitForEvent("admin_reject", { status: "401", path: DRAIN_1 });
    assert.ok(gw.lines.every((line) => !line.includes(TOKEN)), "the token is never logged");
  });

  await t.step(
    "a reload reads the token file again; an empty one is refused with file:line:col",
    async () => {
      await Deno.writeTextFile(`${gw.dir}/admin.token`, "rotated-t0ken\n");
      assert.equal((await adminRaw(gw, "POST", "/reload", auth(TOKEN))).status, 200);
      assert.equal(
        (await adminRaw(gw, "GET", "/status.json", auth(TOKEN))).status,
        401,
        "the old token is gone",
      );
      assert.equal((await adminRaw(gw, "GET", "/status.json", auth("rotated-t0ken"))).status, 200);

      await Deno.writeTextFile(`${gw.dir}/admin.token`, "\n");
      const failed = await adminRaw(gw, "POST", "/reload", auth("rotated-t0ken"));
      assert.equal(failed.status, 400);
      const { errors } = JSON.parse(text(failed.body)) as { errors: string[] };
      assert.deepEqual(errors, [
        `${gw.dir}/wsgate.yaml:${
          yamlPosition(gw, "token_file")
        }: admin.token_file: "${gw.dir}/admin.token" is empty (it must hold the admin token)`,
      ]);
      assert.equal(
        (await adminRaw(gw, "GET", "/status.json", auth("rotated-t0ken"))).status,
        200,
        "old config kept",
      );
    },
  );
});

/** `line:col` of a key's value in the gateway's config file, as the config errors name it. */
function yamlPosition(gw: Gateway, key: string): string {
  const lines = Deno.readTextFileSync(`${gw.dir}/wsgate.yaml`).split("\n");
  const line = lines.findIndex((l) => l.trimStart().startsWith(`${key}:`));
  const col = lines[line]!.indexOf(":") + 3;
  return `${line + 1}:${col}`;
}

Deno.test("admin: wsgate check names a missing admin.token_file with the key's line and column", async () => {
  await using tmp = await tempDir();
  const config = oneRouteConfig(FAKE_SERVERS, {
    top: { admin: { listen: "127.0.0.1:0", token_file: "missing.token" } },
  });
  await Deno.writeTextFile(`${tmp.path}/wsgate.yaml`, config);
  const line = config.split("\n").findIndex((l) => l.includes("token_file")) + 1;
  const result = await runGateway(["check", "--config", `${tmp.path}/wsgate.yaml`]);
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    new RegExp(`wsgate\\.yaml:${line}:\\d+: admin\\.token_file: cannot read ".*missing\\.token"`),
  );
});

Deno.test("admin: with workers, the supervisor asks for the token and its workers still answer it", async () => {
  const top = { admin: { listen: "127.0.0.1:0", token_file: "admin.token" }, workers: 2 };
  await using gw = await startGateway({
    config: oneRouteConfig(FAKE_SERVERS, { top }),
    files: { "admin.token": TOKEN },
  });
  await gw.waitForEvent("supervisor_ready", { workers: "2" });
  await gw.waitForEvent("ready", { worker: "0" });
  await gw.waitForEvent("ready", { worker: "1" });
  const auth = { Authorization: `Bearer ${TOKEN}` };
  assert.equal((await adminRaw(gw, "GET", "/status.json")).status, 401);
  assert.equal((await adminRaw(gw, "POST", DRAIN_1, { Origin: "https://evil.test" })).status, 403);
  assert.equal((await adminRaw(gw, "POST", DRAIN_1, auth)).status, 200);
  assert.deepEqual((await drainedMap(gw, auth)).drained, { "127.0.0.1:1": true, "127.0.0.1:2": false });
  assert.equal((await adminRaw(gw, "POST", "/reload", auth)).status, 200);
});
