import assert from "node:assert/strict";
import {
  closePayload,
  controlPayload,
  encodeControl,
  isKeepalive,
  KEEPALIVE_LENGTH,
  keepalivePayload,
  Opcode,
} from "../../lib/ws/frames.ts";
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
    assert.deepEqual(controlPayload(frame), payload, name);
  }
});

Deno.test("encodeControl refuses payloads over 125 bytes", () => {
  assert.throws(() => encodeControl(Opcode.ping, new Uint8Array(126)), RangeError);
});

Deno.test("keepalive payloads are recognised, application payloads are not", () => {
  const cases: [string, Uint8Array, boolean][] = [
    ["counter 1", keepalivePayload(1), true],
    ["counter wraps at 2^32", keepalivePayload(2 ** 32 + 5), true],
    ["empty", new Uint8Array(0), false],
    ["same length, other bytes", new Uint8Array(KEEPALIVE_LENGTH), false],
    ["prefix only", keepalivePayload(1).subarray(0, 8), false],
    ["longer", new Uint8Array([...keepalivePayload(1), 0]), false],
  ];
  for (const [name, payload, expected] of cases) assert.equal(isKeepalive(payload), expected, name);
  assert.equal(keepalivePayload(7).length, KEEPALIVE_LENGTH);
  assert.notDeepEqual(keepalivePayload(1), keepalivePayload(2));
});

Deno.test("closePayload: code, reason, and a cut on a UTF-8 character boundary", () => {
  assert.deepEqual(closePayload(1001, "bye"), new Uint8Array([0x03, 0xe9, 0x62, 0x79, 0x65]));
  const long = closePayload(1000, "é".repeat(100)); // 200 bytes of two-byte characters
  assert.equal(long.length, 2 + 122);
  assert.equal(new TextDecoder("utf-8", { fatal: true }).decode(long.subarray(2)), "é".repeat(61));
});
