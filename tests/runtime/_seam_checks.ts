/**
 * Behaviour every runtime adapter must have, checked over real loopback sockets. Runs under
 * Deno (deno_test.ts) and under Bun (bun_test.ts spawns `bun` on _bun_checks.ts), so both
 * adapters are held to one list. Each check returns what it observed; the tests assert on it.
 */
import fs from "node:fs";
import net from "node:net";
import type { Conn, Runtime } from "../../lib/runtime/types.ts";
import { Direction } from "../../lib/tunnel/pipe.ts";
import { systemClock } from "../../lib/tunnel/clock.ts";
import { describeError, NetError } from "../../lib/errors.ts";

const CERTS = new URL("../fixtures/certs/", import.meta.url).pathname;

async function readAll(conn: Conn): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (let chunk = await conn.read(); chunk !== null; chunk = await conn.read()) {
    parts.push(chunk.slice());
    total += chunk.length;
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function pattern(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 8)) & 0xff;
  return bytes;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const CHUNK = 1024 * 1024;
const BASE = pattern(CHUNK);

/** The i-th 1 MiB chunk of a test stream: a fixed pattern stamped with its index. */
function chunkAt(i: number): Uint8Array {
  const chunk = BASE.slice();
  new DataView(chunk.buffer).setUint32(0, i);
  return chunk;
}

function isChunkSequence(bytes: Uint8Array, chunks: number): boolean {
  if (bytes.length !== chunks * CHUNK) return false;
  for (let i = 0; i < chunks; i++) {
    const expected = chunkAt(i);
    for (let j = 0; j < CHUNK; j++) if (bytes[i * CHUNK + j] !== expected[j]) return false;
  }
  return true;
}

/**
 * Writes numbered chunks until one stays pending for 300 ms, i.e. the stalled peer pushes back.
 * Kernel socket buffers differ between machines (tcp_rmem may let tens of MiB through), so the
 * stream has no fixed size: only an adapter that buffers without bound reaches the 256 MiB cap.
 * `rest` resolves with the number of chunks written once the pending write completes.
 */
async function writeUntilStall(conn: Conn): Promise<{ stalled: boolean; rest: Promise<number> }> {
  for (let i = 0; i < 256; i++) {
    const write = conn.write(chunkAt(i)).then(() => true, () => true);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<false>((r) => timer = setTimeout(() => r(false), 300));
    const done = await Promise.race([write, waited]);
    clearTimeout(timer);
    if (!done) return { stalled: true, rest: write.then(() => i + 1) };
  }
  return { stalled: false, rest: Promise.resolve(256) };
}

async function pair(runtime: Runtime, tls = false): Promise<{ client: Conn; server: Conn; close(): void }> {
  const cert = tls ? await runtime.readTextFile(`${CERTS}localhost.pem`) : "";
  const key = tls ? await runtime.readTextFile(`${CERTS}localhost-key.pem`) : "";
  const ca = tls ? await runtime.readTextFile(`${CERTS}ca.pem`) : "";
  const listener = await runtime.listen({
    addr: { transport: "tcp", hostname: "127.0.0.1", port: 0 },
    ...(tls ? { tls: [{ cert, key }] } : {}),
  });
  const port = listener.addr.transport === "tcp" ? listener.addr.port : 0;
  const accepted = listener.accept();
  const client = await runtime.connect({
    addr: { transport: "tcp", hostname: "127.0.0.1", port },
    ...(tls ? { tls: { serverName: "localhost", caCerts: [ca], verify: true } } : {}),
  });
  const server = (await accepted)!;
  return {
    client,
    server,
    close() {
      client.close();
      server.close();
      listener.close();
    },
  };
}

export async function runSeamChecks(runtime: Runtime, tmpDir: string): Promise<Record<string, unknown>> {
  const results: Record<string, unknown> = {};

  // 1 MiB each way arrives intact, whatever the chunking (Deno switches small -> pooled buffers).
  {
    const { client, server, close } = await pair(runtime);
    const received = readAll(server);
    await client.write(chunkAt(0));
    await client.closeWrite();
    results.bulkIntact = isChunkSequence(await received, 1);
    close();
  }

  // Half-close: after the client's FIN the server sees EOF, and can still answer.
  {
    const { client, server, close } = await pair(runtime);
    await client.write(new TextEncoder().encode("ping"));
    await client.closeWrite();
    const got = await readAll(server);
    await server.write(new TextEncoder().encode("pong after fin"));
    await server.closeWrite();
    const reply = new TextDecoder().decode(await readAll(client));
    results.halfClose = { serverGot: new TextDecoder().decode(got), clientGot: reply };
    close();
  }

  // Backpressure: a write to a peer that does not read stays pending instead of buffering.
  {
    const { client, server, close } = await pair(runtime);
    const writing = await writeUntilStall(client);
    results.writePendingWhilePeerStalls = writing.stalled;
    const received = readAll(server);
    const chunks = await writing.rest;
    await client.closeWrite();
    results.stalledWriteCompletes = isChunkSequence(await received, chunks);
    close();
  }

  // Forwarding one connection into another (spliceTo where the runtime has it, as the tunnel
  // does, else a read/write loop): bytes intact, EOF passed on, and a stalled reader at the far
  // end stalls the writer at the near end instead of filling memory.
  {
    const a = await pair(runtime);
    const b = await pair(runtime);
    // The tunnel's own direction counters, kept through the SpliceReport calls.
    let spliceEnded!: (error: unknown) => void;
    const spliceOver = new Promise<unknown>((resolve) => spliceEnded = resolve);
    const stats = new Direction({ clock: systemClock, relayEnded: (_d, error) => spliceEnded(error) });
    const forward = async () => {
      if (a.server.spliceTo?.(b.client, stats)) {
        const error = await spliceOver;
        if (error !== null) throw error;
      } else {
        for (let chunk = await a.server.read(); chunk !== null; chunk = await a.server.read()) {
          stats.reading();
          await b.client.write(chunk);
          stats.wrote(chunk.length, true);
        }
      }
      await b.client.closeWrite();
    };
    const forwarding = forward();
    const writing = await writeUntilStall(a.client);
    results.forwardStallsWriter = writing.stalled;
    // Stalled: the report says a write into the far end is blocked (what send_timeout watches).
    results.forwardReportsBlockedWrite = stats.writingSince > 0;
    const received = readAll(b.server);
    const chunks = await writing.rest;
    await a.client.closeWrite();
    await forwarding;
    results.forwardIntact = isChunkSequence(await received, chunks) && stats.bytes === chunks * CHUNK;
    a.close();
    b.close();
  }

  // One read returns about one buffer (64 KiB), however much waits in the kernel: what a tunnel
  // holds when its other side stops taking bytes is what it read last (Bun reads up to 512 KiB
  // unless the adapter caps the receive buffer of a near peer's socket).
  {
    const { client, server, close } = await pair(runtime);
    const writing = writeUntilStall(client);
    await sleep(200);
    let largest = 0;
    let total = 0;
    const reading = (async () => {
      for (let chunk = await server.read(); chunk !== null; chunk = await server.read()) {
        largest = Math.max(largest, chunk.length);
        total += chunk.length;
      }
    })();
    const chunks = await (await writing).rest;
    await client.closeWrite();
    await reading;
    results.readsStaySmall = largest <= 128 * 1024 && total === chunks * CHUNK;
    close();
  }

  // peerGone(): resolves when the peer resets; a FIN or data that arrive first are kept for read().
  {
    const listener = await runtime.listen({ addr: { transport: "tcp", hostname: "127.0.0.1", port: 0 } });
    const accepted = listener.accept();
    const socket = net.connect(listener.addr.transport === "tcp" ? listener.addr.port : 0, "127.0.0.1");
    socket.on("error", () => {});
    await new Promise((resolve) => socket.once("connect", resolve));
    const server = (await accepted)!;
    const gone = server.peerGone?.();
    socket.resetAndDestroy();
    results.peerGoneOnReset = await Promise.race([gone?.then(() => true), sleep(2_000).then(() => false)]);
    server.close();
    listener.close();
  }
  {
    const { client, server, close } = await pair(runtime);
    let gone = false;
    void server.peerGone?.().then(() => gone = true);
    await client.write(new TextEncoder().encode("early"));
    await client.closeWrite();
    const got = new TextDecoder().decode(await readAll(server));
    await sleep(50);
    results.peerGoneKeepsDataAndFin = { got, gone };
    close();
  }

  // Errors are NetErrors with a code and the same words, whatever the runtime.
  const described = (err: unknown) =>
    err instanceof NetError ? `${err.code}: ${describeError(err)}` : `${err}`;
  try {
    await runtime.connect({ addr: { transport: "tcp", hostname: "127.0.0.1", port: 1 } });
    results.refused = "connected?!";
  } catch (err) {
    results.refused = described(err);
  }
  {
    const taken = await runtime.listen({ addr: { transport: "tcp", hostname: "127.0.0.1", port: 0 } });
    results.addressInUse = await runtime.listen({ addr: taken.addr }).then(
      (listener) => (listener.close(), "listening twice?!"),
      described,
    );
    taken.close();
  }

  // Unix sockets, including a stale socket file left behind by a dead process.
  {
    const path = `${tmpDir}/seam.sock`;
    const first = await runtime.listen({ addr: { transport: "unix", path } });
    first.close();
    const listener = await runtime.listen({ addr: { transport: "unix", path } });
    const accepted = listener.accept();
    const client = await runtime.connect({ addr: { transport: "unix", path } });
    const server = (await accepted)!;
    await client.write(new TextEncoder().encode("over unix"));
    await client.closeWrite();
    results.unix = new TextDecoder().decode(await readAll(server));
    client.close();
    server.close();
    listener.close();
  }
  // Any other file at the path is refused (naming it), never removed.
  {
    const path = `${tmpDir}/not-a-socket`;
    fs.writeFileSync(path, "data");
    const refused = await runtime.listen({ addr: { transport: "unix", path } }).then(
      (listener) => (listener.close(), "listening"),
      (err) => err instanceof NetError && err.message.includes(path) ? err.code : `${err}`,
    );
    results.unixOverFile = { refused, kept: fs.existsSync(path) ? fs.readFileSync(path, "utf8") : "deleted" };
  }

  // TLS both ways with a test CA; the wrong name is refused.
  {
    const { client, server, close } = await pair(runtime, true);
    await client.write(new TextEncoder().encode("secret"));
    await client.closeWrite();
    results.tls = new TextDecoder().decode(await readAll(server));
    close();
    const ca = await runtime.readTextFile(`${CERTS}ca.pem`);
    const listener = await runtime.listen({
      addr: { transport: "tcp", hostname: "127.0.0.1", port: 0 },
      tls: [{
        cert: await runtime.readTextFile(`${CERTS}localhost.pem`),
        key: await runtime.readTextFile(`${CERTS}localhost-key.pem`),
      }],
    });
    const port = listener.addr.transport === "tcp" ? listener.addr.port : 0;
    const accepting = listener.accept().then((conn) =>
      conn?.read().catch(() => null).finally(() => conn.close())
    );
    try {
      const conn = await runtime.connect({
        addr: { transport: "tcp", hostname: "127.0.0.1", port },
        tls: { serverName: "wrong.test", caCerts: [ca], verify: true },
      });
      conn.close();
      results.tlsWrongName = "connected?!";
    } catch (err) {
      results.tlsWrongName = err instanceof NetError ? err.code : `not a NetError: ${err}`;
    }
    await accepting;
    listener.close();
  }

  // Several certificates on one listener, chosen by SNI; each name verifies against its own.
  {
    const read = (name: string) => runtime.readTextFile(`${CERTS}${name}`);
    const ca = await read("ca.pem");
    const listener = await runtime.listen({
      addr: { transport: "tcp", hostname: "127.0.0.1", port: 0 },
      tls: [
        { cert: await read("localhost.pem"), key: await read("localhost-key.pem") },
        {
          cert: await read("backend.pem"),
          key: await read("backend-key.pem"),
          serverNames: ["backend.test"],
        },
      ],
    });
    const port = listener.addr.transport === "tcp" ? listener.addr.port : 0;
    const served: string[] = [];
    for (const serverName of ["backend.test", "localhost"]) {
      const accepted = listener.accept();
      const client = await runtime.connect({
        addr: { transport: "tcp", hostname: "127.0.0.1", port },
        tls: { serverName, caCerts: [ca], verify: true },
      });
      const server = (await accepted)!;
      await client.write(new TextEncoder().encode(serverName));
      await client.closeWrite();
      served.push(new TextDecoder().decode(await readAll(server)));
      client.close();
      server.close();
    }
    results.sni = served;
    listener.close();
  }

  // A TLS listener hands out a connection before its handshake (so that the gateway's handshake
  // timeout covers it); nothing can be written to it yet, and close() frees the socket even though
  // the handshake never completed: the silent client sees the connection end. One certificate
  // and several (SNI: node:tls on Bun), since each is served differently.
  {
    const read = (name: string) => runtime.readTextFile(`${CERTS}${name}`);
    const localhost = { cert: await read("localhost.pem"), key: await read("localhost-key.pem") };
    const backend = { cert: await read("backend.pem"), key: await read("backend-key.pem") };
    const outcomes = [];
    for (const tls of [[localhost], [localhost, { ...backend, serverNames: ["backend.test"] }]]) {
      const listener = await runtime.listen({
        addr: { transport: "tcp", hostname: "127.0.0.1", port: 0 },
        tls,
      });
      const accepted = listener.accept();
      const socket = net.connect(listener.addr.transport === "tcp" ? listener.addr.port : 0, "127.0.0.1");
      socket.on("error", () => {});
      const ended = new Promise<boolean>((resolve) => socket.once("close", () => resolve(true)));
      const server = await Promise.race([accepted, sleep(2_000).then(() => null)]);
      const write = server?.write(new TextEncoder().encode("too early"));
      const written = await Promise.race([
        write?.then(() => "written", (err) => err instanceof NetError ? err.code : `${err}`),
        sleep(1_000).then(() => "pending"),
      ]);
      server?.close();
      const closed = await Promise.race([ended, sleep(3_000).then(() => false)]);
      outcomes.push({ accepted: server !== null, written, closed });
      socket.destroy();
      listener.close();
    }
    results.tlsBeforeHandshake = outcomes;
  }

  // close() is idempotent and read() after close() ends instead of throwing.
  {
    const { client, close } = await pair(runtime);
    client.close();
    client.close();
    results.readAfterClose = await client.read().then((v) => v, (e) => `threw ${e}`);
    close();
  }
  return results;
}

export const EXPECTED = {
  bulkIntact: true,
  halfClose: { serverGot: "ping", clientGot: "pong after fin" },
  writePendingWhilePeerStalls: true,
  stalledWriteCompletes: true,
  forwardStallsWriter: true,
  forwardReportsBlockedWrite: true,
  forwardIntact: true,
  readsStaySmall: true,
  peerGoneOnReset: true,
  peerGoneKeepsDataAndFin: { got: "early", gone: false },
  refused: "ECONNREFUSED: Connection refused (os error 111)",
  addressInUse: "EADDRINUSE: Address already in use (os error 98)",
  unix: "over unix",
  unixOverFile: { refused: "EADDRINUSE", kept: "data" },
  tls: "secret",
  tlsWrongName: "TLS",
  sni: ["backend.test", "localhost"],
  tlsBeforeHandshake: Array(2).fill({ accepted: true, written: "TLS", closed: true }),
  readAfterClose: null,
};
