/**
 * A stalled reader costs about one read buffer per tunnel (DESIGN §4 "Tunnel": never more than one
 * read buffer per direction in flight). Half the tunnels have a client that stops reading while
 * its backend streams, half a backend that stops reading while its client streams; the gateway's
 * RSS after a full GC (SIGUSR2) may grow by less than BOUND_KIB per tunnel over the same tunnels
 * idle. Bun reads up to 512 KiB at a time, and held the unwritten rest of such a read per stalled
 * tunnel (~0.5 MiB on raw tunnels, ~1 MiB on tracked ones). Nothing here depends on how much the
 * kernel's socket buffers take before the writers stall.
 */
import assert from "node:assert/strict";
import { switching } from "./_backends.ts";
import { RawWs } from "./_clients.ts";
import { eventually, oneRouteConfig, rssKiB, startGateway } from "./_harness.ts";
import { ByteReader, bytes, encodeFrame, Opcode, writeAll } from "./_wire.ts";

const TUNNELS = 50;
const BOUND_KIB = 256;
const CHUNK = new Uint8Array(64 * 1024);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** RSS after full GCs, once things settled: the lowest of a few rounds. */
async function gcRss(pid: number): Promise<number> {
  await sleep(300);
  let lowest = Infinity;
  for (let i = 0; i < 3; i++) {
    Deno.kill(pid, "SIGUSR2");
    await sleep(300);
    lowest = Math.min(lowest, rssKiB(pid));
  }
  return lowest;
}

/** Writes `data` until the connection fails, counting into `moved`. */
async function stream(conn: Deno.Conn, data: Uint8Array, moved: { bytes: number }): Promise<void> {
  try {
    for (;;) {
      await writeAll(conn, data);
      moved.bytes += data.length;
    }
  } catch {
    // closed at the end of the test
  }
}

async function stalledGrowthKiB(options: { tracked: boolean }): Promise<number> {
  // Tracked routes parse frames: stream whole ones (masked from clients, as RFC 6455 wants).
  const down = options.tracked ? encodeFrame(Opcode.binary, CHUNK, { mask: false }) : CHUNK;
  const up = options.tracked ? encodeFrame(Opcode.binary, CHUNK) : CHUNK;
  const moved = { bytes: 0 };
  const { promise: started, resolve: start } = Promise.withResolvers<void>();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const backends: Deno.Conn[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      const index = backends.push(conn) - 1;
      const reader = new ByteReader(conn);
      const head = await reader.readHead(10_000);
      await writeAll(conn, bytes(switching(head ?? "")));
      // Even tunnels: this backend streams to a client that never reads. Odd: it never reads.
      if (index % 2 === 0) void started.then(() => stream(conn, down, moved));
    }
  })();
  const clients: RawWs[] = [];
  try {
    await using gw = await startGateway({
      config: oneRouteConfig([`127.0.0.1:${listener.addr.port}`], {
        route: options.tracked ? { websocket: { track_frames: true } } : {},
      }),
      // A full GC on SIGUSR2 needs V8's gc() exposed (Bun always has one).
      env: { DENO_V8_FLAGS: "--expose-gc" },
    });
    for (let i = 0; i < TUNNELS; i++) clients.push(await RawWs.open(gw.port));
    const idle = await gcRss(gw.pid);
    start();
    clients.forEach((client, i) => {
      if (i % 2 === 1) void stream(client.conn, up, moved);
    });
    // Stalled: no byte moved for a second (bounded).
    let last = -1;
    let since = Date.now();
    await eventually(
      () => {
        if (moved.bytes !== last) [last, since] = [moved.bytes, Date.now()];
        return Date.now() - since >= 1_000;
      },
      60_000,
      "the writers stall",
    );
    return (await gcRss(gw.pid) - idle) / TUNNELS;
  } finally {
    for (const client of clients) await client[Symbol.asyncDispose]();
    listener.close();
    for (const conn of backends) {
      try {
        conn.close();
      } catch { /* already closed */ }
    }
    await serving.catch(() => {});
  }
}

for (const tracked of [false, true]) {
  const kind = tracked ? "tracked" : "raw";
  Deno.test(`stalled readers (${kind} tunnels): about one read buffer per tunnel, not Bun's 512 KiB reads`, async () => {
    const perTunnel = await stalledGrowthKiB({ tracked });
    assert.ok(perTunnel < BOUND_KIB, `RSS grew by ${perTunnel.toFixed(0)} KiB per stalled tunnel`);
  });
}
