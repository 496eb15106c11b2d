/**
 * Slowloris (run by `deno task soak`, not by the main suite): 1,000 clients from ten other
 * loopback addresses each send one byte of a request head per second. Every good client still
 * gets its 101 within 1 s, every slow one gets 408 when handshake_timeout runs out, and the
 * gateway's descriptors come back to where they were. Default limits otherwise.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { wsEchoBackend } from "../tests/e2e/_backends.ts";
import { RawWs } from "../tests/e2e/_clients.ts";
import { oneRouteConfig, startGateway } from "../tests/e2e/_harness.ts";
import { fdCount, fdsBackTo } from "../tests/e2e/_security.ts";

const SLOW_CLIENTS = 1_000;
const TIMEOUT_MS = 5_000;
const HEAD = "GET / HTTP/1.1\r\nHost: slow.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";

interface Slow {
  done: Promise<{ status: string; afterMs: number }>;
}

/** One byte per second until the gateway answers (or closes); resolves with what it said, and when. */
function slowClient(port: number, localAddress: string): Slow {
  const done = new Promise<{ status: string; afterMs: number }>((resolve) => {
    // From before the dial: the gateway's handshake_timeout runs from its accept, which with a
    // thousand dials at once can come well before this client's connect callback.
    const dialledAt = Date.now();
    let sent = 0;
    let received = "";
    let timer: ReturnType<typeof setInterval> | undefined;
    const socket = net.connect({ host: "127.0.0.1", port, localAddress }, () => {
      const drip = () => {
        if (sent < HEAD.length) socket.write(HEAD[sent++]!);
      };
      drip();
      timer = setInterval(drip, 1_000);
    });
    const finish = () => {
      clearInterval(timer);
      const status = /^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? "closed";
      resolve({ status, afterMs: Date.now() - dialledAt });
    };
    socket.on("data", (chunk: Uint8Array) => received += new TextDecoder().decode(chunk));
    socket.on("error", () => {});
    socket.on("close", finish);
  });
  return { done };
}

Deno.test(`slowloris: ${SLOW_CLIENTS} one-byte-per-second clients do not starve good ones`, async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address], { top: { limits: { handshake_timeout: `${TIMEOUT_MS}ms` } } }),
  });
  {
    await using warm = await RawWs.open(gw.port);
    assert.equal(warm.response.status, 101);
  }
  await new Promise((r) => setTimeout(r, 200));
  const baseline = fdCount(gw.pid);

  const slow: Slow[] = [];
  for (let i = 0; i < SLOW_CLIENTS; i++) {
    // Ten addresses, 100 clients each: under the default per-IP limit, as real attackers spread out.
    slow.push(slowClient(gw.port, `127.0.0.${2 + (i % 10)}`));
    if (i % 100 === 99) await new Promise((r) => setTimeout(r, 20));
  }
  // While they drip, good clients come and go.
  const waits: number[] = [];
  const until = Date.now() + TIMEOUT_MS - 500;
  while (Date.now() < until) {
    const started = Date.now();
    await using ws = await RawWs.open(gw.port, { timeoutMs: 1_000 });
    waits.push(Date.now() - started);
    assert.equal(ws.response.status, 101);
    await ws.sendText("hi");
    assert.ok(await ws.next(1_000));
    await new Promise((r) => setTimeout(r, 200));
  }
  const results = await Promise.all(slow.map((s) => s.done));
  const statuses = new Map<string, number>();
  for (const r of results) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
  const times = results.map((r) => r.afterMs).sort((a, b) => a - b);
  console.log(
    `slowloris: good handshakes ${waits.length}, slowest ${Math.max(...waits)} ms; slow clients ` +
      `${JSON.stringify(Object.fromEntries(statuses))}, 408 after ${times[0]}..${times.at(-1)} ms`,
  );
  assert.ok(Math.max(...waits) < 1_000, `every good client got its 101 within 1 s: ${waits}`);
  assert.deepEqual(Object.fromEntries(statuses), { "408": SLOW_CLIENTS });
  assert.ok(times[0]! >= TIMEOUT_MS - 100, `no 408 before handshake_timeout (${times[0]} ms)`);
  assert.ok(times.at(-1)! <= TIMEOUT_MS + 1_500, `every 408 close to handshake_timeout (${times.at(-1)} ms)`);
  await fdsBackTo(gw, baseline);
});
