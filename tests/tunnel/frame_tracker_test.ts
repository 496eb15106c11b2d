/**
 * The frame tracker against a reference encoder written from RFC 6455 §5.2: every frame shape fed
 * in one piece, byte by byte and split at every offset must give the same boundaries, and each
 * protocol violation must be caught where the offending frame starts.
 */
import assert from "node:assert/strict";
import { FrameTracker, Scan, type Violation } from "../../lib/tunnel/frame_tracker.ts";
import { concat } from "../e2e/_wire.ts";

interface Shape {
  opcode: number;
  length: number;
  fin?: boolean;
  rsv?: number;
  /** Force a length form: 7-bit, 16-bit or 64-bit (default: the minimal one). */
  form?: 7 | 16 | 64;
  /** Override the 64-bit length field (for lengths no test can send). */
  length64?: bigint;
}

/** The reference encoder: header fields in the order and widths of RFC 6455 §5.2. */
function encode(shape: Shape, masked: boolean): Uint8Array {
  const form = shape.form ?? (shape.length < 126 ? 7 : shape.length < 65_536 ? 16 : 64);
  const extra = form === 7 ? 0 : form === 16 ? 2 : 8;
  const out = new Uint8Array(2 + extra + (masked ? 4 : 0) + shape.length);
  const view = new DataView(out.buffer);
  out[0] = ((shape.fin ?? true) ? 0x80 : 0) | ((shape.rsv ?? 0) << 4) | shape.opcode;
  out[1] = (masked ? 0x80 : 0) | (form === 7 ? shape.length : form === 16 ? 126 : 127);
  if (form === 16) view.setUint16(2, shape.length);
  if (form === 64) view.setBigUint64(2, shape.length64 ?? BigInt(shape.length));
  const at = 2 + extra;
  if (masked) out.set([0x37, 0xfa, 0x21, 0x3d], at);
  // Payload bytes that look like headers: a tracker that peeks into payloads would trip on them.
  out.fill(0x89, at + (masked ? 4 : 0));
  return out;
}

interface Boundary {
  start: number;
  end: number;
  headerSize: number;
  opcode: number;
  fin: boolean;
  rsv: number;
  length: number;
}

function expected(shapes: Shape[], masked: boolean): { stream: Uint8Array; boundaries: Boundary[] } {
  const frames = shapes.map((s) => encode(s, masked));
  let at = 0;
  const boundaries = shapes.map((s, i) => {
    const size = frames[i]!.length;
    const b = {
      start: at,
      end: at + size,
      headerSize: size - s.length,
      opcode: s.opcode,
      fin: s.fin ?? true,
      rsv: s.rsv ?? 0,
      length: s.length,
    };
    at += size;
    return b;
  });
  return { stream: concat(frames), boundaries };
}

/** Runs the tracker over `chunks` and returns the boundaries and violation it reports, in stream offsets. */
function track(
  chunks: Uint8Array[],
  masked: boolean,
): { boundaries: Boundary[]; violation?: Violation & { at: number } } {
  const t = new FrameTracker({ masked });
  const boundaries: Boundary[] = [];
  let base = 0;
  let open: Omit<Boundary, "end"> | undefined;
  for (const chunk of chunks) {
    t.feed(chunk);
    for (let event = t.next(); event !== Scan.need; event = t.next()) {
      if (event === Scan.header) {
        assert.equal(open, undefined, "a header before the previous frame ended");
        const { headerSize, opcode, fin, rsv, length } = t;
        open = { start: base + t.pos - headerSize, headerSize, opcode, fin, rsv, length };
        assert.equal(t.header.length, headerSize);
      } else if (event === Scan.end) {
        assert.ok(open, "an end without a header");
        boundaries.push({ ...open, end: base + t.pos });
        open = undefined;
      } else {
        return { boundaries, violation: { ...t.violation!, at: base + t.pos } };
      }
    }
    assert.equal(t.pos, chunk.length, "need only at the end of the chunk");
    base += chunk.length;
  }
  assert.equal(open, undefined, "the stream ended inside a frame");
  assert.equal(t.partialHeader, 0, "the stream ended inside a header");
  return { boundaries };
}

const byteByByte = (data: Uint8Array) => Array.from(data, (_, i) => data.subarray(i, i + 1));

const SHAPES: [string, Shape[]][] = [
  ["empty text", [{ opcode: 1, length: 0 }]],
  ["small binary", [{ opcode: 2, length: 5 }]],
  ["7-bit maximum", [{ opcode: 2, length: 125 }]],
  ["16-bit minimum and maximum", [{ opcode: 2, length: 126 }, { opcode: 1, length: 65_535 }]],
  ["64-bit length", [{ opcode: 2, length: 65_536 }, { opcode: 2, length: 70_001 }]],
  ["non-minimal lengths", [{ opcode: 1, length: 3, form: 16 }, { opcode: 2, length: 4, form: 64 }]],
  ["control frames", [
    { opcode: 9, length: 0 },
    { opcode: 10, length: 125 },
    { opcode: 9, length: 12 },
    { opcode: 8, length: 2 },
  ]],
  ["fragmented message with interleaved controls", [
    { opcode: 1, length: 10, fin: false },
    { opcode: 9, length: 4 },
    { opcode: 0, length: 0, fin: false },
    { opcode: 10, length: 12 },
    { opcode: 0, length: 300, fin: false },
    { opcode: 9, length: 0 },
    { opcode: 0, length: 7 },
    { opcode: 2, length: 1 },
  ]],
  ["permessage-deflate (RSV1) fragments", [
    { opcode: 1, length: 40, fin: false, rsv: 4 },
    { opcode: 0, length: 30 },
    { opcode: 2, length: 200, rsv: 4 },
  ]],
  ["zero-length frames in a row", [
    { opcode: 2, length: 0 },
    { opcode: 9, length: 0 },
    { opcode: 2, length: 0, fin: false },
    { opcode: 0, length: 0 },
  ]],
];

for (const masked of [true, false]) {
  const who = masked ? "client frames (masked)" : "server frames (unmasked)";
  for (const [name, shapes] of SHAPES) {
    Deno.test(`frame tracker, ${who}: ${name}, in one piece and byte by byte`, () => {
      const { stream, boundaries } = expected(shapes, masked);
      assert.deepEqual(track([stream], masked), { boundaries });
      assert.deepEqual(track(byteByByte(stream), masked), { boundaries });
    });
  }
}

Deno.test("frame tracker: every shape at once, split at every offset, gives identical boundaries", () => {
  for (const masked of [true, false]) {
    const all = SHAPES.flatMap(([, shapes]) => shapes).filter((s) => s.length < 1_000);
    const { stream, boundaries } = expected(all, masked);
    for (let cut = 0; cut <= stream.length; cut++) {
      const result = track([stream.subarray(0, cut), stream.subarray(cut)], masked);
      assert.deepEqual(result, { boundaries }, `cut at ${cut}`);
    }
  }
});

Deno.test("frame tracker: a 64-bit frame split at every offset of its header and payload edges", () => {
  const shapes: Shape[] = [{ opcode: 2, length: 66_000 }, { opcode: 9, length: 3 }];
  const { stream, boundaries } = expected(shapes, true);
  const cuts = [...Array(20).keys(), ...Array.from({ length: 40 }, (_, i) => 66_000 - 6 + i)];
  for (const cut of cuts) {
    const third = Math.min(cut + 7, stream.length);
    const chunks = [stream.subarray(0, cut), stream.subarray(cut, third), stream.subarray(third)];
    assert.deepEqual(track(chunks, true), { boundaries }, `cut at ${cut}`);
  }
});

/** A valid frame, then the bad bytes: the violation must point at the bad frame's first byte. */
const VIOLATIONS: [string, boolean, Uint8Array, Violation][] = [
  ["reserved data opcode", true, encode({ opcode: 3, length: 1 }, true), {
    code: 1002,
    reason: "reserved opcode 3",
  }],
  ["reserved control opcode", false, encode({ opcode: 0xb, length: 0 }, false), {
    code: 1002,
    reason: "reserved opcode 11",
  }],
  ["control frame over 125 bytes", true, encode({ opcode: 9, length: 126 }, true), {
    code: 1002,
    reason: "control frame (opcode 9) longer than 125 bytes",
  }],
  ["fragmented control frame", false, encode({ opcode: 10, length: 2, fin: false }, false), {
    code: 1002,
    reason: "fragmented control frame (opcode 10)",
  }],
  ["unmasked frame from the client", true, encode({ opcode: 1, length: 2 }, false), {
    code: 1002,
    reason: "unmasked frame from the client",
  }],
  ["masked frame from the server", false, encode({ opcode: 1, length: 2 }, true), {
    code: 1002,
    reason: "masked frame from the server",
  }],
  [
    "64-bit length with the top bit set",
    true,
    encode({ opcode: 2, length: 0, form: 64, length64: 1n << 63n }, true),
    {
      code: 1002,
      reason: "64-bit length with the most significant bit set",
    },
  ],
  ["length above 2^53 - 1", false, encode({ opcode: 2, length: 0, form: 64, length64: 1n << 53n }, false), {
    code: 1009,
    reason: "frame longer than 2^53 - 1 bytes",
  }],
  ["continuation without a message", true, encode({ opcode: 0, length: 1 }, true), {
    code: 1002,
    reason: "continuation frame without a message to continue",
  }],
  [
    "new message inside a fragmented one",
    false,
    concat([encode({ opcode: 1, length: 2, fin: false }, false), encode({ opcode: 2, length: 1 }, false)]),
    { code: 1002, reason: "new data frame (opcode 2) inside a fragmented message" },
  ],
];

for (const [name, masked, bad, violation] of VIOLATIONS) {
  Deno.test(`frame tracker violation: ${name}`, () => {
    const good = encode({ opcode: 2, length: 3 }, masked);
    const stream = concat([good, bad, encode({ opcode: 2, length: 1 }, masked)]);
    // The fragmented case has one valid frame of its own before the offending one.
    const at = name.startsWith("new message") ? good.length + 2 + 2 : good.length;
    for (const chunks of [[stream], byteByByte(stream)]) {
      const result = track(chunks, masked);
      assert.deepEqual(result.violation, { ...violation, at });
      assert.equal(result.boundaries[0]?.end, good.length, "the frame before it is reported");
    }
  });
}

Deno.test("frame tracker: nothing is parsed after a violation", () => {
  const t = new FrameTracker({ masked: false });
  t.feed(encode({ opcode: 4, length: 0 }, false));
  assert.equal(t.next(), Scan.violation);
  t.feed(encode({ opcode: 2, length: 1 }, false));
  assert.equal(t.next(), Scan.need);
});

Deno.test("frame tracker: a header cut at a chunk's end survives another tracker's frames in between", () => {
  // Headers that lie whole in a chunk are collected in one buffer shared by every tracker; a cut
  // one must move to storage of its own tracker before another tracker runs.
  const a = new FrameTracker({ masked: true });
  const b = new FrameTracker({ masked: true });
  const long = encode({ opcode: 2, length: 70_001 }, true); // 2 + 8 + 4 header bytes
  const other = encode({ opcode: 1, length: 126 }, true);
  a.feed(long.subarray(0, 7)); // cut inside the 64-bit length
  assert.equal(a.next(), Scan.need);
  assert.equal(a.partialHeader, 7);
  b.feed(other);
  assert.equal(b.next(), Scan.header);
  assert.deepEqual([b.opcode, b.length, b.headerSize], [1, 126, 8]);
  assert.deepEqual(b.header, other.subarray(0, 8));
  assert.equal(b.next(), Scan.end);
  a.feed(long.subarray(7));
  assert.equal(a.next(), Scan.header);
  assert.deepEqual([a.opcode, a.length, a.headerSize, a.pos], [2, 70_001, 14, 7]);
  assert.deepEqual(a.header, long.subarray(0, 14));
  assert.equal(a.next(), Scan.end);
  assert.equal(a.pos, long.length - 7);
});
