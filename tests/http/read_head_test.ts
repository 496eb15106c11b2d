import assert from "node:assert/strict";
import { findHeadEnd, readHead } from "../../lib/http/read_head.ts";
import { runtime } from "../../lib/runtime/deno.ts";
import { HeadParseError, NetError } from "../../lib/errors.ts";
import type { Conn } from "../../lib/runtime/types.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("findHeadEnd() finds CRLFCRLF and the bare-LF endings the parser must reject", () => {
  const cases: [string, number][] = [
    ["GET / HTTP/1.1\r\nHost: a\r\n\r\nrest", 27],
    ["GET / HTTP/1.1\r\nHost: a\r\n", -1],
    ["GET / HTTP/1.1\n\nrest", 16],
    ["GET / HTTP/1.1\r\n\nx", 17],
    ["GET / HTTP/1.1\n\r\nx", 17],
    ["\r\n\r\n", 4],
    ["", -1],
  ];
  for (const [text, end] of cases) assert.equal(findHeadEnd(enc(text), 0), end, JSON.stringify(text));
});

/** A real loopback pair: the test writes into `peer`, readHead() reads from `conn`. */
async function withPair(fn: (conn: Conn, peer: Conn) => Promise<void>): Promise<void> {
  const listener = await runtime.listen({ addr: { transport: "tcp", hostname: "127.0.0.1", port: 0 } });
  const port = listener.addr.transport === "tcp" ? listener.addr.port : 0;
  const accepted = listener.accept();
  const peer = await runtime.connect({ addr: { transport: "tcp", hostname: "127.0.0.1", port } });
  const conn = (await accepted)!;
  try {
    await fn(conn, peer);
  } finally {
    conn.close();
    peer.close();
    listener.close();
  }
}

const limits = { maxBytes: 1024, maxLineBytes: 256, timeoutMs: 2000 };

Deno.test("readHead() returns the head and keeps every byte after it", async () => {
  await withPair(async (conn, peer) => {
    await peer.write(enc("GET / HTTP/1.1\r\nHost: a\r\n\r\nEARLY-FRAME"));
    const result = await readHead(conn, limits);
    assert.equal(dec(result!.head), "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert.equal(dec(result!.rest), "EARLY-FRAME");
  });
});

Deno.test("readHead() assembles a head sent one byte at a time", async () => {
  await withPair(async (conn, peer) => {
    const text = "GET /slow HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\nZ";
    const reading = readHead(conn, limits);
    for (const byte of enc(text)) {
      await peer.write(new Uint8Array([byte]));
      await new Promise((r) => setTimeout(r, 1));
    }
    const result = await reading;
    // The head ended before "Z" was sent: it stays on the socket for the next reader.
    assert.equal(dec(result!.head), text.slice(0, -1));
    assert.equal(dec(result!.rest), "");
    assert.equal(dec((await conn.read())!), "Z");
  });
});

Deno.test("readHead() returns null when the peer closes without a byte", async () => {
  await withPair(async (conn, peer) => {
    await peer.closeWrite();
    assert.equal(await readHead(conn, limits), null);
  });
});

Deno.test("readHead() rejects a head cut short by EOF", async () => {
  await withPair(async (conn, peer) => {
    await peer.write(enc("GET / HTTP/1.1\r\nHost"));
    await peer.closeWrite();
    await assert.rejects(readHead(conn, limits), HeadParseError);
  });
});

Deno.test("readHead() answers 431 past maxBytes and 414 for a long first line", async () => {
  await withPair(async (conn, peer) => {
    await peer.write(enc(`GET / HTTP/1.1\r\n${"X-Long: aaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(40)}\r\n`));
    await assert.rejects(readHead(conn, limits), (err: HeadParseError) => err.status === 431);
  });
  await withPair(async (conn, peer) => {
    await peer.write(enc(`GET /${"a".repeat(300)}`));
    await assert.rejects(readHead(conn, limits), (err: HeadParseError) => err.status === 414);
  });
});

Deno.test("readHead() times out on a head that never ends (slowloris)", async () => {
  await withPair(async (conn, peer) => {
    await peer.write(enc("GET / HTTP/1.1\r\nHost: a\r\n"));
    const started = Date.now();
    await assert.rejects(
      readHead(conn, { ...limits, timeoutMs: 200 }),
      (err: NetError) => err instanceof NetError && err.code === "ETIMEDOUT",
    );
    assert.ok(Date.now() - started >= 190);
  });
});
