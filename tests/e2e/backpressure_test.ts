/** Backpressure (DESIGN §4 "Tunnel"): a slow reader must not make wsgate's memory grow. */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { rawBackend, switching } from "./_backends.ts";
import { RawWs } from "./_clients.ts";
import { eventually, rssKiB, startGateway } from "./_harness.ts";
import { encodeFrame, Opcode, randomBytes, writeAll } from "./_wire.ts";

const MiB = 1024 * 1024;
// Of 1 MiB each: far more than the kernel buffers on both sides can hold, even where tcp_rmem
// lets a reading socket grow to tens of MiB.
const FRAMES = 256;

Deno.test("backpressure: 256 MiB to a backend that stops reading keeps RSS flat, then every byte arrives", async () => {
  const { promise: resumed, resolve: resume } = Promise.withResolvers<void>();
  const received = { bytes: 0, hash: "" };
  await using backend = rawBackend(async (peer) => {
    await peer.write(switching(peer.head));
    await resumed; // not reading: the socket buffers fill up and the gateway must stop reading too
    const hash = createHash("sha256");
    const early = peer.reader.take(peer.reader.buffered.length);
    hash.update(early);
    received.bytes += early.length;
    const buf = new Uint8Array(256 * 1024);
    for (let n = await peer.conn.read(buf); n !== null; n = await peer.conn.read(buf)) {
      hash.update(buf.subarray(0, n));
      received.bytes += n;
    }
    received.hash = hash.digest("hex");
  });
  await using gw = await startGateway({ args: ["--listen", "127.0.0.1:0", "--upstream", backend.address] });
  await using client = await RawWs.open(gw.port, { path: "/bulk" });
  assert.equal(client.response.status, 101);

  const rssBefore = rssKiB(gw.pid);
  const payload = randomBytes(MiB);
  const sent = createHash("sha256");
  let written = 0;
  let total = 0;
  const writing = (async () => {
    for (let i = 0; i < FRAMES; i++) {
      const frame = encodeFrame(Opcode.binary, payload);
      total += frame.length;
      sent.update(frame);
      await writeAll(client.conn, frame);
      written += frame.length;
    }
  })();
  writing.catch(() => {}); // a failed assertion below closes the socket under it

  try {
    // Wait until the writer is stuck: no progress for 500 ms (bounded at 15 s).
    let last = -1;
    let stuckSince = Date.now();
    await eventually(
      () => {
        if (written !== last) [last, stuckSince] = [written, Date.now()];
        return Date.now() - stuckSince >= 500;
      },
      15_000,
      "the writer stops making progress",
    );
    const grownKiB = rssKiB(gw.pid) - rssBefore;
    assert.ok(written < FRAMES * MiB, `held back after ${(written / MiB).toFixed(1)} MiB, not all ${FRAMES}`);
    assert.ok(grownKiB < 16 * 1024, `gateway RSS grew by ${grownKiB} KiB while the backend did not read`);
  } finally {
    resume();
  }
  await writing;
  await client.closeWrite();
  await eventually(() => received.hash !== "", 20_000, "the backend read everything up to EOF");
  assert.equal(received.bytes, total);
  assert.equal(received.hash, sent.digest("hex"));
});
