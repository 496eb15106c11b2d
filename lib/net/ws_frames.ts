/**
 * The few RFC 6455 frames wsgate writes itself (Ping, Close), the recognition of the answers to its
 * keepalive Pings, and of a peer's Close in a health check's answer. (The tunnel follows frames
 * incrementally with tunnel/frame_tracker.ts.) Pure: masking keys and payloads are passed in, so the caller chooses
 * how they are drawn (RFC 6455 §5.3 wants masks unpredictable; so are keepalive payloads).
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

/**
 * Bytes of random payload in each of wsgate's keepalive Pings: no peer can foresee one, so only
 * the true answer matches and any other Pong (an application's, a forged one) passes on.
 */
export const KEEPALIVE_LENGTH = 16;

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

/** True when one complete frame with a 7-bit length (a control frame) carries exactly `payload`;
 * unmasks on the fly, without a copy. */
export function hasPayload(frame: Uint8Array, payload: Uint8Array): boolean {
  const masked = (frame[1]! & 0x80) !== 0;
  if ((frame[1]! & 0x7f) !== payload.length) return false;
  const at = masked ? 6 : 2;
  for (let i = 0; i < payload.length; i++) {
    const byte = masked ? frame[at + i]! ^ frame[2 + (i & 3)]! : frame[at + i]!;
    if (byte !== payload[i]) return false;
  }
  return true;
}

/** Whether the server frames in `bytes` (starting at a frame boundary) include a close frame. */
export function hasCloseFrame(bytes: Uint8Array): boolean {
  let at = 0;
  while (at + 2 <= bytes.length) {
    if ((bytes[at]! & 0x0f) === 0x8) return true;
    const short = bytes[at + 1]! & 0x7f;
    const lengthBytes = short === 126 ? 2 : short === 127 ? 8 : 0;
    if (at + 2 + lengthBytes > bytes.length) return false;
    let length = short;
    if (lengthBytes > 0) {
      length = 0;
      for (let i = 0; i < lengthBytes; i++) length = length * 256 + bytes[at + 2 + i]!;
    }
    const mask = bytes[at + 1]! & 0x80 ? 4 : 0;
    at += 2 + lengthBytes + mask + length;
  }
  return false;
}
