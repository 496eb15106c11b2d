/**
 * The floors (bench/floor/) do the job they stand for: an upgrade through them completes and echoes,
 * bytes after the head reach the backend, large transfers arrive intact both ways (backpressure),
 * and a FIN in either direction is passed on while the other direction keeps working (half-close).
 * Each floor runs as its own process, against backends on 127.0.0.1 ports the system picked.
 */
import assert from "node:assert/strict";

const BENCH = new URL("..", import.meta.url).pathname;
const BUN = (
  port: number,
  backend: number,
) => ["bun", `${BENCH}floor/bun_floor.ts`, String(port), String(backend)];
const DENO = (port: number, backend: number) => [
  Deno.execPath(),
  "run",
  "--allow-net",
  `${BENCH}floor/deno_floor.ts`,
  String(port),
  String(backend),
];
/** Each floor's command, plain and with wsgate's steps (`steps` after the ports). */
const FLOORS = {
  bun: BUN,
  "bun-steps": (port: number, backend: number) => [...BUN(port, backend), "steps"],
  deno: DENO,
  "deno-steps": (port: number, backend: number) => [...DENO(port, backend), "steps"],
};
const HEAD = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
const STEP_MS = 20_000;

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  l.close();
  return l.addr.port;
}

function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((
    _,
    reject,
  ) => (timer = setTimeout(() => reject(new Error(`${what}: timed out`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`nothing listening on ${port}`);
}

async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const buf = new Uint8Array(64 * 1024);
  for (let n; (n = await conn.read(buf)) !== null;) parts.push(buf.slice(0, n));
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) out.set(p, (off += p.length) - p.length);
  return out;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

function pattern(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) out.set(p, (off += p.length) - p.length);
  return out;
}

/** A raw TCP backend; `serve` handles each connection, the server closes them afterwards. */
function rawBackend(serve: (conn: Deno.Conn) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const done: Promise<void>[] = [];
  (async () => {
    for await (const conn of listener) done.push(serve(conn).catch(() => {}).finally(() => conn.close()));
  })().catch(() => {});
  return {
    port: listener.addr.port,
    async close() {
      listener.close();
      await Promise.all(done);
    },
  };
}

async function withFloor(
  kind: keyof typeof FLOORS,
  backendPort: number,
  body: (port: number) => Promise<void>,
): Promise<string> {
  const port = freePort();
  const [cmd, ...args] = FLOORS[kind](port, backendPort);
  const child = new Deno.Command(cmd!, { args, stdin: "null", stdout: "piped", stderr: "piped" }).spawn();
  try {
    await waitForPort(port);
    await body(port);
  } finally {
    child.kill("SIGKILL");
  }
  const { stdout, stderr } = await child.output();
  const text = new TextDecoder().decode(stderr).trim();
  if (text) console.error(`${kind} floor stderr: ${text}`);
  return new TextDecoder().decode(stdout);
}

for (const kind of ["bun", "deno", "bun-steps", "deno-steps"] as const) {
  Deno.test(`${kind} floor: a WebSocket upgrade completes and echoes (bench/echo_server.ts behind)`, async () => {
    const backendPort = freePort();
    const backend = new Deno.Command("bun", {
      args: [`${BENCH}echo_server.ts`, String(backendPort)],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      await waitForPort(backendPort);
      const out = await withFloor(kind, backendPort, async (port) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
        ws.binaryType = "arraybuffer";
        const echoed = await within(
          STEP_MS,
          new Promise<string>((resolve, reject) => {
            ws.onopen = () => ws.send("hello through the floor");
            ws.onmessage = (e) => resolve(String(e.data));
            ws.onerror = () => reject(new Error("websocket error"));
          }),
          "upgrade and echo",
        );
        assert.equal(echoed, "hello through the floor");
        const closed = new Promise((resolve) => (ws.onclose = resolve));
        ws.close(1000);
        await within(STEP_MS, closed, "close handshake");
      });
      // The steps variant ran wsgate's steps: the 101 was checked, then logged (the access record
      // comes once both sides closed, which this test does not wait for).
      if (kind === "bun-steps") {
        assert.match(out, / info tunnel_open id=1 request_id=[0-9a-f]{32} client=127\.0\.0\.1:/);
      }
    } finally {
      backend.kill("SIGKILL");
      await backend.status;
    }
  });

  if (kind.endsWith("-steps")) continue; // the same pipe as the plain floor's

  Deno.test(`${kind} floor: half-close both ways; bytes after the head and 3 MiB arrive intact`, async () => {
    // The backend reads to EOF (the client's FIN, passed on), then answers with all it got and closes.
    const backend = rawBackend(async (conn) => {
      const got = await readAll(conn);
      await writeAll(conn, got);
    });
    try {
      await withFloor(kind, backend.port, async (port) => {
        const payload = pattern(3 * 1024 * 1024, 7);
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        // The head and the first bytes after it in one write: both must reach the backend.
        await within(STEP_MS, writeAll(conn, concat(HEAD, payload)), "write");
        await conn.closeWrite();
        const answer = await within(STEP_MS, readAll(conn), "read to EOF");
        conn.close();
        assert.equal(answer.length, HEAD.length + payload.length);
        assert.deepEqual(answer, concat(HEAD, payload));
      });
    } finally {
      await backend.close();
    }
  });

  Deno.test(`${kind} floor: 8 MiB echoed while it is sent (backpressure both ways)`, async () => {
    const backend = rawBackend(async (conn) => {
      const buf = new Uint8Array(16 * 1024);
      for (let n; (n = await conn.read(buf)) !== null;) await writeAll(conn, buf.subarray(0, n));
      await conn.closeWrite();
    });
    try {
      await withFloor(kind, backend.port, async (port) => {
        const payload = pattern(8 * 1024 * 1024, 3);
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        const reading = readAll(conn);
        await within(STEP_MS, writeAll(conn, concat(HEAD, payload)), "write");
        await conn.closeWrite();
        const answer = await within(STEP_MS, reading, "read to EOF");
        conn.close();
        assert.equal(answer.length, HEAD.length + payload.length);
        assert.deepEqual(answer, concat(HEAD, payload));
      });
    } finally {
      await backend.close();
    }
  });

  Deno.test(`${kind} floor: a reader that stalls holds the backend back (backpressure), nothing is lost`, async () => {
    const chunk = pattern(1024 * 1024, 5);
    const total = 64 * chunk.length;
    let sent = 0;
    // The backend sends 64 MiB as soon as the head is in; its writes only complete as the floor takes them.
    const backend = rawBackend(async (conn) => {
      await conn.read(new Uint8Array(HEAD.length));
      for (let i = 0; i < 64; i++) {
        await writeAll(conn, chunk);
        sent += chunk.length;
      }
      await conn.closeWrite();
    });
    try {
      await withFloor(kind, backend.port, async (port) => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        await writeAll(conn, HEAD);
        await new Promise((r) => setTimeout(r, 1_500));
        const sentWhileStalled = sent;
        const answer = await within(STEP_MS, readAll(conn), "read to EOF");
        conn.close();
        // Socket buffers along the path hold ~20 MiB on loopback; a floor that read on regardless would
        // have taken all 64 MiB into its memory by now.
        assert.ok(
          sentWhileStalled < 48 * chunk.length,
          `backend sent ${sentWhileStalled} B while the reader stalled`,
        );
        assert.equal(answer.length, total);
        for (let off = 0; off < total; off += chunk.length) {
          assert.deepEqual(answer.subarray(off, off + chunk.length), chunk, `bytes at ${off}`);
        }
      });
    } finally {
      await backend.close();
    }
  });
}
