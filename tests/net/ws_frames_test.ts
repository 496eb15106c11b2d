import assert from "node:assert/strict";
import { closePayload, encodeControl, hasCloseFrame, hasPayload, Opcode } from "../../lib/net/ws_frames.ts";
import { decodeFrame } from "../e2e/_wire.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("encodeControl: masked and unmasked frames decode to the same payload", () => {
  const cases: [string, number, Uint8Array, Uint8Array | undefined][] = [
    ["empty ping, unmasked", Opcode.ping, new Uint8Array(0), undefined],
    ["pong, masked", Opcode.pong, bytes("hello"), new Uint8Array([1, 2, 3, 4])],
    ["125-byte close, masked", Opcode.close, new Uint8Array(125).fill(65), new Uint8Array([9, 8, 7, 6])],
  ];
  for (const [name, opcode, payload, maskKey] of cases) {
    const frame = encodeControl(opcode, payload, maskKey ? { maskKey } : {});
    assert.equal(frame.length, 2 + (maskKey ? 4 : 0) + payload.length, name);
    assert.equal((frame[1]! & 0x80) !== 0, maskKey !== undefined, name);
    const decoded = decodeFrame(frame);
    assert.deepEqual(decoded?.frame, { fin: true, opcode, payload }, name);
    assert.equal(decoded?.size, frame.length, name);
    assert.ok(hasPayload(frame, payload), name);
  }
});

Deno.test("encodeControl refuses payloads over 125 bytes", () => {
  assert.throws(() => encodeControl(Opcode.ping, new Uint8Array(126)), RangeError);
});

Deno.test("hasPayload: the exact payload, masked or not; nothing else", () => {
  const payload = bytes("0123456789abcdef");
  for (const maskKey of [undefined, new Uint8Array([0xde, 0xad, 0xbe, 0xef])]) {
    const frame = encodeControl(Opcode.pong, payload, maskKey ? { maskKey } : {});
    const how = maskKey ? "masked" : "unmasked";
    assert.ok(hasPayload(frame, payload), how);
    assert.ok(!hasPayload(frame, bytes("0123456789abcdeF")), `${how}: last byte differs`);
    assert.ok(!hasPayload(frame, payload.subarray(0, 15)), `${how}: shorter`);
    assert.ok(!hasPayload(frame, bytes("0123456789abcdef0")), `${how}: longer`);
  }
  assert.ok(hasPayload(encodeControl(Opcode.pong, new Uint8Array(0)), new Uint8Array(0)));
});

Deno.test("closePayload: code, reason, and a cut on a UTF-8 character boundary", () => {
  assert.deepEqual(closePayload(1001, "bye"), new Uint8Array([0x03, 0xe9, 0x62, 0x79, 0x65]));
  const long = closePayload(1000, "é".repeat(100)); // 200 bytes of two-byte characters
  assert.equal(long.length, 2 + 122);
  assert.equal(new TextDecoder("utf-8", { fatal: true }).decode(long.subarray(2)), "é".repeat(61));
});

Deno.test("hasCloseFrame() walks server frames of every length encoding", () => {
  const frame = (opcode: number, length: number) => {
    const header = length < 126
      ? [0x80 | opcode, length]
      : length < 65_536
      ? [0x80 | opcode, 126, length >> 8, length & 255]
      : [
        0x80 | opcode,
        127,
        0,
        0,
        0,
        0,
        length >>> 24,
        (length >> 16) & 255,
        (length >> 8) & 255,
        length & 255,
      ];
    return [...header, ...new Array<number>(length).fill(0x61)];
  };
  const cases: [string, number[], boolean][] = [
    ["close alone", frame(8, 2), true],
    ["text then close", [...frame(1, 5), ...frame(8, 2)], true],
    ["16-bit length then close", [...frame(2, 300), ...frame(8, 0)], true],
    ["64-bit length then close", [...frame(2, 70_000), ...frame(8, 0)], true],
    ["text only", frame(1, 5), false],
    ["truncated length", [0x82, 126, 1], false],
    ["nothing", [], false],
  ];
  for (const [name, bytes, expected] of cases) {
    assert.equal(hasCloseFrame(new Uint8Array(bytes)), expected, name);
  }
});
