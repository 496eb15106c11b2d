/**
 * Soak (run by `deno task soak`, not by the main suite): 2,000 concurrent tunnels for about a
 * minute, each exchanging messages of 1 B to 256 KiB (log-uniform) with an echo backend, ending
 * in a clean close, an abrupt client close, or the backend dropping the connection mid-stream;
 * every ended tunnel is replaced. Every message whose both ends stayed alive must come back
 * intact and in order; after a dropped end, what did come back must be an exact prefix.
 * Afterwards no tunnel is left open, the gateway's descriptors are back to the baseline, and its
 * RSS after a full GC (SIGUSR2) is within 10% of the RSS after a GC before the run, which comes
 * after a 10 s warm-up of the same load (so that buffer pools and lazily compiled code are in the
 * baseline).
 * SOAK_SECONDS and SOAK_TUNNELS shorten it for a quick local run.
 */
import assert from "node:assert/strict";
import { prng } from "../tests/_prng.ts";
import { eventually, oneRouteConfig, rssKiB, startGateway } from "../tests/e2e/_harness.ts";
import { fdCount, fdsBackTo } from "../tests/e2e/_security.ts";
import {
  acceptFor,
  ByteReader,
  bytes,
  randomBytes,
  serveEach,
  upgradeRequest,
  writeAll,
} from "../tests/e2e/_wire.ts";

const TUNNELS = Number(Deno.env.get("SOAK_TUNNELS") ?? 2_000);
const SECONDS = Number(Deno.env.get("SOAK_SECONDS") ?? 60);
const WARMUP_SECONDS = Math.min(10, SECONDS);
const MAX_MESSAGE = 256 * 1024;
/** Random content every message is cut from, at a random offset, so messages differ. */
const POOL = randomBytes(2 * MAX_MESSAGE);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- the echo backend: completes the handshake, echoes, and drops some connections mid-stream ----

interface EchoBackend extends AsyncDisposable {
  address: string;
  drops: number;
}

function echoBackend(): EchoBackend {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0, reusePort: false });
  const backend = { drops: 0 };
  const readers = new Set<ByteReader>();
  const serve = async (conn: Deno.Conn) => {
    const reader = new ByteReader(conn);
    readers.add(reader);
    try {
      const head = await reader.readHead(10_000);
      if (head === null) return;
      const key = /^sec-websocket-key:\s*(\S+)/im.exec(head)?.[1] ?? "";
      // "/?drop=N": close abruptly once N bytes were echoed.
      const drop = Number(/[?&]drop=(\d+)/.exec(head)?.[1] ?? Infinity);
      await writeAll(
        conn,
        bytes(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`,
        ),
      );
      let echoed = 0;
      while (await reader.fill(120_000)) {
        let chunk = reader.take(reader.buffered.length);
        if (echoed + chunk.length >= drop) chunk = chunk.subarray(0, drop - echoed);
        await writeAll(conn, chunk);
        echoed += chunk.length;
        if (echoed >= drop) {
          backend.drops++;
          return; // finally closes without a FIN first: an abrupt drop
        }
      }
    } catch {
      /* the client or the gateway went away */
    } finally {
      readers.delete(reader);
      await reader.close();
    }
  };
  const served = serveEach(listener, serve);
  return Object.assign(backend, {
    address: `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    async [Symbol.asyncDispose]() {
      await served.stopAccepting();
      for (const reader of readers) await reader.close();
      await served.settled();
    },
  });
}

// ---- the clients ----

interface Tally {
  tunnels: number;
  messages: number;
  bytes: number;
  clientAborts: number;
  backendDrops: number;
  partialChecked: number;
}

/** Reads exactly `expected.length` bytes and compares them; returns how many matched before EOF. */
async function readEcho(reader: ByteReader, expected: Uint8Array): Promise<number> {
  let matched = 0;
  while (matched < expected.length) {
    if (reader.buffered.length === 0 && !await reader.fill(60_000)) return matched;
    const chunk = reader.take(Math.min(reader.buffered.length, expected.length - matched));
    for (let i = 0; i < chunk.length; i++) {
      if (chunk[i] !== expected[matched + i]) throw new Error(`byte ${matched + i} of a message differs`);
    }
    matched += chunk.length;
  }
  return matched;
}

/** One tunnel's life: connect, exchange messages, end one of three ways. */
async function tunnel(port: number, random: () => number, tally: Tally, until: number): Promise<void> {
  const ending = random();
  const messages = 1 + Math.floor(random() * 40);
  const size = () => Math.max(1, Math.floor(Math.exp(random() * Math.log(MAX_MESSAGE))));
  // The backend drops after a random number of bytes somewhere in this tunnel's traffic.
  const drop = ending < 0.25 ? 1 + Math.floor(random() * MAX_MESSAGE * 4) : undefined;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const reader = new ByteReader(conn);
  try {
    await writeAll(conn, bytes(upgradeRequest({ path: drop ? `/?drop=${drop}` : "/" })));
    const head = await reader.readHead(10_000);
    assert.match(head ?? "", /^HTTP\/1\.1 101 /);
    tally.tunnels++;
    for (let m = 0; m < messages && Date.now() < until; m++) {
      const n = size();
      const at = Math.floor(random() * (POOL.length - n));
      const message = POOL.subarray(at, at + n);
      if (ending >= 0.25 && ending < 0.5 && m === messages - 1) {
        // Client abort: half a message, then close with the echo unread (a reset).
        await writeAll(conn, message.subarray(0, Math.ceil(n / 2)));
        tally.clientAborts++;
        return;
      }
      const [, matched] = await Promise.all([
        writeAll(conn, message).catch(() => {}),
        readEcho(reader, message),
      ]);
      if (matched < n) {
        // The backend dropped: what came back must be an exact prefix (checked in readEcho).
        assert.ok(drop !== undefined, `a tunnel without a planned drop lost data (${matched}/${n})`);
        tally.backendDrops++;
        tally.partialChecked += matched;
        return;
      }
      tally.messages++;
      tally.bytes += n;
      await sleep(random() * 1_500);
    }
    await conn.closeWrite();
    await reader.readToEnd(10_000);
  } finally {
    await reader.close();
  }
}

async function run(port: number, seconds: number, seed: number): Promise<Tally> {
  const tally: Tally = {
    tunnels: 0,
    messages: 0,
    bytes: 0,
    clientAborts: 0,
    backendDrops: 0,
    partialChecked: 0,
  };
  const until = Date.now() + seconds * 1_000;
  const slot = async (i: number) => {
    const random = prng(seed + i * 7919);
    await sleep((i / TUNNELS) * 2_000); // ramp up over 2 s
    while (Date.now() < until) await tunnel(port, random, tally, until);
  };
  await Promise.all(Array.from({ length: TUNNELS }, (_, i) => slot(i)));
  return tally;
}

/** RSS after full GCs (SIGUSR2), once the last sockets have closed: the lowest of a few rounds. */
async function gcRss(pid: number): Promise<number> {
  await sleep(1_000);
  let lowest = Infinity;
  for (let i = 0; i < 3; i++) {
    Deno.kill(pid, "SIGUSR2");
    await sleep(500);
    lowest = Math.min(lowest, rssKiB(pid));
  }
  return lowest;
}

Deno.test(`soak: ${TUNNELS} tunnels for ${SECONDS} s with random sizes and abrupt disconnects`, async () => {
  await using backend = echoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address], {
      upstream: { retries: 0 },
      top: { limits: { max_connections_per_ip: TUNNELS * 2 } },
    }),
    // A full GC on SIGUSR2 needs V8's gc() exposed (Bun always has one).
    env: { DENO_V8_FLAGS: "--expose-gc" },
  });
  const seed = Number(Deno.env.get("SOAK_SEED") ?? Math.floor(Math.random() * 2 ** 31));
  const opened = () => gw.records("tunnel_open").length;
  const closed = () => gw.records("access").filter((r) => r.fields.status === "101").length;

  const warm = await run(gw.port, WARMUP_SECONDS, seed);
  await eventually(() => closed() === opened(), 20_000, "warm-up tunnels closed");
  const fdBefore = fdCount(gw.pid);
  const rssBefore = await gcRss(gw.pid);

  const started = Date.now();
  const tally = await run(gw.port, SECONDS, seed + 1);
  const took = (Date.now() - started) / 1_000;
  await eventually(() => closed() === opened(), 30_000, `tunnels closed (${closed()}/${opened()})`);
  await fdsBackTo(gw, fdBefore, 20_000);
  const fdAfter = fdCount(gw.pid);
  const rssAfter = await gcRss(gw.pid);
  const gc = gw.records("gc").at(-1)?.fields.collected;
  console.log(
    `soak seed ${seed}: ${TUNNELS} concurrent, ${took.toFixed(0)} s: ${tally.tunnels} tunnels, ` +
      `${tally.messages} messages verified (${(tally.bytes / 2 ** 20).toFixed(0)} MiB each way), ` +
      `${tally.clientAborts} client aborts, ${tally.backendDrops} backend drops ` +
      `(${(tally.partialChecked / 2 ** 20).toFixed(1)} MiB of partial echoes verified); ` +
      `warm-up ${warm.tunnels} tunnels; open tunnels after ${opened() - closed()}; ` +
      `fds ${fdBefore} -> ${fdAfter}; RSS after GC (${gc}) ${(rssBefore / 1024).toFixed(1)} -> ` +
      `${(rssAfter / 1024).toFixed(1)} MiB`,
  );
  assert.equal(gc, "true", "the gateway ran a full GC");
  assert.ok(tally.messages > TUNNELS, "traffic flowed");
  assert.ok(tally.clientAborts > 0 && tally.backendDrops > 0, "both kinds of disconnect happened");
  assert.ok(rssAfter <= rssBefore * 1.1, `RSS ${rssBefore} -> ${rssAfter} KiB (over 10%)`);
});
