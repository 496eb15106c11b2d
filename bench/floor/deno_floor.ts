/**
 * The Deno floor (DESIGN.md §7): the least a Deno program can do for wsgate's job, so the benchmark shows
 * how much of wsgate's cost is wsgate's own. Accept, read until the end of the request head, dial the
 * backend, write the head and whatever followed it, then pipe both ways: the backend's answer (the 101)
 * is relayed like any later byte. The same Deno APIs wsgate's adapter uses: Deno.listen/Deno.connect,
 * read loops (never conn.readable, which closes the whole socket at EOF), closeWrite() for half-close.
 * No validation, routing, limits or logs. Benchmark code, not product code.
 * With `steps`, wsgate's own pure steps run on the way (steps.ts, target floor-deno-steps).
 *
 *   deno run --allow-net bench/floor/deno_floor.ts PORT BACKEND_PORT [steps]
 */
import type { Handshake } from "./steps.ts";

const [port, backendPort] = Deno.args.slice(0, 2).map(Number) as [number, number];
// Imported only for `steps`: the floor itself loads nothing of wsgate's.
const steps = Deno.args[2] === "steps"
  ? await (await import("./steps.ts")).createSteps(backendPort)
  : undefined;

/** A pending read pins its buffer: an idle tunnel waits on 1 KiB per direction... */
const SMALL = 1024;
/** ...and borrows 64 KiB only while data flows (a full small read means more is queued). */
const LARGE = 64 * 1024;
/** 64 KiB buffers not in use, so a busy tunnel does not allocate one per burst (at most 256 kept). */
const pool: Uint8Array[] = [];
const giveBack = (buffer: Uint8Array) => pool.length < 256 && pool.push(buffer);

/** Is there a CRLFCRLF in b[0, end)? (The only parsing the job needs.) */
function headComplete(b: Uint8Array, end: number): boolean {
  for (let i = b.indexOf(13); i >= 0 && i + 3 < end; i = b.indexOf(13, i + 1)) {
    if (b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return true;
  }
  return false;
}

/** conn.write() may take part of the bytes; awaiting each write is the backpressure. */
async function writeAll(to: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await to.write(bytes.subarray(off));
}

/** One direction: read, write, repeat; at EOF pass the FIN on (half-close) and stop. With `steps`,
 * `seen` gets each chunk before it is written (bytes counted, the 101 checked). */
async function pipe(from: Deno.Conn, to: Deno.Conn, seen?: (chunk: Uint8Array) => void): Promise<void> {
  const small = new Uint8Array(SMALL);
  let buffer: Uint8Array = small;
  for (let n; (n = await from.read(buffer)) !== null;) {
    seen?.(buffer.subarray(0, n));
    await writeAll(to, buffer.subarray(0, n)); // done with the bytes: the buffer can be reused
    if (buffer === small && n === SMALL) buffer = pool.pop() ?? new Uint8Array(LARGE);
    else if (buffer !== small && n < LARGE) {
      giveBack(buffer); // a short read: the burst is over, wait on the small buffer again
      buffer = small;
    }
  }
  if (buffer !== small) giveBack(buffer);
  await to.closeWrite();
}

/** The pipe with wsgate's steps on the way: the backend's first chunk (its 101) checked before it
 * is relayed, bytes counted, the access record once both directions are done. */
async function withSteps(handshake: Handshake, client: Deno.TcpConn, backend: Deno.TcpConn): Promise<void> {
  let answered = false;
  const down = (chunk: Uint8Array) => {
    if (!answered) steps!.answer(chunk, handshake);
    answered = true;
    handshake.downBytes += chunk.length;
  };
  const up = (chunk: Uint8Array) => void (handshake.upBytes += chunk.length);
  await Promise.all([pipe(client, backend, up), pipe(backend, client, down)]).finally(() =>
    steps!.closed(handshake)
  );
}

async function serve(client: Deno.TcpConn): Promise<void> {
  let backend: Deno.TcpConn | undefined;
  try {
    client.setNoDelay(true); // 64 B ping-pongs: no Nagle delay, as wsgate (and nginx) set it
    let head = new Uint8Array(SMALL);
    let length = 0;
    do {
      if (length === head.length) {
        const bigger = new Uint8Array(2 * length); // a head larger than 1 KiB: grow, no limit
        bigger.set(head);
        head = bigger;
      }
      const n = await client.read(head.subarray(length));
      if (n === null) return; // EOF before a complete head: nothing to relay
      length += n;
    } while (!headComplete(head, length));
    let request: Uint8Array = head.subarray(0, length);
    let handshake: Handshake | undefined;
    if (steps) {
      const { hostname: address, port } = client.remoteAddr;
      ({ rebuilt: request, state: handshake } = steps.request(request, { address, port }));
    }
    backend = await Deno.connect({ hostname: "127.0.0.1", port: backendPort });
    backend.setNoDelay(true);
    await writeAll(backend, request); // the head and whatever followed it
    if (!handshake) await Promise.all([pipe(client, backend), pipe(backend, client)]);
    else await withSteps(handshake, client, backend);
  } catch {
    // A reset or a refused dial: close both (which ends the other direction's read too).
  } finally {
    for (const conn of [client, backend]) {
      try {
        conn?.close();
      } catch { /* already closed */ }
    }
  }
}

for await (const client of Deno.listen({ hostname: "127.0.0.1", port })) void serve(client);
