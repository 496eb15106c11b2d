/**
 * An outsider's black-box check of DESIGN §2 (command line), §3 (configuration) and §4 (the wire),
 * written from the documents only: one case per row or bullet, against the real process.
 */
import assert from "node:assert/strict";
import {
  deadPort,
  denoEchoBackend,
  keyOf,
  rawBackend,
  type RawPeer,
  switching,
  wsEchoBackend,
} from "./_backends.ts";
import { openDenoWs, openNodeWs, RawWs } from "./_clients.ts";
import {
  CA_PEM,
  CERTS,
  CONFIGS,
  eventually,
  Gateway,
  oneRouteConfig,
  parseLogLine,
  REPO,
  runGateway,
  startGateway,
  tempDir,
  toYaml,
} from "./_harness.ts";
import {
  acceptFor,
  ByteReader,
  bytes,
  concat,
  CRLF,
  dial,
  encodeFrame,
  Opcode,
  parseResponse,
  randomBytes,
  rawRequest,
  readFrame,
  text,
  writeAll,
} from "./_wire.ts";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

/** A request head from its lines (request line first), CRLF-terminated. */
const head = (...lines: string[]) => lines.join(CRLF) + CRLF + CRLF;

/** The header lines of a valid upgrade, without the request line. */
const upgradeLines = (key = KEY) => [
  "Host: gw.test",
  "Upgrade: websocket",
  "Connection: Upgrade",
  `Sec-WebSocket-Key: ${key}`,
  "Sec-WebSocket-Version: 13",
];

const upgrade = (path: string, ...extra: string[]) =>
  head(`GET ${path} HTTP/1.1`, ...upgradeLines(), ...extra);

/** Header fields of a request head, names lower-cased, in order. */
function fields(raw: string): [string, string][] {
  return raw.split(CRLF).slice(1).filter((l) => l !== "").map((l) => {
    const colon = l.indexOf(":");
    return [l.slice(0, colon).toLowerCase(), l.slice(colon + 1).trim()];
  });
}

const all = (raw: string, name: string) => fields(raw).filter(([n]) => n === name).map(([, v]) => v);

/** Reads from `reader` until it holds `n` bytes (or EOF); returns them. */
async function readN(reader: ByteReader, n: number, timeoutMs = 5_000): Promise<Uint8Array> {
  const deadline = Date.now() + timeoutMs;
  while (reader.buffered.length < n && await reader.fill(Math.max(1, deadline - Date.now())));
  return reader.take(Math.min(n, reader.buffered.length));
}

/** Sends `request`, reads everything until the gateway closes (throws if it does not within 5 s). */
async function ask(port: number, request: string | Uint8Array) {
  return parseResponse(await rawRequest(port, request));
}

// ---------------------------------------------------------------------------------------------
// The scripted upstream for §4: what it does depends on the request path.
// ---------------------------------------------------------------------------------------------

/** What each raw-backend connection read after its head, by request path. */
const afterHead = new Map<string, Uint8Array>();
const pathOf = (raw: string) => raw.split(" ")[1] ?? "";

async function script(peer: RawPeer): Promise<void> {
  const path = pathOf(peer.head);
  const ok = switching(peer.head);
  const frame = (s: string) => encodeFrame(Opcode.text, bytes(s), { mask: false });
  const name = path.split("?")[0]!.replace(/^\/[a-z-]+\//, "");
  switch (name) {
    case "echo": // raw echo of whatever comes, until EOF
      await peer.write(ok);
      while (await peer.reader.fill(10_000)) await peer.write(peer.reader.take(peer.reader.buffered.length));
      return;
    case "rebuild":
      await peer.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Accept: ${acceptFor(keyOf(peer.head))}\r\nSec-WebSocket-Protocol: chat\r\n\r\n`,
      );
      return;
    case "early": { // 101 and a frame in one write; then echo the client's first frame
      await peer.write(concat([bytes(ok), frame("early-server")]));
      const got = await readFrame(peer.reader, 5_000);
      await peer.write(frame(`echo:${got ? text(got.payload) : "EOF"}`));
      return;
    }
    case "bad-accept":
      return void await peer.write(switching(peer.head, acceptFor("AAAAAAAAAAAAAAAAAAAAAA==")));
    case "no-upgrade":
      return void await peer.write(
        `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${
          acceptFor(keyOf(peer.head))
        }\r\n\r\n`,
      );
    case "no-connection":
      return void await peer.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ${
          acceptFor(keyOf(peer.head))
        }\r\n\r\n`,
      );
    case "403": // keep-alive style: the backend does not close, the body length ends the answer
      await peer.write(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nforbidden",
      );
      return void await peer.closing;
    case "chunked":
      await peer.write(
        "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
      );
      return void await peer.closing;
    case "eof-body":
      return void await peer.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
    case "silent":
      return void await peer.closing;
    case "close-early":
      return;
    case "half-client": { // read to EOF, then still answer
      await peer.write(ok);
      const got = await peer.reader.readToEnd(5_000);
      afterHead.set(path, got);
      return void await peer.write(`got:${text(got)}`);
    }
    case "half-upstream": // FIN first, then keep reading the client
      await peer.write(ok + "bye");
      await peer.conn.closeWrite();
      afterHead.set(path, await peer.reader.readToEnd(5_000));
      return;
    case "count": // read 10 bytes, send 20, then wait for the client to close
      await peer.write(ok);
      await readN(peer.reader, 10);
      await peer.write(new Uint8Array(20).fill(65));
      await peer.reader.readToEnd(5_000);
      return;
    case "upstream-closes":
      await peer.write(ok);
      await readN(peer.reader, 3);
      return;
    case "plain": {
      const length = Number(/^content-length:\s*(\d+)/im.exec(peer.head)?.[1] ?? 0);
      afterHead.set(path, await readN(peer.reader, length));
      return void await peer.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nplain");
    }
    case "head-keepalive": // a HEAD answer announces a length but has no body; the backend keeps the socket
      await peer.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
      return void await peer.closing;
    case "204":
      await peer.write("HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n");
      return void await peer.closing;
    case "304":
      await peer.write("HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n");
      return void await peer.closing;
    case "keepalive": // a keep-alive answer to a plain request: the client must still get one answer and a close
      await peer.write(
        "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok",
      );
      return void await peer.closing;
    case "chunked-body": { // a plain POST with a chunked body: echo what arrived after the head
      const got = await readN(peer.reader, 15);
      afterHead.set(path, got);
      return void await peer.write(`HTTP/1.1 200 OK\r\nContent-Length: ${got.length}\r\n\r\n${text(got)}`);
    }
    case "variant": // a valid 101 written differently: token case, a list in Connection, an extension
      await peer.write(
        `HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\n` +
          `sec-websocket-accept: ${
            acceptFor(keyOf(peer.head))
          }\r\nSec-WebSocket-Extensions: x-test; a=1\r\n\r\n`,
      );
      return void await peer.reader.readToEnd(10_000);
    case "no-accept":
      return void await peer.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
      );
    case "garbage":
      return void await peer.write("SSH-2.0-OpenSSH_9.2\r\n\r\n");
    case "dribble": // the 101 one byte per write, then echo
      for (const b of bytes(ok)) await peer.write(new Uint8Array([b]));
      while (await peer.reader.fill(10_000)) await peer.write(peer.reader.take(peer.reader.buffered.length));
      return;
    default:
      await peer.write(ok);
      return void await peer.reader.readToEnd(10_000);
  }
}

Deno.test("contract §4: client side, upstream side and tunnel against one gateway", async (t) => {
  await using raw = rawBackend(script);
  const [dead1, dead2] = [deadPort(), deadPort()];
  await using gw = await startGateway({
    config: toYaml({
      servers: [{
        listen: ["127.0.0.1:0"],
        routes: [
          { path: "/ws/", upstream: "raw" },
          { path: "= /exact", upstream: "raw" },
          { path: "/only/", upstream: "raw", websocket_only: true },
          { path: "/dead/", upstream: "dead" },
          { path: "/retry/", upstream: "retry" },
        ],
      }],
      upstreams: {
        raw: { servers: [{ address: raw.address, max_fails: 0 }] }, // failures here are on purpose
        dead: { servers: [`127.0.0.1:${dead1}`, `127.0.0.1:${dead2}`] },
        retry: { servers: [`127.0.0.1:${dead1}`, raw.address] },
      },
      limits: { handshake_timeout: 2, max_head_bytes: 4096 },
    }),
  });
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
    const conn = await dial(gw.port);
    const reader = new ByteReader(conn);
    try {
      const started = Date.now();
      await writeAll(conn, bytes("GET /ws/x HTTP/1.1\r\nHost: gw.test\r\n"));
      const res = parseResponse(await reader.readToEnd(8_000));
      assert.equal(res.status, 408);
      const elapsed = Date.now() - started;
      assert.ok(elapsed > 1_500 && elapsed < 6_000, `answered after ${elapsed} ms`);
      await gw.waitForEvent("reject", { status: "408" }); // before the next step counts reject lines
    } finally {
      await reader.close();
    }
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

  await t.step(
    "plain HTTP passed through: Connection: close upstream, body both ways, one request only",
    async () => {
      const body = "hello";
      const first = head(
        "POST /ws/plain?n=1 HTTP/1.1",
        "Host: gw.test",
        "Connection: keep-alive",
        `Content-Length: ${body.length}`,
      ) + body;
      const second = head("GET /ws/second HTTP/1.1", "Host: gw.test");
      const answer = text(await rawRequest(gw.port, first + second));
      const res = parseResponse(bytes(answer));
      assert.equal(res.status, 200);
      assert.equal(text(res.body), "plain");
      assert.equal(answer.split("HTTP/1.1 ").length - 1, 1, "exactly one response");
      const seen = raw.heads.find((h) => pathOf(h) === "/ws/plain?n=1")!;
      assert.deepEqual(all(seen, "connection").map((v) => v.toLowerCase()), ["close"]);
      assert.deepEqual(all(seen, "upgrade"), []);
      assert.equal(all(seen, "x-forwarded-for")[0], "127.0.0.1");
      assert.equal(text(afterHead.get("/ws/plain?n=1")!), body);
      assert.ok(!raw.heads.some((h) => pathOf(h) === "/ws/second"), "the pipelined request is not forwarded");
    },
  );

  await t.step(
    "the upstream request is rebuilt: hop-by-hop out, Upgrade/Connection set, X-Forwarded-*, Sec-* as sent",
    async () => {
      const request = head(
        "GET /ws/rebuild?x=1&y=%20 HTTP/1.1",
        "Host: Example.test:8443",
        "Upgrade: websocket",
        "Connection: keep-alive, Upgrade, X-Hop",
        "X-Hop: secret",
        "Keep-Alive: timeout=5",
        "Proxy-Connection: keep-alive",
        "TE: trailers",
        "Trailer: X-Checksum",
        `Sec-WebSocket-Key: ${KEY}`,
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Protocol: chat, superchat",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        "X-Custom: kept as is",
      );
      await using c = await RawWs.open(gw.port, { request });
      assert.equal(c.response.status, 101);
      assert.equal(c.response.headers.get("sec-websocket-accept"), acceptFor(KEY));
      assert.equal(c.response.headers.get("sec-websocket-protocol"), "chat");
      const seen = raw.heads.find((h) => pathOf(h) === "/ws/rebuild?x=1&y=%20")!;
      assert.equal(seen.split(CRLF)[0], "GET /ws/rebuild?x=1&y=%20 HTTP/1.1");
      const expect: Record<string, string[]> = {
        "upgrade": ["websocket"],
        "host": ["Example.test:8443"],
        "x-forwarded-for": ["127.0.0.1"],
        "x-forwarded-proto": ["http"],
        "x-forwarded-host": ["Example.test:8443"],
        "x-real-ip": ["127.0.0.1"],
        "sec-websocket-key": [KEY],
        "sec-websocket-version": ["13"],
        "sec-websocket-protocol": ["chat, superchat"],
        "sec-websocket-extensions": ["permessage-deflate; client_max_window_bits"],
        "x-custom": ["kept as is"],
        "x-hop": [],
        "keep-alive": [],
        "proxy-connection": [],
        "te": [],
        "trailer": [],
        "transfer-encoding": [],
      };
      for (const [name, values] of Object.entries(expect)) assert.deepEqual(all(seen, name), values, name);
      assert.deepEqual(all(seen, "connection").map((v) => v.toLowerCase()), ["upgrade"]);
    },
  );

  await t.step("Transfer-Encoding on an upgrade: refused, or removed upstream", async () => {
    const request = upgrade("/ws/te", "Transfer-Encoding: chunked") + "0\r\n\r\n";
    const conn = await dial(gw.port);
    const reader = new ByteReader(conn);
    try {
      await writeAll(conn, bytes(request));
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec((await reader.readHead(5_000)) ?? "")?.[1]);
      const seen = raw.heads.find((h) => pathOf(h) === "/ws/te");
      assert.ok(
        status === 400 || (status === 101 && seen && all(seen, "transfer-encoding").length === 0),
        `${status}`,
      );
    } finally {
      await reader.close();
    }
  });

  await t.step("bytes after the head in the same packet are forwarded, both ways", async () => {
    const early = encodeFrame(Opcode.text, bytes("early-client"));
    const conn = await dial(gw.port);
    const reader = new ByteReader(conn);
    try {
      await writeAll(conn, concat([bytes(upgrade("/ws/early")), early])); // one write
      assert.match((await reader.readHead(5_000))!, /^HTTP\/1\.1 101/);
      assert.equal(text((await readFrame(reader, 5_000))!.payload), "early-server");
      assert.equal(text((await readFrame(reader, 5_000))!.payload), "echo:early-client");
    } finally {
      await reader.close();
    }
  });

  for (const path of ["bad-accept", "no-upgrade", "no-connection"]) {
    await t.step(`bad 101 (${path}) -> 502`, async () => {
      assert.equal((await ask(gw.port, upgrade(`/ws/${path}`))).status, 502);
    });
  }

  const relayed: [string, number, string][] = [
    ["403 with Content-Length, upstream keeps the socket open", 403, "forbidden"],
    ["chunked 503, upstream keeps the socket open", 503, "hello"],
    ["200 delimited by close", 200, "until the end"],
  ];
  for (const [name, status, body] of relayed) {
    const path = { 403: "403", 503: "chunked", 200: "eof-body" }[status]!;
    await t.step(`non-101 relayed with its body, then closed (${name})`, async () => {
      const res = await ask(gw.port, upgrade(`/ws/${path}`));
      assert.equal(res.status, status);
      assert.equal(text(res.body), body);
    });
  }

  await t.step("connect refused -> next server of the group; none left -> 502", async () => {
    for (let i = 0; i < 3; i++) {
      await using c = await RawWs.open(gw.port, { request: upgrade(`/retry/r${i}`) });
      assert.equal(c.response.status, 101);
    }
    assert.equal((await ask(gw.port, upgrade("/dead/x"))).status, 502);
    assert.ok(gw.records("upstream_failed").length > 0, "upstream_failed logged");
  });

  await t.step("upstream closes before answering (only server) -> 502", async () => {
    assert.equal((await ask(gw.port, upgrade("/ws/close-early"))).status, 502);
  });

  await t.step("upstream silent -> 504 within handshake_timeout", async () => {
    const started = Date.now();
    const res = await ask(gw.port, upgrade("/ws/silent"));
    assert.equal(res.status, 504);
    const elapsed = Date.now() - started;
    assert.ok(elapsed > 1_500 && elapsed < 6_000, `answered after ${elapsed} ms`);
  });

  await t.step("half-close client -> upstream: the upstream sees EOF and can still answer", async () => {
    await using c = await RawWs.open(gw.port, { request: upgrade("/ws/half-client") });
    assert.equal(c.response.status, 101);
    await writeAll(c.conn, bytes("abc"));
    await c.closeWrite();
    assert.equal(text(await c.reader.readToEnd(5_000)), "got:abc");
    assert.equal(text(afterHead.get("/ws/half-client")!), "abc");
  });

  await t.step("half-close upstream -> client: the client sees EOF and can still send", async () => {
    await using c = await RawWs.open(gw.port, { request: upgrade("/ws/half-upstream") });
    assert.equal(c.response.status, 101);
    assert.equal(text(await c.reader.readToEnd(5_000)), "bye"); // EOF after it
    await writeAll(c.conn, bytes("still here"));
    await c.closeWrite();
    await eventually(() => afterHead.has("/ws/half-upstream"), 5_000, "the upstream reads to EOF");
    assert.equal(text(afterHead.get("/ws/half-upstream")!), "still here");
  });

  await t.step(
    "plain HEAD/204/304 answers end at their head, though the backend keeps its socket open",
    async () => {
      const res = await ask(gw.port, head("HEAD /ws/head-keepalive HTTP/1.1", "Host: gw.test"));
      assert.equal(res.status, 200);
      for (const status of [204, 304]) {
        assert.equal(
          (await ask(gw.port, head(`GET /ws/${status} HTTP/1.1`, "Host: gw.test"))).status,
          status,
        );
      }
    },
  );

  await t.step("non-101 answers to an upgrade with no body (204/304) end at their head", async () => {
    for (const status of [204, 304]) {
      assert.equal((await ask(gw.port, upgrade(`/ws/${status}?u=1`))).status, status);
    }
  });

  await t.step(
    "plain HTTP: a keep-alive answer is relayed once, with Connection: close, then closed",
    async () => {
      const res = await ask(gw.port, head("GET /ws/keepalive HTTP/1.1", "Host: gw.test"));
      assert.equal(res.status, 200);
      assert.equal(text(res.body), "ok");
      assert.equal(res.headers.get("connection")?.toLowerCase(), "close");
      assert.equal(res.headers.get("keep-alive"), null, "hop-by-hop answer headers are not relayed");
    },
  );

  await t.step("plain HTTP: a chunked request body reaches the backend framed as sent", async () => {
    const body = "5\r\nhello\r\n0\r\n\r\n";
    const request = head("POST /ws/chunked-body HTTP/1.1", "Host: gw.test", "Transfer-Encoding: chunked") +
      body;
    assert.equal((await ask(gw.port, request)).status, 200);
    assert.equal(text(afterHead.get("/ws/chunked-body")!), body);
  });

  await t.step(
    "plain HTTP: hop-by-hop request headers removed, X-Forwarded-* and X-Real-IP set by wsgate only",
    async () => {
      await ask(
        gw.port,
        head(
          "GET /ws/plain?n=2 HTTP/1.1",
          "Host: gw.test",
          "Connection: keep-alive, X-Hop",
          "X-Hop: 1",
          "Keep-Alive: timeout=5",
          "TE: trailers",
          "X-Forwarded-Host: evil.test",
          "X-Forwarded-Proto: https",
          "X-Real-IP: 6.6.6.6",
        ),
      );
      const seen = raw.heads.find((h) => pathOf(h) === "/ws/plain?n=2")!;
      for (const name of ["x-hop", "keep-alive", "te", "upgrade"]) {
        assert.deepEqual(all(seen, name), [], name);
      }
      assert.deepEqual(all(seen, "x-forwarded-host"), ["gw.test"]);
      assert.deepEqual(all(seen, "x-forwarded-proto"), ["http"]);
      assert.deepEqual(all(seen, "x-real-ip"), ["127.0.0.1"]);
    },
  );

  await t.step(
    "a valid 101 in another spelling (case, Connection list) is accepted; its extensions are relayed",
    async () => {
      await using c = await RawWs.open(gw.port, { request: upgrade("/ws/variant") });
      assert.equal(c.response.status, 101);
      assert.equal(c.response.headers.get("sec-websocket-extensions"), "x-test; a=1");
    },
  );

  for (const path of ["no-accept", "garbage"]) {
    await t.step(`upstream answer ${path} -> 502`, async () => {
      assert.equal((await ask(gw.port, upgrade(`/ws/${path}`))).status, 502);
    });
  }

  await t.step("heads split into single bytes both ways still make a tunnel", async () => {
    const conn = await dial(gw.port);
    const reader = new ByteReader(conn);
    try {
      for (const b of bytes(upgrade("/ws/dribble"))) await writeAll(conn, new Uint8Array([b]));
      assert.match((await reader.readHead(5_000))!, /^HTTP\/1\.1 101/);
      await writeAll(conn, bytes("ping"));
      assert.equal(text(await readN(reader, 4)), "ping");
    } finally {
      await reader.close();
    }
  });

  await t.step("both directions at once, 4 MiB each, arrive unchanged (no deadlock)", async () => {
    await using c = await RawWs.open(gw.port, { request: upgrade("/ws/echo?big=1") });
    const payload = randomBytes(4 * 1024 * 1024);
    const [, echoed] = await Promise.all([
      writeAll(c.conn, payload),
      readN(c.reader, payload.length, 20_000),
    ]);
    assert.deepEqual(echoed, payload);
  });

  await t.step(
    "access record on close: client, route, upstream, status, bytes each way, duration, who closed",
    async () => {
      {
        await using c = await RawWs.open(gw.port, { request: upgrade("/ws/count?n=1") });
        await writeAll(c.conn, new Uint8Array(10));
        assert.equal((await readN(c.reader, 20)).length, 20);
      } // the client closes
      const rec = await gw.waitForEvent("access", { path: "/ws/count?n=1" });
      assert.match(rec.fields.client ?? "", /^127\.0\.0\.1:\d+$/);
      assert.equal(rec.fields.route, "/ws/");
      assert.equal(rec.fields.upstream, raw.address);
      assert.equal(rec.fields.status, "101");
      assert.equal(rec.fields.up_bytes, "10");
      assert.equal(rec.fields.down_bytes, "20");
      assert.match(rec.fields.duration_ms ?? "", /^\d+(\.\d+)?$/);
      assert.equal(rec.fields.closed_by, "client");

      {
        await using c = await RawWs.open(gw.port, { request: upgrade("/ws/upstream-closes") });
        await writeAll(c.conn, bytes("xyz"));
        await c.reader.readToEnd(5_000); // the upstream's EOF; the tunnel ends once the client closes too
      }
      const rec2 = await gw.waitForEvent("access", { path: "/ws/upstream-closes" });
      assert.equal(rec2.fields.closed_by, "upstream");
    },
  );
});

// ---------------------------------------------------------------------------------------------
// §2 command line
// ---------------------------------------------------------------------------------------------

Deno.test("cli: --help and --version exit 0", async () => {
  const help = await runGateway(["--help"]);
  assert.equal(help.code, 0);
  for (const word of ["--config", "--listen", "--upstream", "--balance", "--admin", "check"]) {
    assert.ok(help.stdout.includes(word), word);
  }
  const version = await runGateway(["--version"]);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^wsgate \d+\.\d+\.\d+/);
});

Deno.test("cli: --listen :port, real WebSocket peers both ways (Deno.serve and npm ws)", async () => {
  await using deno = await denoEchoBackend();
  await using node = await wsEchoBackend();
  const port = deadPort();
  await using gw = await startGateway({
    args: ["--listen", `:${port}`, "--upstream", `ws://${deno.address}`],
  });
  await using a = await openNodeWs(`ws://127.0.0.1:${port}/chat`);
  a.send("text");
  assert.equal(await a.next(), "text");
  a.send(new Uint8Array([0, 1, 255]));
  assert.deepEqual(await a.next(), new Uint8Array([0, 1, 255]));
  await using gw2 = await startGateway({ args: ["--listen", "127.0.0.1:0", "--upstream", node.address] });
  await using b = await openDenoWs(`ws://127.0.0.1:${gw2.port}/`);
  b.send("deno client");
  assert.equal(await b.next(), "deno client");
  assert.ok(gw.lines.some((l) => l.includes(`:${port}`)), "prints where it listens");
});

Deno.test("cli: --listen [::1]:port", async () => {
  await using backend = await wsEchoBackend();
  const port = deadPort();
  await using _gw = await startGateway({
    args: ["--listen", `[::1]:${port}`, "--upstream", backend.address],
  });
  await using c = await openDenoWs(`ws://[::1]:${port}/`);
  c.send("v6");
  assert.equal(await c.next(), "v6");
  const seen = backend.requests.at(-1)!.headers;
  assert.equal(seen.get("x-real-ip"), "::1");
  assert.equal(seen.get("x-forwarded-for"), "::1");
});

Deno.test("cli: --listen unix:/path", async () => {
  await using backend = await wsEchoBackend();
  await using tmp = await tempDir();
  const path = `${tmp.path}/gw.sock`;
  await using _gw = await startGateway({ args: ["--listen", `unix:${path}`, "--upstream", backend.address] });
  await using c = await RawWs.open({ path }, { request: upgrade("/") });
  assert.equal(c.response.status, 101);
});

Deno.test("cli: --tls-cert/--tls-key serve wss:// and X-Forwarded-Proto is https", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    args: [
      "--listen",
      "127.0.0.1:0",
      "--tls-cert",
      `${CERTS}localhost.pem`,
      "--tls-key",
      `${CERTS}localhost-key.pem`,
      "--upstream",
      backend.address,
    ],
  });
  await using c = await openNodeWs(`wss://localhost:${gw.port}/`, { ca: CA_PEM });
  c.send("tls");
  assert.equal(await c.next(), "tls");
  assert.equal(backend.requests.at(-1)!.headers.get("x-forwarded-proto"), "https");
});

Deno.test("config: wss:// upstream with tls.ca and server_name", async () => {
  await using backend = await denoEchoBackend({
    tls: {
      cert: Deno.readTextFileSync(`${CERTS}backend.pem`),
      key: Deno.readTextFileSync(`${CERTS}backend-key.pem`),
    },
  });
  await using gw = await startGateway({
    config: oneRouteConfig([`wss://${backend.address}`], {
      upstream: { tls: { ca: "ca.pem", server_name: "backend.test" } },
    }),
    files: { "ca.pem": CA_PEM },
  });
  await using c = await openDenoWs(`ws://127.0.0.1:${gw.port}/`);
  c.send("over tls");
  assert.equal(await c.next(), "over tls");
});

Deno.test("cli: --balance ip_hash keeps one client on one server; round_robin spreads; bad value exits 1", async () => {
  await using a = await wsEchoBackend();
  await using b = await wsEchoBackend();
  for (const [policy, servers] of [["ip_hash", 1], ["round_robin", 2], ["least_conn", 2]] as const) {
    await using gw = await startGateway({
      args: [
        "--listen",
        "127.0.0.1:0",
        "--balance",
        policy,
        "--upstream",
        a.address,
        "--upstream",
        b.address,
      ],
    });
    const before = [a.requests.length, b.requests.length];
    for (let i = 0; i < 4; i++) {
      await using c = await RawWs.open(gw.port, { request: upgrade("/") });
      assert.equal(c.response.status, 101);
    }
    const used = [a.requests.length - before[0]!, b.requests.length - before[1]!].filter((n) => n > 0).length;
    assert.equal(used, servers, policy);
  }
  const bad = await runGateway(["--listen", "127.0.0.1:0", "--balance", "fastest", "--upstream", a.address]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stdout + bad.stderr, /balance/);
  assert.doesNotMatch(bad.stderr, /^\s+at /m, "no stack trace");
});

Deno.test("cli: --admin, --path, --log-format json, --idle-timeout", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    args: [
      "--listen",
      "127.0.0.1:0",
      "--upstream",
      backend.address,
      "--admin",
      "127.0.0.1:0",
      "--path",
      "/ws/",
      "--log-format",
      "json",
      "--idle-timeout",
      "500ms",
    ],
  });
  const health = await gw.admin("GET", "/healthz");
  assert.equal(health.status, 200);
  assert.equal((await ask(gw.port, upgrade("/other"))).status, 404);
  await using c = await RawWs.open(gw.port, { request: upgrade("/ws/x") });
  assert.equal(c.response.status, 101);
  const started = Date.now();
  assert.equal(await c.next(6_000), null, "closed when idle");
  assert.ok(Date.now() - started < 5_000);
  for (const line of gw.lines.filter((l) => l.trim() !== "")) {
    assert.equal(typeof JSON.parse(line).event, "string", line);
  }
});

/** Spawns wsgate in `cwd` (for ./wsgate.yaml and the built-in default). */
function spawnIn(cwd: string, args: string[]): Gateway {
  const bin = Deno.env.get("WSGATE_BIN");
  const cmd = bin ? (bin.startsWith("/") ? bin : `${Deno.cwd()}/${bin}`) : Deno.execPath();
  const full = bin ? args : ["run", "--allow-all", "--unstable-net", `${REPO}main.ts`, ...args];
  const child = new Deno.Command(cmd, { args: full, cwd, stdin: "null", stdout: "piped", stderr: "piped" })
    .spawn();
  return new Gateway(child, cwd);
}

Deno.test("cli: no --config picks up ./wsgate.yaml from the working directory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wsgate-contract-" });
  await using backend = await wsEchoBackend();
  await Deno.writeTextFile(
    `${dir}/wsgate.yaml`,
    toYaml({
      servers: [{ listen: ["127.0.0.1:0"], routes: [{ path: "/fromfile/", upstream: "app" }] }],
      upstreams: { app: { servers: [backend.address] } },
    }),
  );
  await using gw = spawnIn(dir, []);
  await gw.waitForEvent("ready");
  assert.ok(gw.lines.some((l) => l.includes("/fromfile/")), gw.output());
  await using c = await RawWs.open(gw.port, { request: upgrade("/fromfile/x") });
  assert.equal(c.response.status, 101);
});

Deno.test("cli: no file, no flags: the built-in default (0.0.0.0:8020 -> 127.0.0.1:8080) is announced", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wsgate-contract-" });
  await using gw = spawnIn(dir, []);
  const line = await gw.waitForLine(/default/i);
  const said = gw.lines.join("\n") + line;
  assert.match(said, /0\.0\.0\.0:8020/);
  assert.match(said, /127\.0\.0\.1:8080/);
});

// ---------------------------------------------------------------------------------------------
// §3 configuration: check, errors, durations
// ---------------------------------------------------------------------------------------------

const ERROR_LINE = /^(.+):(\d+):(\d+): ([\w.\[\]-]+): .+$/;

Deno.test("check: a valid file exits 0 and summarises listeners, routes and upstreams", async () => {
  const res = await runGateway(["check", "--config", `${CONFIGS}good.yaml`]);
  assert.equal(res.code, 0, res.stderr);
  for (const part of ["127.0.0.1:18020", "/chat/", "chat", "127.0.0.1:19001", "127.0.0.1:19002"]) {
    assert.ok(res.stdout.includes(part), `${part} in\n${res.stdout}`);
  }
});

Deno.test("config errors: file:line:col: key.path: message, all at once, exit 1, no stack trace (check and run)", async () => {
  await using tmp = await tempDir();
  const file = `${tmp.path}/wsgate.yaml`;
  await Deno.writeTextFile(
    file,
    [
      "servers:",
      '  - listen: ["127.0.0.1:0"]',
      "    lisen: oops",
      "    routes:",
      "      - { path: /a/, upstream: app, read_timeout: 10 parsecs }",
      "upstreams:",
      "  app:",
      "    servers:",
      "      - { address: 127.0.0.1:1, weight: -2 }",
      "",
    ].join("\n"),
  );
  for (const args of [["check", "--config", file], ["--config", file]]) {
    const res = await runGateway(args);
    assert.equal(res.code, 1, args.join(" "));
    const out = res.stdout + res.stderr;
    assert.doesNotMatch(out, /^\s+at /m, "no stack trace");
    const errors = out.split("\n").map((l) => ERROR_LINE.exec(l)).filter((m) => m !== null);
    const byKey = new Map(errors.map((m) => [m[4]!, `${m[2]}:${m[3]}`]));
    assert.ok(errors.every((m) => m[1]!.endsWith("wsgate.yaml")), out);
    assert.ok(byKey.get("upstreams.app.servers[0].weight")?.startsWith("9:"), out);
    assert.ok(byKey.get("servers[0].routes[0].read_timeout")?.startsWith("5:"), out);
    assert.ok(byKey.get("servers[0].lisen")?.startsWith("3:"), out);
  }
});

Deno.test("config: a YAML syntax error and a missing file exit 1 with a located message, no stack trace", async () => {
  await using tmp = await tempDir();
  const file = `${tmp.path}/wsgate.yaml`;
  await Deno.writeTextFile(file, 'servers:\n  - listen: ["127.0.0.1:0"\n    routes: x\n');
  const syntax = await runGateway(["check", "--config", file]);
  assert.equal(syntax.code, 1);
  assert.match(syntax.stdout + syntax.stderr, /wsgate\.yaml:\d+:\d+: /);
  assert.doesNotMatch(syntax.stdout + syntax.stderr, /^\s+at /m);
  const missing = await runGateway(["--config", `${tmp.path}/nope.yaml`]);
  assert.equal(missing.code, 1);
  assert.match(missing.stdout + missing.stderr, /nope\.yaml/);
  assert.doesNotMatch(missing.stdout + missing.stderr, /^\s+at /m);
});

Deno.test("config: durations 250ms, 30s, 5m, 2h, 1d, 1h30m and plain numbers of seconds are accepted", async () => {
  await using tmp = await tempDir();
  const file = `${tmp.path}/wsgate.yaml`;
  await Deno.writeTextFile(
    file,
    oneRouteConfig(["127.0.0.1:1"], {
      route: { read_timeout: "1d", send_timeout: "1h30m", idle_timeout: 90 },
      upstream: { connect_timeout: "250ms", servers: [{ address: "127.0.0.1:1", fail_timeout: "5m" }] },
      top: { limits: { handshake_timeout: 2.5 }, shutdown_timeout: "2h" },
    }),
  );
  const res = await runGateway(["check", "--config", file]);
  assert.equal(res.code, 0, res.stdout + res.stderr);
});

// ---------------------------------------------------------------------------------------------
// §4 limits, X-Forwarded-For trust
// ---------------------------------------------------------------------------------------------

Deno.test("limits: over max_connections / max_connections_per_ip -> 503 + Retry-After", async () => {
  await using backend = await wsEchoBackend();
  for (const limits of [{ max_connections: 1 }, { max_connections_per_ip: 1 }]) {
    await using gw = await startGateway({ config: oneRouteConfig([backend.address], { top: { limits } }) });
    await using first = await RawWs.open(gw.port, { request: upgrade("/") });
    assert.equal(first.response.status, 101);
    const res = await ask(gw.port, upgrade("/"));
    assert.equal(res.status, 503, JSON.stringify(limits));
    assert.match(res.headers.get("retry-after") ?? "", /^\d+$/);
    await gw.waitForEvent("reject", { status: "503" });
  }
});

Deno.test("X-Forwarded-For from trusted_proxies is appended to", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address], { top: { trusted_proxies: ["127.0.0.1"] } }),
  });
  await using c = await RawWs.open(gw.port, { request: upgrade("/", "X-Forwarded-For: 203.0.113.9") });
  assert.equal(c.response.status, 101);
  assert.equal(backend.requests.at(-1)!.headers.get("x-forwarded-for"), "203.0.113.9, 127.0.0.1");
});

// ---------------------------------------------------------------------------------------------
// §2 signals
// ---------------------------------------------------------------------------------------------

Deno.test("SIGTERM: stops accepting, lets the open tunnel finish, exits 0", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address], { top: { shutdown_timeout: "20s" } }),
  });
  const port = gw.port;
  const c = await openNodeWs(`ws://127.0.0.1:${port}/`);
  Deno.kill(gw.pid, "SIGTERM");
  await gw.waitForEvent("shutdown");
  await eventually(() => gw.records("listener_closed").length > 0, 5_000, "listener closed");
  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }).then((conn) => conn.close()));
  c.send("still open");
  assert.equal(await c.next(), "still open");
  await c[Symbol.asyncDispose]();
  const started = Date.now();
  const status = await gw.exited;
  assert.equal(status.code, 0);
  assert.ok(Date.now() - started < 10_000, "exits once the tunnel ended, not at shutdown_timeout");
});

Deno.test("SIGTERM: shutdown_timeout bounds the drain; exit 0", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address], { top: { shutdown_timeout: 1 } }),
  });
  await using c = await openNodeWs(`ws://127.0.0.1:${gw.port}/`);
  const status = await gw.stop("SIGTERM", 6_000);
  assert.equal(status.code, 0);
  await c.closed;
});

Deno.test("SIGINT once with nothing open: exit 0", async () => {
  await using gw = await startGateway({ args: ["--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1"] });
  assert.equal((await gw.stop("SIGINT", 5_000)).code, 0);
});

Deno.test("SIGINT twice: the second exits at once", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address], { top: { shutdown_timeout: "60s" } }),
  });
  await using _c = await openNodeWs(`ws://127.0.0.1:${gw.port}/`);
  Deno.kill(gw.pid, "SIGINT");
  await gw.waitForEvent("shutdown");
  const started = Date.now();
  const status = await gw.stop("SIGINT", 3_000);
  assert.notEqual(status.signal, "SIGKILL", "exited by itself");
  assert.ok(Date.now() - started < 3_000);
});

Deno.test("SIGHUP: an invalid config is rejected and the old one stays; a valid one applies to new connections only", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({ config: oneRouteConfig([backend.address]) });
  await using tunnel = await openNodeWs(`ws://127.0.0.1:${gw.port}/old`);
  await gw.writeConfig("servers: [\n  - nope: 1\n");
  Deno.kill(gw.pid, "SIGHUP");
  await gw.waitForEvent("reload_failed");
  await using again = await RawWs.open(gw.port, { request: upgrade("/old") });
  assert.equal(again.response.status, 101, "the old config still serves");

  await gw.writeConfig(
    toYaml({
      servers: [{ listen: ["127.0.0.1:0"], routes: [{ path: "/new/", upstream: "app" }] }],
      upstreams: { app: { servers: [backend.address] } },
    }),
  );
  Deno.kill(gw.pid, "SIGHUP");
  await gw.waitForEvent("reloaded");
  assert.equal((await ask(gw.port, upgrade("/old"))).status, 404);
  await using fresh = await RawWs.open(gw.port, { request: upgrade("/new/x") });
  assert.equal(fresh.response.status, 101);
  tunnel.send("untouched");
  assert.equal(await tunnel.next(), "untouched");
});

// ---------------------------------------------------------------------------------------------
// More rows an nginx user would try
// ---------------------------------------------------------------------------------------------

Deno.test("routing: hosts like server_name (port and case ignored), longest prefix wins in any order, exact ignores the query", async (t) => {
  await using a = await wsEchoBackend();
  await using b = await wsEchoBackend();
  await using gw = await startGateway({
    config: toYaml({
      servers: [{
        listen: "127.0.0.1:0", // one address as a string, as in config.example.yaml
        hosts: ["chat.example.com", "*.rooms.example.com"],
        routes: [
          { path: "/chat/", upstream: "b" },
          { path: "/", upstream: "a" },
          { path: "= /exact", upstream: "b" },
        ],
      }],
      upstreams: { a: { servers: [a.address] }, b: { servers: [b.address] } },
    }),
  });
  const cases: [string, string, "a" | "b" | 404][] = [
    ["chat.example.com", "/chat/x", "b"],
    ["chat.example.com:8020", "/chat/x", "b"],
    ["CHAT.Example.COM", "/x", "a"],
    ["blue.rooms.example.com", "/chat/", "b"],
    ["chat.example.com", "/chatroom", "a"],
    ["chat.example.com", "/exact?x=1", "b"],
    ["other.example.com", "/chat/x", 404],
    ["rooms.example.com", "/", 404],
  ];
  for (const [host, path, want] of cases) {
    await t.step(`Host ${host} ${path} -> ${want}`, async () => {
      const counts = [a.requests.length, b.requests.length];
      const request = head(`GET ${path} HTTP/1.1`, `Host: ${host}`, ...upgradeLines().slice(1));
      await using c = await RawWs.open(gw.port, { request });
      if (want === 404) return assert.equal(c.response.status, 404);
      assert.equal(c.response.status, 101);
      const to = a.requests.length > counts[0]! ? "a" : b.requests.length > counts[1]! ? "b" : "none";
      assert.equal(to, want);
    });
  }
});

Deno.test("cli: repeated --listen and --upstream: both listeners serve, round robin alternates", async () => {
  await using a = await wsEchoBackend();
  await using b = await wsEchoBackend();
  const [p1, p2] = [deadPort(), deadPort()];
  await using _gw = await startGateway({
    args: [
      "--listen",
      `127.0.0.1:${p1}`,
      "--listen",
      `127.0.0.1:${p2}`,
      "--upstream",
      a.address,
      "--upstream",
      b.address,
    ],
  });
  const order: string[] = [];
  for (const port of [p1, p2, p1, p2]) {
    const before = a.requests.length;
    await using c = await RawWs.open(port, { request: upgrade("/") });
    assert.equal(c.response.status, 101);
    order.push(a.requests.length > before ? "a" : "b");
  }
  assert.ok(order.join("") === "abab" || order.join("") === "baba", order.join(""));
});

Deno.test("cli: an unknown flag or a bad duration exits non-zero with a message and no stack trace", async () => {
  for (const args of [["--lisen", ":8020"], ["--idle-timeout", "soon", "--upstream", "127.0.0.1:1"]]) {
    const res = await runGateway(args);
    assert.notEqual(res.code, 0, args.join(" "));
    assert.ok((res.stdout + res.stderr).trim().length > 0);
    assert.doesNotMatch(res.stdout + res.stderr, /^\s+at /m, "no stack trace");
  }
});

Deno.test("cli: --idle-timeout takes a plain number of seconds", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    args: ["--listen", "127.0.0.1:0", "--upstream", backend.address, "--idle-timeout", "1"],
  });
  await using c = await RawWs.open(gw.port, { request: upgrade("/") });
  assert.equal(await c.next(6_000), null, "closed when idle");
});

Deno.test("SIGHUP with an ad-hoc flag config keeps serving", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({ args: ["--listen", "127.0.0.1:0", "--upstream", backend.address] });
  await using tunnel = await openNodeWs(`ws://127.0.0.1:${gw.port}/`);
  Deno.kill(gw.pid, "SIGHUP");
  await eventually(() => gw.lines.length > 0 && /reload/.test(gw.lines.at(-1) ?? ""), 5_000, "a reload line");
  tunnel.send("after hup");
  assert.equal(await tunnel.next(), "after hup");
  await using c = await RawWs.open(gw.port, { request: upgrade("/") });
  assert.equal(c.response.status, 101);
});

Deno.test("upstreams: TLS failure moves on to the next server; unix: and [::1]: upstream addresses", async () => {
  await using tlsBackend = await denoEchoBackend({
    tls: {
      cert: Deno.readTextFileSync(`${CERTS}backend.pem`),
      key: Deno.readTextFileSync(`${CERTS}backend-key.pem`),
    },
  });
  await using tmp = await tempDir();
  await using unix = await denoEchoBackend({ path: `${tmp.path}/be.sock` });
  const v6 = Deno.serve(
    { hostname: "::1", port: 0, onListen() {} },
    (req) => Deno.upgradeWebSocket(req).response,
  );
  await using gw = await startGateway({
    config: toYaml({
      servers: [{
        listen: ["127.0.0.1:0"],
        routes: [{ path: "/tls/", upstream: "tls" }, { path: "/unix/", upstream: "unix" }, {
          path: "/v6/",
          upstream: "v6",
        }],
      }],
      upstreams: {
        // 127.0.0.1 is not a name in backend.pem, so verification fails and the unix server takes it.
        tls: { servers: [`wss://${tlsBackend.address}`, unix.address], tls: { ca: "ca.pem" } },
        unix: { servers: [unix.address] },
        v6: { servers: [`[::1]:${v6.addr.port}`] },
      },
    }),
    files: { "ca.pem": CA_PEM },
  });
  try {
    for (const path of ["/tls/x", "/unix/x", "/v6/x"]) {
      await using c = await RawWs.open(gw.port, { request: upgrade(path) });
      assert.equal(c.response.status, 101, path);
    }
    assert.equal(tlsBackend.requests.length, 0);
    assert.ok(gw.records("upstream_failed").some((r) => r.fields.upstream?.includes(tlsBackend.address)));
  } finally {
    await v6.shutdown();
  }
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

Deno.test("config: hash_key with a balance other than hash is valid but unused, and the start says so", async () => {
  await using tmp = await tempDir();
  const file = `${tmp.path}/wsgate.yaml`;
  const config = oneRouteConfig(["127.0.0.1:1"], {
    upstream: { balance: "least_conn", hash_key: "header:X-User-Id" },
  });
  await Deno.writeTextFile(file, config);
  const res = await runGateway(["check", "--config", file]);
  assert.equal(res.code, 0, res.stderr);
  await using gw = await startGateway({ config });
  const warning = gw.lines.map(parseLogLine).find((r) => r?.event === "hash_key_unused");
  assert.ok(warning, gw.output());
  assert.equal(warning?.fields.balance, "least_conn");
});

Deno.test("access control per route (README): deny, allow_origins -> 403; dot-segments cannot dodge a route", async (t) => {
  await using open = await wsEchoBackend();
  await using guarded = await wsEchoBackend();
  await using gw = await startGateway({
    config: toYaml({
      servers: [{
        listen: ["127.0.0.1:0"],
        routes: [
          { path: "/public/", upstream: "open" },
          { path: "/admin/", upstream: "guarded", deny: ["127.0.0.1"] },
          { path: "/app/", upstream: "guarded", allow_origins: ["https://app.example.com"] },
        ],
      }],
      upstreams: { open: { servers: [open.address] }, guarded: { servers: [guarded.address] } },
    }),
  });
  const cases: [string, string[], number][] = [
    ["/admin/x", [], 403],
    ["/app/x", [], 403],
    ["/app/x", ["Origin: https://evil.example.net"], 403],
    ["/app/x", ["Origin: https://app.example.com"], 101],
    ["/public/x", [], 101],
  ];
  for (const [path, extra, status] of cases) {
    await t.step(`${path} ${extra.join(" ")} -> ${status}`, async () => {
      await using c = await RawWs.open(gw.port, { request: upgrade(path, ...extra) });
      assert.equal(c.response.status, status);
    });
  }
  await t.step({
    name: "/public/../admin/x is refused or routed as /admin/x (nginx normalises before `location`)",
    fn: async () => {
      for (const path of ["/public/../admin/x", "/public/%2e%2e/admin/x", "/public/./../admin/x"]) {
        await using c = await RawWs.open(gw.port, { request: upgrade(path) });
        assert.ok([400, 403].includes(c.response.status), `${path}: ${c.response.status}`);
      }
    },
  });
});

/** One route `/` to group `app` whose servers are written out (mappings allowed). */
const groupConfig = (servers: unknown[]) =>
  toYaml({
    servers: [{ listen: ["127.0.0.1:0"], routes: [{ path: "/", upstream: "app" }] }],
    upstreams: { app: { servers } },
  });

Deno.test("limits (README): max_conns full -> 503 Retry-After: 1; rate -> 429 + Retry-After; connection limits say Retry-After: 5", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: groupConfig([{ address: backend.address, max_conns: 1 }]),
  });
  await using first = await RawWs.open(gw.port, { request: upgrade("/") });
  assert.equal(first.response.status, 101);
  const full = await ask(gw.port, upgrade("/"));
  assert.equal(full.status, 503);
  assert.equal(full.headers.get("retry-after"), "1");

  await using gw2 = await startGateway({
    config: oneRouteConfig([backend.address], { top: { limits: { rate: 1, burst: 1 } } }),
  });
  await using ok = await RawWs.open(gw2.port, { request: upgrade("/") });
  assert.equal(ok.response.status, 101);
  const limited = await ask(gw2.port, upgrade("/"));
  assert.equal(limited.status, 429);
  assert.match(limited.headers.get("retry-after") ?? "", /^[1-9]\d*$/);

  await using gw3 = await startGateway({
    config: oneRouteConfig([backend.address], { top: { limits: { max_connections: 1 } } }),
  });
  await using _held = await RawWs.open(gw3.port, { request: upgrade("/") });
  assert.equal((await ask(gw3.port, upgrade("/"))).headers.get("retry-after"), "5");
});

Deno.test("upstreams (README): down servers are never used, backups only when no primary is left", async () => {
  await using backup = await wsEchoBackend();
  await using down = await wsEchoBackend();
  const servers = [
    { address: `127.0.0.1:${deadPort()}` },
    { address: down.address, down: true },
    { address: backup.address, backup: true },
  ];
  await using gw = await startGateway({ config: groupConfig(servers) });
  for (let i = 0; i < 3; i++) {
    await using c = await RawWs.open(gw.port, { request: upgrade("/") });
    assert.equal(c.response.status, 101);
  }
  assert.equal(down.requests.length, 0);
  assert.equal(backup.requests.length, 3);
});

Deno.test("max_headers (README): more header fields than max_headers -> 431", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address], { top: { limits: { max_headers: 10 } } }),
  });
  const many = Array.from({ length: 11 }, (_, i) => `X-H${i}: 1`);
  assert.equal((await ask(gw.port, head("GET / HTTP/1.1", "Host: gw.test", ...many))).status, 431);
});

Deno.test("admin (README): /healthz answers 503 once draining", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address], {
      top: { admin: { listen: "127.0.0.1:0" }, shutdown_timeout: "20s" },
    }),
  });
  assert.equal((await gw.admin("GET", "/healthz")).status, 200);
  await using c = await openNodeWs(`ws://127.0.0.1:${gw.port}/`); // keeps the drain going
  Deno.kill(gw.pid, "SIGTERM");
  await gw.waitForEvent("shutdown");
  assert.equal((await gw.admin("GET", "/healthz")).status, 503);
  await c[Symbol.asyncDispose]();
  assert.equal((await gw.exited).code, 0);
});

Deno.test("config.example.yaml (the commented reference) passes check", async () => {
  const res = await runGateway(["check", "--config", `${REPO}config.example.yaml`]);
  assert.equal(res.code, 0, res.stdout + res.stderr);
});

Deno.test("a listen address already in use: exit non-zero, no stack trace", async () => {
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const res = await runGateway(["--listen", `127.0.0.1:${busy.addr.port}`, "--upstream", "127.0.0.1:1"]);
    assert.notEqual(res.code, 0);
    assert.doesNotMatch(res.stdout + res.stderr, /^\s+at /m);
  } finally {
    busy.close();
  }
});

Deno.test("route read_timeout: nothing from the upstream for that long closes the tunnel, client traffic or not", async () => {
  await using raw = rawBackend(async (peer) => {
    await peer.write(switching(peer.head));
    await peer.reader.readToEnd(10_000); // reads, never answers
  });
  await using gw = await startGateway({
    config: oneRouteConfig([raw.address], { route: { read_timeout: 1 } }),
  });
  await using c = await RawWs.open(gw.port, { request: upgrade("/") });
  const started = Date.now();
  const timer = setInterval(() => c.sendText("tick").catch(() => {}), 200);
  try {
    assert.equal(await c.next(6_000), null);
  } finally {
    clearInterval(timer);
  }
  const elapsed = Date.now() - started;
  assert.ok(elapsed > 700 && elapsed < 5_000, `closed after ${elapsed} ms`);
});

Deno.test("an upgrade followed at once by data and FIN still gets its 101 and the answer", async () => {
  await using raw = rawBackend(async (peer) => {
    await peer.write(switching(peer.head));
    const got = await peer.reader.readToEnd(5_000);
    await peer.write(`got:${text(got)}`);
  });
  await using gw = await startGateway({ args: ["--listen", "127.0.0.1:0", "--upstream", raw.address] });
  const conn = await dial(gw.port);
  const reader = new ByteReader(conn);
  try {
    await writeAll(conn, bytes(upgrade("/") + "abc"));
    await conn.closeWrite();
    const answer = text(await reader.readToEnd(5_000));
    assert.match(answer, /^HTTP\/1\.1 101 /);
    assert.ok(answer.endsWith("\r\n\r\ngot:abc"), JSON.stringify(answer));
  } finally {
    await reader.close();
  }
});

Deno.test("cli: --config FILE with --log-format json and --admin (DESIGN §2: `wsgate [--config FILE] [flags]`)", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address]),
    args: ["--log-format", "json", "--admin", "127.0.0.1:0"],
  });
  assert.ok(gw.lines.every((l) => l.startsWith("{")), gw.output());
  assert.ok(gw.lines.some((l) => parseLogLine(l)?.event === "admin_listening"), gw.output());
  // Flags that build a route still conflict with a file, and say which.
  await using tmp = await tempDir();
  await Deno.writeTextFile(`${tmp.path}/wsgate.yaml`, oneRouteConfig([backend.address]));
  const res = await runGateway(["--config", `${tmp.path}/wsgate.yaml`, "--upstream", "127.0.0.1:1"]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /--config cannot be combined with --upstream/);
});

Deno.test("plain HTTP through a real server: 1 MiB body each way with fetch", async () => {
  await using backend = await denoEchoBackend();
  await using gw = await startGateway({ args: ["--listen", "127.0.0.1:0", "--upstream", backend.address] });
  const body = randomBytes(1024 * 1024);
  const res = await fetch(`http://127.0.0.1:${gw.port}/upload?x=1`, {
    method: "POST",
    body: new Blob([body.slice()]),
  });
  const got = new Uint8Array(await res.arrayBuffer());
  assert.equal(res.status, 200);
  const prefix = bytes(`POST /upload?x=1 ${body.length}\n`);
  assert.deepEqual(got.subarray(0, prefix.length), prefix);
  assert.deepEqual(got.subarray(prefix.length), body);
});
