/**
 * Limits end to end: connection counts (global and per client IP, idle sockets and open tunnels
 * alike) -> 503 + Retry-After, the handshake rate -> 429, head size and time limits, the
 * open-files limit raised at start, and a process out of file descriptors that keeps running and
 * recovers. A server's max_conns is in balance_test.ts.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { denoEchoBackend } from "./_backends.ts";
import { RawWs } from "./_clients.ts";
import { eventually, oneRouteConfig, startGateway } from "./_harness.ts";
import { CRLF, parseResponse } from "./_wire.ts";
import { exchange, expectRefusal, requestFrom } from "./_security.ts";

const GET = `GET / HTTP/1.1${CRLF}Host: h${CRLF}Connection: close${CRLF}${CRLF}`;

/** Connections that sent nothing yet: each holds a slot until it is closed. */
async function idle(n: number, port: number): Promise<Deno.Conn[]> {
  const conns = [];
  for (let i = 0; i < n; i++) conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
  return conns;
}

/** An idle connection from another loopback address (Deno.connect cannot choose its source). */
function idleFrom(localAddress: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port, localAddress }, () => resolve(socket));
    socket.on("error", reject);
  });
}

function closeAll(conns: Deno.Conn[]): void {
  for (const conn of conns) conn.close();
}

/** Retries `GET` until it is answered `status` (a released slot is seen a moment after the close). */
async function eventuallyStatus(port: number, status: number): Promise<void> {
  let last = 0;
  const answered = async () => (last = (await exchange(port, GET)).response?.status ?? 0) === status;
  await eventually(answered, 5_000, `GET answered ${status}`).catch(() => {});
  assert.equal(last, status, "the last answer");
}

/** An open tunnel: it holds a connection slot like any other client connection. */
async function tunnel(port: number): Promise<RawWs> {
  const ws = await RawWs.open(port, { path: "/tunnel" });
  assert.equal(ws.response.status, 101);
  return ws;
}

Deno.test("limits: over max_connections -> 503 with Retry-After, served again once a slot frees", async () => {
  await using backend = await denoEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address], { top: { limits: { max_connections: 3 } } }),
  });
  await using _open = await tunnel(gw.port);
  const held = await idle(2, gw.port);
  try {
    const refused = await exchange(gw.port, GET);
    assert.equal(refused.response?.status, 503);
    assert.equal(refused.response?.headers.get("retry-after"), "5");
    assert.equal(refused.closed, true);
    const logged = await gw.waitForEvent("reject", { status: "503" });
    assert.match(logged.fields.reason ?? "", /over max_connections \(3\)/);
  } finally {
    closeAll(held.splice(0, 1));
  }
  await eventuallyStatus(gw.port, 200);
  closeAll(held);
});

Deno.test("limits: over max_connections_per_ip -> 503 for that IP only", async () => {
  await using backend = await denoEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address], { top: { limits: { max_connections_per_ip: 2 } } }),
  });
  await using _open = await tunnel(gw.port);
  const held = await idle(1, gw.port);
  try {
    const refused = await exchange(gw.port, GET);
    assert.equal(refused.response?.status, 503);
    assert.equal(refused.response?.headers.get("retry-after"), "5");
    assert.match((await gw.waitForEvent("reject", { status: "503" })).fields.reason ?? "", /127\.0\.0\.1/);
    // Another client address is not affected.
    const other = parseResponse(await requestFrom("127.0.0.2", gw.port, GET));
    assert.equal(other.status, 200);
    assert.equal(backend.requests.at(-1)?.headers.get("x-real-ip"), "127.0.0.2");
  } finally {
    closeAll(held);
  }
  await eventuallyStatus(gw.port, 200);
});

Deno.test("limits: an IP's open connections stay counted while the counters of 1,100 passing IPs are swept", async () => {
  await using backend = await denoEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address], { top: { limits: { max_connections_per_ip: 2 } } }),
  });
  const held = await idle(2, gw.port);
  try {
    // More passing clients than the idle counters kept (1,024): a sweep runs in between.
    for (let i = 0; i < 1_100; i++) {
      const source = `127.1.${i >> 8}.${i & 255}`;
      assert.equal(parseResponse(await requestFrom(source, gw.port, GET)).status, 200, source);
    }
    assert.equal((await exchange(gw.port, GET)).response?.status, 503, "127.0.0.1 still has two open");
    closeAll(held.splice(0, 1));
    await eventuallyStatus(gw.port, 200);
  } finally {
    closeAll(held);
  }
  // A swept IP that comes back is counted from zero: two may connect, a third may not.
  const back = await Promise.all([0, 1].map(() => idleFrom("127.1.0.1", gw.port)));
  try {
    assert.equal(parseResponse(await requestFrom("127.1.0.1", gw.port, GET)).status, 503);
  } finally {
    for (const socket of back) socket.destroy();
  }
});

Deno.test("limits: over the handshake rate -> 429 with Retry-After; the bucket refills", async () => {
  await using backend = await denoEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address], { top: { limits: { rate: 2, burst: 2 } } }),
  });
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push((await exchange(gw.port, GET)).response?.status);
  assert.deepEqual(statuses, [200, 200, 429]);
  const refused = await exchange(gw.port, GET);
  assert.equal(refused.response?.status, 429);
  assert.equal(refused.response?.headers.get("retry-after"), "1");
  assert.match(
    (await gw.waitForEvent("reject", { status: "429" })).fields.reason ?? "",
    /handshake rate \(2\/s\)/,
  );
  // Another IP has its own bucket.
  assert.equal(parseResponse(await requestFrom("127.0.0.2", gw.port, GET)).status, 200);
  // 2/s: a token is back within 500 ms.
  await eventually(
    async () => (await exchange(gw.port, GET)).response?.status === 200,
    5_000,
    "bucket refills",
  );
});

Deno.test("limits: head size, header count, request line and handshake_timeout", async (t) => {
  await using backend = await denoEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address], {
      top: {
        limits: { max_head_bytes: 2_048, max_headers: 5, max_request_line: 512, handshake_timeout: "1s" },
      },
    }),
  });
  const reached = () => backend.requests.length;
  const refusals: [string, string, number][] = [
    [
      "request line over max_request_line -> 414",
      `GET /${"a".repeat(600)} HTTP/1.1${CRLF}Host: h${CRLF}${CRLF}`,
      414,
    ],
    [
      "head over max_head_bytes -> 431",
      `GET / HTTP/1.1${CRLF}Host: h${CRLF}X-A: ${"b".repeat(2_100)}${CRLF}${CRLF}`,
      431,
    ],
    [
      "more than max_headers -> 431",
      `GET / HTTP/1.1${CRLF}Host: h${CRLF}${
        ["A", "B", "C", "D", "E"].map((n) => `X-${n}: 1${CRLF}`).join("")
      }${CRLF}`,
      431,
    ],
  ];
  for (const [name, request, status] of refusals) {
    await t.step(name, async () => {
      await expectRefusal(gw, request, status, { reached });
    });
  }
  await t.step("within every limit -> 200", async () => {
    const outcome = await exchange(gw.port, `GET /${"a".repeat(400)} HTTP/1.1${CRLF}Host: h${CRLF}${CRLF}`);
    assert.equal(outcome.response?.status, 200);
  });
  await t.step("an incomplete head -> 408 at handshake_timeout, closed", async () => {
    const started = Date.now();
    await expectRefusal(gw, `GET / HTTP/1.1${CRLF}Host: h${CRLF}Upgr`, 408, { reached, timeoutMs: 5_000 });
    const took = Date.now() - started;
    assert.ok(took >= 950 && took < 2_500, `408 after ${took} ms`);
  });
});

function limitsOf(pid: number): { soft: number; hard: number } {
  const line = Deno.readTextFileSync(`/proc/${pid}/limits`).split("\n").find((l) =>
    l.startsWith("Max open files")
  );
  const [soft = "", hard = ""] = line?.split(/\s{2,}/).slice(1) ?? [];
  return { soft: Number(soft), hard: Number(hard) };
}

Deno.test("limits: the open-files soft limit is raised to the hard limit at start and logged", async () => {
  await using gw = await startGateway({
    args: ["--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1"],
    wrap: ["prlimit", "--nofile=512:4096", "--"],
  });
  const actual = limitsOf(gw.pid);
  assert.deepEqual(actual, { soft: 4096, hard: 4096 });
  const logged = await gw.waitForEvent("open_files_limit");
  assert.deepEqual(logged.fields, { soft: "4096", hard: "4096" });
});

Deno.test("limits: out of file descriptors, it backs off, logs once, and recovers", async () => {
  await using backend = await denoEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address]),
    wrap: ["prlimit", "--nofile=96:96", "--"],
  });
  const held: Deno.Conn[] = [];
  try {
    // More connections than descriptors: the kernel queues the rest, or the gateway sheds them.
    for (let i = 0; i < 120; i++) {
      // Bun sheds the connections it has no descriptors for: those are reset at once.
      await Deno.connect({ hostname: "127.0.0.1", port: gw.port }).then((c) => held.push(c), () => {});
    }
    await gw.waitForEvent("accept_failed", {}, 5_000);
    const stat = () => Deno.readTextFileSync(`/proc/${gw.pid}/stat`).split(") ")[1]!.split(" ");
    const cpu = () => Number(stat()[11]) + Number(stat()[12]);
    const before = cpu();
    await new Promise((r) => setTimeout(r, 1_000));
    const ticks = cpu() - before;
    assert.ok(ticks < 30, `accept backs off instead of spinning: ${ticks} CPU ticks in 1 s`);
  } finally {
    closeAll(held);
  }
  await eventuallyStatus(gw.port, 200);
  await gw.waitForEvent("accept_recovered");
  assert.equal(gw.records("accept_failed").length, 1, "logged once per run of failures");
});
