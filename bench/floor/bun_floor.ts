/**
 * The Bun floor (DESIGN.md §7): the least a Bun program can do for wsgate's job, so the benchmark shows
 * how much of wsgate's cost is wsgate's own. Accept, find the end of the request head, dial the backend,
 * write the head and whatever followed it, then pipe both ways: the backend's answer (the 101) is relayed
 * like any later byte. Backpressure and half-close with the calls wsgate's Bun adapter uses (write/drain,
 * pause/resume, shutdown). No validation, routing, limits or logs. Benchmark code, not product code.
 * With `steps`, wsgate's own pure steps run in these callbacks (steps.ts, target floor-bun-steps).
 *
 *   bun bench/floor/bun_floor.ts PORT BACKEND_PORT [steps]   (bench/run.ts compiles it, as dist/wsgate is)
 */
import process from "node:process";
import { bun, type BunSocket, type SocketHandlers } from "../bun_api.ts";
import type { Handshake } from "./steps.ts";

const [port, backendPort] = process.argv.slice(2, 4).map(Number) as [number, number];
// Imported only for `steps`: the floor itself loads nothing of wsgate's.
const steps = process.argv[4] === "steps"
  ? await (await import("./steps.ts")).createSteps(backendPort)
  : undefined;

/** One side of a tunnel: the client's socket or the backend's. */
class Side {
  peer: Side | undefined; // the other side; undefined until the client's head is complete
  head: Uint8Array | undefined; // client only: what arrived before the head was complete
  pending: Uint8Array | undefined; // bytes this socket did not take yet; the peer is paused meanwhile
  finWanted = false; // the peer sent FIN: pass it on once `pending` is out
  finSent = false;
  closed = false;
  handshake: Handshake | undefined; // with `steps`: the handshake's state, on both sides
  answered = false; // with `steps`, backend only: its 101 was checked
  // undefined while the backend is dialled
  constructor(public socket: BunSocket<Side> | undefined, readonly backend = false) {}
}

/** Bun hands every `data` callback a fresh buffer, so keeping one needs no copy; joining two does. */
function concat(a: Uint8Array | undefined, b: Uint8Array): Uint8Array {
  if (!a) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** With `steps`: bytes counted, and the backend's first chunk (its 101) checked before it is relayed. */
function count(from: Side, chunk: Uint8Array): void {
  const handshake = from.handshake!;
  if (!from.backend) return void (handshake.upBytes += chunk.length);
  if (!from.answered) steps!.answer(chunk, handshake);
  from.answered = true;
  handshake.downBytes += chunk.length;
}

/** Is there a CRLFCRLF at or after `from`? (The only parsing the job needs.) */
function headComplete(b: Uint8Array, from: number): boolean {
  for (let i = b.indexOf(13, Math.max(0, from)); i >= 0 && i + 3 < b.length; i = b.indexOf(13, i + 1)) {
    if (b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return true;
  }
  return false;
}

/** Writes what `to` takes now; the rest waits for its drain, the sender paused (backpressure). */
function send(to: Side, chunk: Uint8Array, from: Side): void {
  const n = to.pending || !to.socket ? 0 : to.socket.write(chunk);
  if (n >= chunk.length) return;
  to.pending = concat(to.pending, chunk.subarray(Math.max(0, n)));
  from.socket!.pause();
}

/** On drain (or the backend's open): write what waited, resume the sender, then pass a FIN on. */
function flush(to: Side): void {
  if (to.pending) {
    const n = to.socket!.write(to.pending);
    if (n < to.pending.length) return void (to.pending = to.pending.subarray(Math.max(0, n)));
    to.pending = undefined;
    to.peer!.socket!.resume();
  }
  if (!to.finWanted || to.finSent) return;
  to.finSent = true;
  to.socket!.shutdown(); // half-close: end() would close both directions
  if (!to.peer!.finSent) return;
  to.socket!.end(); // both directions are done: close both sockets
  to.peer!.socket!.end();
}

const handlers: SocketHandlers<Side> = {
  binaryType: "uint8array",
  open(socket) {
    socket.setNoDelay(true); // 64 B ping-pongs: no Nagle delay, as wsgate (and nginx) set it
    const me = socket.data as Side | undefined; // Bun.listen gives no data: undefined means accepted
    if (!me) return void (socket.data = new Side(socket));
    me.socket = socket; // the backend's dial succeeded
    if (me.peer!.closed) return socket.end(); // the client left meanwhile
    flush(me); // the head and whatever followed it; resumes the client
  },
  data(socket, chunk) {
    const me = socket.data;
    if (me.peer) {
      if (me.handshake) count(me, chunk);
      return send(me.peer, chunk, me); // the pipe (both ways)
    }
    const from = (me.head?.length ?? 0) - 3; // the CRLFCRLF may straddle two chunks
    me.head = concat(me.head, chunk);
    if (!headComplete(me.head, from)) return;
    const backend = new Side(undefined, true);
    [backend.peer, me.peer] = [me, backend];
    let head = me.head;
    if (steps) {
      const { rebuilt, state } = steps.request(head, {
        address: socket.remoteAddress,
        port: socket.remotePort,
      });
      me.handshake = backend.handshake = state;
      head = rebuilt;
    }
    send(backend, head, me); // kept as pending, the client paused, until the dial completes
    me.head = undefined;
    bun.connect({
      hostname: "127.0.0.1",
      port: backendPort,
      allowHalfOpen: true,
      data: backend,
      socket: handlers,
    })
      .catch(() => socket.end()); // refused: close the client
  },
  drain: (socket) => flush(socket.data),
  end(socket) {
    const me = socket.data;
    if (!me.peer) return socket.end(); // FIN before a complete head: nothing to relay
    me.peer.finWanted = true;
    if (me.peer.socket) flush(me.peer);
  },
  close(socket) {
    socket.data.closed = true;
    const peer = socket.data.peer; // one side gone (reset, or both FINs done): the other goes too
    if (peer?.closed && peer.handshake) steps!.closed(peer.handshake);
    if (peer?.socket && !peer.closed) peer.socket.end();
  },
  error() {}, // `close` follows
  connectError: (socket) => socket.data.peer?.socket?.end(),
};

// allowHalfOpen: a client's FIN must not close the socket, its answer may still be coming.
bun.listen<Side>({ hostname: "127.0.0.1", port, allowHalfOpen: true, socket: handlers });
