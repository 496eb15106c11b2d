import assert from "node:assert/strict";
import {
  closeFrame,
  FrameReader,
  headEnd,
  maskedFrame,
  OP_BINARY,
  OP_CLOSE,
  proxyV1Header,
} from "../load/frames.ts";
import { parseProxyHeader } from "../../lib/net/proxy_protocol.ts";

/** An unmasked server frame, as the echo backend sends it. */
function serverFrame(opcode: number, length: number): Uint8Array {
  const extra = length < 126 ? 0 : length < 65_536 ? 2 : 8;
  const out = new Uint8Array(2 + extra + length);
  const view = new DataView(out.buffer);
  out[0] = 0x80 | opcode;
  out[1] = extra === 0 ? length : extra === 2 ? 126 : 127;
  if (extra === 2) view.setUint16(2, length);
  if (extra === 8) view.setBigUint64(2, BigInt(length));
  return out;
}

function unmask(frame: Uint8Array, headerLen: number): Uint8Array {
  const key = frame.subarray(headerLen - 4, headerLen);
  return frame.subarray(headerLen).map((b, i) => b ^ key[i & 3]!);
}

Deno.test("maskedFrame: header and masked payload", async (t) => {
  const cases = [
    { name: "7-bit length", size: 64, headerLen: 6 },
    { name: "16-bit length", size: 1000, headerLen: 8 },
    { name: "64-bit length", size: 70_000, headerLen: 14 },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const payload = new Uint8Array(c.size).map((_, i) => i & 0xff);
      const frame = maskedFrame(OP_BINARY, payload);
      assert.equal(frame.length, c.headerLen + c.size);
      assert.equal(frame[0], 0x82);
      assert.equal(frame[1]! & 0x80, 0x80);
      assert.deepEqual(unmask(frame, c.headerLen), payload);
    });
  }
});

Deno.test("closeFrame carries status 1000", () => {
  const frame = closeFrame();
  assert.equal(frame[0], 0x80 | OP_CLOSE);
  assert.deepEqual(unmask(frame, 6), new Uint8Array([0x03, 0xe8]));
});

Deno.test("headEnd", async (t) => {
  const cases = [
    { name: "complete head", text: "HTTP/1.1 101 OK\r\nA: b\r\n\r\nxyz", want: 25 },
    { name: "incomplete head", text: "HTTP/1.1 101 OK\r\nA: b\r\n", want: -1 },
    { name: "empty", text: "", want: -1 },
  ];
  for (const c of cases) {
    await t.step(c.name, () => assert.equal(headEnd(new TextEncoder().encode(c.text)), c.want));
  }
});

Deno.test("FrameReader finds every frame however the stream is cut", async (t) => {
  const frames = [
    serverFrame(2, 64),
    serverFrame(2, 0),
    serverFrame(2, 300),
    serverFrame(2, 70_000),
    serverFrame(8, 2),
  ];
  const stream = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  frames.reduce((off, f) => (stream.set(f, off), off + f.length), 0);
  const cases = [
    { name: "one chunk", chunk: stream.length },
    { name: "1-byte chunks", chunk: 1 },
    { name: "7-byte chunks", chunk: 7 },
    { name: "4 KiB chunks", chunk: 4096 },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const reader = new FrameReader();
      const seen: number[] = [];
      for (let i = 0; i < stream.length; i += c.chunk) {
        reader.feed(stream.subarray(i, i + c.chunk), (op) => seen.push(op));
      }
      assert.deepEqual(seen, [2, 2, 2, 2, 8]);
    });
  }
});

Deno.test("proxyV1Header: what wsgate's parser reads, a distinct client per connection", () => {
  const dest = { host: "127.0.0.3", port: 21004 };
  const parse = (n: number) => {
    const parsed = parseProxyHeader(proxyV1Header(n, dest));
    assert.equal(parsed.state, "done");
    if (parsed.state !== "done") throw new Error("unreachable");
    assert.equal(parsed.rest.length, 0);
    return parsed.header;
  };
  const first = parse(0);
  assert.deepEqual(first.source, { transport: "tcp", hostname: "198.18.0.0", port: 1024 });
  assert.deepEqual(first.dest, { transport: "tcp", hostname: "127.0.0.3", port: 21004 });
  const source = (hostname: string, port: number) => ({ transport: "tcp", hostname, port });
  assert.deepEqual(parse(258).source, source("198.18.1.2", 1282));
  assert.deepEqual(parse(65_536).source, source("198.19.0.0", 1024 + 1536));
  // Past the /15 the addresses come round again; ports stay valid.
  assert.deepEqual(parse(131_072 + 5).source, source("198.18.0.5", 1024 + 3077));
  assert.deepEqual(parse(63_999).source, source("198.18.249.255", 65_023));
});
