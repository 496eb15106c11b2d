/**
 * Routes with `websocket: { track_frames: true }` end to end, with real WebSocket peers (npm `ws`,
 * Deno's WebSocket, a raw socket, a stopped process): wsgate's keepalive pings never reach an
 * application, dead clients are reaped, shutdown closes every tunnel with 1001 spread over
 * close_spread, and fragmented compressed messages with pings in between pass intact.
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { rawBackend, switching, wsEchoBackend } from "./_backends.ts";
import { type NodeWs, openDenoWs, openNodeWs, RawWs, type WsClient } from "./_clients.ts";
import { eventually, type Gateway, oneRouteConfig, parseLogLine, startGateway, tempDir } from "./_harness.ts";
import {
  ByteReader,
  bytes,
  concat,
  encodeFrame,
  Opcode,
  readFrame,
  text,
  upgradeRequest,
  writeAll,
} from "./_wire.ts";
import { KEEPALIVE_LENGTH } from "../../lib/net/ws_frames.ts";

/** The parts of npm `ws` beyond what _clients.ts declares: control frames and fragmented sends. */
interface WsControl {
  on(event: "ping" | "pong", listener: (payload: Uint8Array) => void): void;
  ping(payload: string): void;
  pong(payload: Uint8Array): void;
  send(data: string | Uint8Array, options: { fin?: boolean; compress?: boolean; binary?: boolean }): void;
}
const control = (ws: NodeWs) => ws as unknown as WsControl;

/** wsgate's keepalive Pings carry KEEPALIVE_LENGTH random bytes; the tests' own payloads are shorter. */
const isKeepalive = (payload: Uint8Array) => payload.length === KEEPALIVE_LENGTH;

/** Every Ping and Pong a `ws` endpoint received, the Pings split into wsgate's keepalives and the rest. */
function countControls(ws: NodeWs) {
  const seen = { keepalivePings: 0, otherPings: [] as string[], pongs: [] as string[] };
  control(ws).on("ping", (p) => isKeepalive(p) ? seen.keepalivePings++ : seen.otherPings.push(text(p)));
  control(ws).on("pong", (p) => seen.pongs.push(text(p)));
  return seen;
}

function trackedConfig(
  backend: string,
  websocket: Record<string, unknown>,
  top: Record<string, unknown> = {},
) {
  return oneRouteConfig([backend], { route: { websocket: { track_frames: true, ...websocket } }, top });
}

function accessOf(gw: Gateway, path: string) {
  return gw.records("access").find((r) => r.fields.path === path)?.fields;
}

Deno.test("ws tracking: applications never see wsgate's pings or pongs; counters reach the log and /metrics", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: trackedConfig(backend.address, { ping_interval: "200ms", ping_timeout: "2s" }, {
      admin: { listen: "127.0.0.1:0" },
    }),
  });
  await using client = await openNodeWs(`ws://127.0.0.1:${gw.port}/count`);
  const atClient = countControls(client.raw);
  await eventually(() => backend.sockets.length === 1, 2_000, "backend connection");
  const atBackend = countControls(backend.sockets[0]!);
  control(client.raw).ping("app ping");
  for (let i = 0; i < 4; i++) {
    client.send(`message ${i}`);
    assert.equal(await client.next(), `message ${i}`);
    // Silence on both sides until wsgate has pinged each of them once more.
    const [client0, backend0] = [atClient.keepalivePings, atBackend.keepalivePings];
    await eventually(
      () => atClient.keepalivePings > client0 && atBackend.keepalivePings > backend0,
      3_000,
      `keepalive round ${i}`,
    );
  }
  await eventually(() => atClient.pongs.length === 1, 2_000, "the application's own pong");
  client.close(1000, "bye");
  assert.equal((await client.closed).code, 1000);
  await gw.waitForEvent("access", { path: "/count" });

  assert.ok(atClient.keepalivePings >= 2, `client answered ${atClient.keepalivePings} keepalive pings`);
  assert.ok(atBackend.keepalivePings >= 2, `backend answered ${atBackend.keepalivePings} keepalive pings`);
  assert.deepEqual(atBackend.otherPings, ["app ping"], "the application's ping passes");
  assert.deepEqual(atClient.pongs, ["app ping"], "only the answer to its own ping reaches the client");
  assert.deepEqual(atBackend.pongs, [], "the client's answers to wsgate never reach the backend");
  assert.deepEqual(atClient.otherPings, []);
  const access = accessOf(gw, "/count");
  assert.equal(access?.up_messages, "4");
  assert.equal(access?.down_messages, "4");
  const metrics = text((await gw.admin("GET", "/metrics")).body);
  assert.match(metrics, /^# TYPE wsgate_messages_total counter$/m);
  assert.match(metrics, /^wsgate_messages_total\{direction="up"\} 4$/m);
  assert.match(metrics, /^wsgate_messages_total\{direction="down"\} 4$/m);
});

Deno.test("ws tracking: an application's own Pongs pass, even ones shaped like wsgate's old keepalives", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: trackedConfig(backend.address, { ping_interval: "200ms", ping_timeout: "2s" }),
  });
  await using client = await openNodeWs(`ws://127.0.0.1:${gw.port}/pongs`);
  const atClient = countControls(client.raw);
  await eventually(() => backend.sockets.length === 1, 2_000, "backend connection");
  const atBackend = countControls(backend.sockets[0]!);
  await eventually(
    () => atClient.keepalivePings >= 1 && atBackend.keepalivePings >= 1,
    3_000,
    "wsgate pinged both sides",
  );
  // Unsolicited Pongs (RFC 6455 §5.5.3: a heartbeat): wsgate's former payload ("wsgate" 0x00 0x01
  // and a counter), and the same prefix padded to the length of wsgate's payloads now.
  const oldStyle = "wsgate\x00\x01\x00\x00\x00\x01";
  const sameLength = "wsgate\x00\x01".padEnd(KEEPALIVE_LENGTH, "\x00");
  control(backend.sockets[0]!).pong(bytes(oldStyle));
  control(backend.sockets[0]!).pong(bytes(sameLength));
  client.send("after the pongs");
  assert.equal(await client.next(), "after the pongs");
  await eventually(() => atClient.pongs.length === 2, 2_000, "the backend's pongs at the client");
  assert.deepEqual(atClient.pongs, [oldStyle, sameLength]);
  // More keepalive rounds, all answered out of sight.
  const [client0, backend0] = [atClient.keepalivePings, atBackend.keepalivePings];
  await eventually(
    () => atClient.keepalivePings >= client0 + 2 && atBackend.keepalivePings >= backend0 + 2,
    3_000,
    "two more keepalive rounds",
  );
  assert.deepEqual(atBackend.pongs, [], "the client's answers to wsgate never reach the backend");
  assert.deepEqual(atClient.pongs, [oldStyle, sameLength], "the backend's answers never reach the client");
  assert.deepEqual([atClient.otherPings, atBackend.otherPings], [[], []]);
  client.close(1000);
  const access = (await gw.waitForEvent("access", { path: "/pongs" })).fields;
  assert.equal(access.reason, undefined, "a clean close, nobody reaped");
});

Deno.test("ws tracking: clients that stop answering are reaped within ping_interval + ping_timeout", async (t) => {
  const interval = 500;
  const timeout = 500;
  // The watchdog sweeps every 250 ms: a ping and the verdict can each come up to one sweep late.
  const slack = 2 * 250 + 250;
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: trackedConfig(backend.address, { ping_interval: `${interval}ms`, ping_timeout: `${timeout}ms` }),
  });

  const reaped = async (path: string, opened: number) => {
    const record = await gw.waitForEvent("access", { path }, interval + timeout + slack + 2_000);
    const elapsed = Date.now() - opened;
    assert.equal(record.fields.reason, "client_ping_timeout");
    assert.equal(record.fields.close_code, "1001");
    assert.ok(elapsed >= interval + timeout - 50, `reaped after ${elapsed} ms`);
    assert.ok(elapsed <= interval + timeout + slack, `reaped after ${elapsed} ms`);
    await gw.waitForEvent("ws_close", { id: record.fields.id!, reason: "client_ping_timeout" });
  };

  await t.step("a raw socket that ignores pings", async () => {
    await using client = await RawWs.open(gw.port, { path: "/raw-deaf" });
    const opened = Date.now();
    const closes = backend.closes.length;
    await reaped("/raw-deaf", opened);
    await eventually(() => backend.closes.length > closes, 2_000, "backend close");
    assert.deepEqual(backend.closes.at(-1), { code: 1001, reason: "client not responding" });
    const frame = await client.next(2_000);
    assert.equal(frame?.opcode, Opcode.ping, "the silent client was pinged");
    assert.ok(isKeepalive(frame.payload));
  });

  await t.step("a Deno WebSocket client whose process is stopped (SIGSTOP)", async () => {
    const script = `const ws = new WebSocket("ws://127.0.0.1:${gw.port}/stopped");
      ws.onopen = () => console.log("open"); setInterval(() => {}, 1000);`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", script],
      stdout: "piped",
      stderr: "null",
    })
      .spawn();
    try {
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      const { value } = await reader.read();
      assert.equal(value?.trim(), "open");
      await reader.cancel();
      const opened = Date.now();
      const closes = backend.closes.length;
      Deno.kill(child.pid, "SIGSTOP");
      await reaped("/stopped", opened);
      await eventually(() => backend.closes.length > closes, 2_000, "backend close");
      assert.deepEqual(backend.closes.at(-1), { code: 1001, reason: "client not responding" });
    } finally {
      child.kill("SIGKILL");
      await child.status;
    }
  });
});

Deno.test("ws tracking: shutdown closes 200 tunnels with 1001 (never 1006), spread over close_spread", async () => {
  const spread = 2_000;
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: trackedConfig(backend.address, {}, { close_spread: `${spread}ms`, shutdown_timeout: "10s" }),
  });
  const url = `ws://127.0.0.1:${gw.port}/fleet`;
  const clients: WsClient[] = [];
  for (let i = 0; i < 200; i += 20) {
    const batch = Array.from({ length: 20 }, (_, j) => (i + j) % 2 ? openNodeWs(url) : openDenoWs(url));
    clients.push(...await Promise.all(batch));
  }
  try {
    await Promise.all(clients.map(async (client, i) => {
      client.send(`hello ${i}`);
      assert.equal(await client.next(), `hello ${i}`);
    }));
    const stopped = Date.now();
    const closedAt = clients.map((client) =>
      client.closed.then((info) => ({ ...info, at: Date.now() - stopped }))
    );
    const status = await gw.stop("SIGTERM", 10_000);
    const closes = await Promise.all(closedAt);
    assert.equal(status.code, 0);
    assert.deepEqual(
      new Set(closes.map((c) => `${c.code} ${c.reason}`)),
      new Set(["1001 proxy shutting down"]),
    );
    const times = closes.map((c) => c.at).sort((a, b) => a - b);
    assert.ok(times[0]! < spread / 4, `first close after ${times[0]} ms`);
    assert.ok(times.at(-1)! > (spread * 3) / 4, `last close after ${times.at(-1)} ms`);
    assert.ok(times.at(-1)! < spread + 1_500, `last close after ${times.at(-1)} ms`);
    const buckets = new Set(times.map((ms) => Math.min(4, Math.floor(ms / (spread / 5)))));
    assert.equal(buckets.size, 5, `closes in every fifth of the window: ${times.join(",")}`);
    await eventually(() => backend.closes.length === 200, 3_000, "backend closes");
    assert.ok(backend.closes.every((c) => c.code === 1001), "the backend got 1001 too");
    const stoppedLine = gw.lines.map(parseLogLine).find((r) => r?.event === "stopped");
    assert.equal(stoppedLine?.fields.forced, "0");
  } finally {
    await Promise.all(clients.map((client) => client[Symbol.asyncDispose]()));
  }
});

Deno.test("ws tracking: fragmented, compressed messages with pings in between pass intact", async () => {
  await using backend = await wsEchoBackend({ perMessageDeflate: true });
  await using gw = await startGateway({
    config: trackedConfig(backend.address, { ping_interval: "200ms", ping_timeout: "2s" }),
  });
  await using client = await openNodeWs(`ws://127.0.0.1:${gw.port}/deflate`, { perMessageDeflate: true });
  assert.match(client.extensions, /permessage-deflate/);
  const atClient = countControls(client.raw);
  await eventually(() => backend.sockets.length === 1, 2_000, "backend connection");
  const atBackend = countControls(backend.sockets[0]!);
  const parts = ["first part, ", "x".repeat(70_000), " and the end"];
  for (const [i, part] of parts.entries()) {
    control(client.raw).send(part, { fin: i === parts.length - 1, compress: true });
    control(client.raw).ping(`between ${i}`);
    // Until wsgate's keepalive pings landed mid-message, on both sides.
    const [client0, backend0] = [atClient.keepalivePings, atBackend.keepalivePings];
    await eventually(
      () => atClient.keepalivePings > client0 && atBackend.keepalivePings > backend0,
      3_000,
      `keepalive pings inside part ${i}`,
    );
  }
  assert.equal(await client.next(), parts.join(""));
  const binary = crypto.getRandomValues(new Uint8Array(4_096));
  client.send(binary);
  assert.deepEqual(await client.next(), binary);
  assert.deepEqual(atBackend.otherPings, ["between 0", "between 1", "between 2"]);
  assert.ok(
    atBackend.keepalivePings >= 1 && atClient.keepalivePings >= 1,
    "wsgate pinged during the message",
  );
  assert.deepEqual(atBackend.pongs, []);
  await eventually(() => atClient.pongs.length === 3, 2_000, "the application's pongs");
  client.close(1000);
  const access = (await gw.waitForEvent("access", { path: "/deflate" })).fields;
  assert.deepEqual([access.up_messages, access.down_messages], ["2", "2"]);
  assert.equal(access.reason, undefined, "no protocol error");
});

const CHROMIUM = "/usr/bin/chromium";

Deno.test("ws tracking: headless Chromium answers wsgate's pings unseen and gets a clean 1001 on shutdown", async () => {
  await Deno.stat(CHROMIUM).catch(() => {
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
  });
  // Chromium offers permessage-deflate: its messages cross the tracker compressed (RSV1).
  await using backend = await wsEchoBackend({ perMessageDeflate: true });
  await using gw = await startGateway({
    config: trackedConfig(backend.address, { ping_interval: "200ms", ping_timeout: "2s" }, {
      shutdown_timeout: "5s",
    }),
  });
  await using tmp = await tempDir();
  const browser = await chromium.launchPersistentContext(`${tmp.path}/profile`, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--no-first-run",
    ],
  });
  try {
    const page = await browser.newPage();
    const opened = page.evaluate(`new Promise((resolve, reject) => {
      const ws = new WebSocket("ws://127.0.0.1:${gw.port}/browser");
      globalThis.seen = { messages: [], close: null };
      ws.onmessage = (e) => seen.messages.push(e.data);
      ws.onclose = (e) => seen.close = { code: e.code, reason: e.reason, clean: e.wasClean };
      ws.onopen = () => { globalThis.ws = ws; resolve(ws.extensions); };
      ws.onerror = () => reject(new Error("WebSocket error"));
    })`);
    assert.match(String(await opened), /permessage-deflate/);
    await eventually(() => backend.sockets.length === 1, 2_000, "backend connection");
    const atBackend = countControls(backend.sockets[0]!);
    for (let i = 0; i < 3; i++) {
      await page.evaluate(`ws.send("browser message ${i} " + "y".repeat(2000))`);
      // Quiet until wsgate pinged the backend once more (the browser answers its own out of sight).
      const backend0 = atBackend.keepalivePings;
      await eventually(() => atBackend.keepalivePings > backend0, 3_000, `keepalive round ${i}`);
    }
    await page.waitForFunction("seen.messages.length === 3", null, { timeout: 5_000 });
    assert.ok(atBackend.keepalivePings >= 2, `backend answered ${atBackend.keepalivePings} keepalive pings`);
    assert.deepEqual(atBackend.pongs, [], "the browser's answers to wsgate never reach the backend");
    const status = await gw.stop("SIGTERM", 8_000);
    assert.equal(status.code, 0);
    await page.waitForFunction("seen.close !== null", null, { timeout: 5_000 });
    assert.deepEqual(await page.evaluate("seen.close"), {
      code: 1001,
      reason: "proxy shutting down",
      clean: true,
    });
    const messages = await page.evaluate("seen.messages") as string[];
    assert.deepEqual(messages, [0, 1, 2].map((i) => `browser message ${i} ${"y".repeat(2000)}`));
    const access = accessOf(gw, "/browser");
    assert.deepEqual([access?.up_messages, access?.down_messages, access?.close_code], ["3", "3", "1001"]);
  } finally {
    await browser.close();
  }
});

Deno.test("ws tracking: a frame that starts in the 101's own write is followed from its first byte, both ways", async () => {
  const payload = crypto.getRandomValues(new Uint8Array(65_000));
  const frame = encodeFrame(Opcode.binary, payload, { mask: false });
  const cut = 1_000;
  await using backend = rawBackend(async (peer) => {
    // The 101 and the start of a frame in one write; the rest once the client spoke.
    await peer.write(concat([bytes(switching(peer.head)), frame.subarray(0, cut)]));
    const early = await readFrame(peer.reader, 5_000);
    assert.equal(text(early!.payload), "early from the client");
    await peer.write(frame.subarray(cut));
    await peer.closing;
  });
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address], { route: { websocket: { track_frames: true } } }),
  });
  // The client's first frame comes in the same write as its head: held, then tracked too.
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: gw.port });
  const reader = new ByteReader(conn);
  try {
    const early = encodeFrame(Opcode.text, bytes("early from the client"));
    await writeAll(conn, concat([bytes(upgradeRequest()), early]));
    assert.match((await reader.readHead(5_000)) ?? "", /^HTTP\/1\.1 101 /);
    const got = await readFrame(reader, 5_000);
    const why = got?.opcode === Opcode.close ? text(got.payload.subarray(2)) : "";
    assert.equal(got?.opcode, Opcode.binary, `a binary frame, not a Close (${why})`);
    assert.deepEqual(got!.payload, payload);
  } finally {
    await reader.close();
  }
  assert.equal(gw.records("ws_close").length, 0, "no protocol error");
  assert.deepEqual(backend.errors, []);
});
