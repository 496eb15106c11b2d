/** connView(): a wrapped connection keeps the adapter's fast paths, and gives way to its own bytes first. */
import assert from "node:assert/strict";
import { connView, writeTarget } from "../../lib/net/conn_view.ts";
import type { Addr, Conn, SpliceReport } from "../../lib/runtime/types.ts";

const A: Addr = { transport: "tcp", hostname: "10.0.0.1", port: 1 };
const B: Addr = { transport: "tcp", hostname: "192.0.2.7", port: 2 };
const bytes = (s: string) => new TextEncoder().encode(s);

/** An adapter-like connection: chunks to read, and a record of splices and peerGone calls. */
function adapterConn(chunks: string[], options: { fastPaths: boolean }) {
  const spliced: Conn[] = [];
  let gone = 0;
  const conn: Conn = {
    read: () => Promise.resolve(chunks.length ? bytes(chunks.shift()!) : null),
    write: () => Promise.resolve(),
    closeWrite: () => Promise.resolve(),
    close: () => {},
    localAddr: A,
    remoteAddr: A,
    ...(options.fastPaths && {
      spliceTo: (target: Conn, _report: SpliceReport) => {
        spliced.push(target);
        return true;
      },
      peerGone: () => {
        gone++;
        return Promise.resolve();
      },
    }),
  };
  return { conn, spliced, gone: () => gone };
}

const STATS: SpliceReport = { reading: () => {}, wrote: () => {}, ended: () => {} };
const text = (chunk: Uint8Array | null) => chunk && new TextDecoder().decode(chunk);

Deno.test("connView: stated addresses, unread bytes first, then the connection's", async () => {
  const { conn } = adapterConn(["next"], { fastPaths: true });
  const view = connView(conn, { remoteAddr: B, unread: bytes("GET / ") });
  assert.deepEqual([view.remoteAddr, view.localAddr], [B, A]);
  assert.equal(text(await view.read()), "GET / ");
  assert.equal(text(await view.read()), "next");
  assert.equal(await view.read(), null);
});

Deno.test("connView: the native splice and peerGone pass through once its own bytes are read", async () => {
  const inner = adapterConn([], { fastPaths: true });
  const other = adapterConn([], { fastPaths: true });
  const view = connView(inner.conn, { remoteAddr: B, unread: bytes("x") });
  assert.equal(
    view.spliceTo!(other.conn, STATS),
    false,
    "own bytes pending: the caller's loop reads them",
  );
  let resolved = false;
  view.peerGone!().then(() => resolved = true);
  await view.read();
  assert.equal(view.spliceTo!(connView(other.conn, {}), STATS), true);
  assert.deepEqual(inner.spliced, [other.conn], "a view as the target is unwrapped to its connection");
  await view.peerGone!();
  assert.equal(inner.gone(), 1);
  assert.equal(resolved, false, "bytes had arrived: that peer did not leave first");
});

Deno.test("connView: without the adapter's fast paths, none are made up", async () => {
  const { conn } = adapterConn([], { fastPaths: false });
  const view = connView(conn, {});
  assert.equal(view.spliceTo!(conn, STATS), false);
  let resolved = false;
  view.peerGone!().then(() => resolved = true);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(resolved, false);
});

Deno.test("connView: onRead sees every chunk, and a watched view reads through its own loop", async () => {
  const seen: string[] = [];
  const { conn } = adapterConn(["a", "b"], { fastPaths: true });
  const view = connView(conn, { onRead: (c) => seen.push(text(c)!) });
  await view.read();
  await view.read();
  assert.deepEqual(seen, ["a", "b"]);
  assert.equal(view.spliceTo!(conn, STATS), false, "a splice would bypass the watcher");
});

Deno.test("writeTarget: a view, or a view of a view, writes into the connection beneath", () => {
  const { conn } = adapterConn([], { fastPaths: true });
  const proxied = connView(conn, { remoteAddr: B });
  const early = connView(proxied, { unread: bytes("held") });
  assert.equal(writeTarget(early), conn);
  assert.equal(writeTarget(proxied), conn);
  assert.equal(writeTarget(conn), conn);
});
