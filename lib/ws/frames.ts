/**
 * The few RFC 6455 frames wsgate writes itself (Ping, Close) and the recognition of its own
 * keepalive payload in the Pongs that come back. Pure: the masking key is passed in, so the
 * caller chooses how it is drawn (RFC 6455 §5.3 wants it unpredictable).
 */

export const Opcode = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

/** The close codes wsgate sends (RFC 6455 §7.4.1). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  policyViolation: 1008,
  tooBig: 1009,
} as const;

/** Control frame payloads are at most 125 bytes (RFC 6455 §5.5). */
export const MAX_CONTROL_PAYLOAD = 125;

/** "wsgate" + 0x00 0x01: an application has no reason to start its pings with a NUL-padded name. */
const KEEPALIVE_PREFIX = new Uint8Array([0x77, 0x73, 0x67, 0x61, 0x74, 0x65, 0x00, 0x01]);
/** Prefix + a 32-bit counter: Pongs of any other length are never inspected. */
export const KEEPALIVE_LENGTH = KEEPALIVE_PREFIX.length + 4;

/**
 * One complete control frame (FIN set). `maskKey` (4 bytes) masks it, as frames toward a server
 * must be; without it the frame is unmasked, as frames toward a client must be.
 */
export function encodeControl(
  opcode: number,
  payload: Uint8Array,
  options: { maskKey?: Uint8Array } = {},
): Uint8Array {
  if (payload.length > MAX_CONTROL_PAYLOAD) throw new RangeError("control frame payload over 125 bytes");
  const key = options.maskKey;
  const at = key ? 6 : 2;
  const frame = new Uint8Array(at + payload.length);
  frame[0] = 0x80 | opcode;
  frame[1] = (key ? 0x80 : 0) | payload.length;
  if (!key) {
    frame.set(payload, at);
    return frame;
  }
  frame.set(key.subarray(0, 4), 2);
  for (let i = 0; i < payload.length; i++) frame[at + i] = payload[i]! ^ key[i & 3]!;
  return frame;
}

/** wsgate's keepalive Ping payload number `counter`. */
export function keepalivePayload(counter: number): Uint8Array {
  const payload = new Uint8Array(KEEPALIVE_LENGTH);
  payload.set(KEEPALIVE_PREFIX);
  new DataView(payload.buffer).setUint32(KEEPALIVE_PREFIX.length, counter >>> 0);
  return payload;
}

/** True when a Ping/Pong payload is one of wsgate's keepalives. */
export function isKeepalive(payload: Uint8Array): boolean {
  if (payload.length !== KEEPALIVE_LENGTH) return false;
  for (let i = 0; i < KEEPALIVE_PREFIX.length; i++) if (payload[i] !== KEEPALIVE_PREFIX[i]) return false;
  return true;
}

/** The Close payload: a 2-byte code and a UTF-8 reason, cut to fit the 125-byte limit. */
export function closePayload(code: number, reason: string): Uint8Array {
  let text = new TextEncoder().encode(reason);
  if (text.length > MAX_CONTROL_PAYLOAD - 2) {
    // Cut on a character boundary: a Close reason must be valid UTF-8 (RFC 6455 §5.5.1).
    let end = MAX_CONTROL_PAYLOAD - 2;
    while (end > 0 && (text[end]! & 0xc0) === 0x80) end--;
    text = text.subarray(0, end);
  }
  const payload = new Uint8Array(2 + text.length);
  payload[0] = code >> 8;
  payload[1] = code & 0xff;
  payload.set(text, 2);
  return payload;
}

/** The unmasked payload of one complete frame with a 7-bit length (a control frame). */
export function controlPayload(frame: Uint8Array): Uint8Array {
  const masked = (frame[1]! & 0x80) !== 0;
  const length = frame[1]! & 0x7f;
  const at = masked ? 6 : 2;
  const payload = frame.slice(at, at + length);
  if (masked) { for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ frame[2 + (i & 3)]!; }
  return payload;
}
