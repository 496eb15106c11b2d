/**
 * Pure WebSocket wire helpers for the load client: pre-built masked client frames (built once
 * and written many times, so the client spends no CPU per message on framing) and an
 * incremental reader that only finds frame boundaries in what the server sends back.
 */

export const OP_BINARY = 2;
export const OP_CLOSE = 8;

/** Any fixed key is valid on the wire; servers unmask whatever key the frame carries. */
const MASK_KEY = [0x37, 0xfa, 0x21, 0x3d] as const;

/** A complete, final, masked client frame. */
export function maskedFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const n = payload.length;
  const extra = n < 126 ? 0 : n < 65_536 ? 2 : 8;
  const out = new Uint8Array(2 + extra + 4 + n);
  const view = new DataView(out.buffer);
  out[0] = 0x80 | opcode;
  if (extra === 0) out[1] = 0x80 | n;
  else if (extra === 2) {
    out[1] = 0x80 | 126;
    view.setUint16(2, n);
  } else {
    out[1] = 0x80 | 127;
    view.setBigUint64(2, BigInt(n));
  }
  const start = 2 + extra + 4;
  out.set(MASK_KEY, 2 + extra);
  for (let i = 0; i < n; i++) out[start + i] = payload[i]! ^ MASK_KEY[i & 3]!;
  return out;
}

/** A close frame with status 1000 (normal closure). */
export function closeFrame(): Uint8Array {
  return maskedFrame(OP_CLOSE, new Uint8Array([0x03, 0xe8]));
}

/** The client's opening handshake; the key is fixed because nothing here checks it twice. */
export function upgradeRequest(host: string, extraHeader?: string): Uint8Array {
  return new TextEncoder().encode(
    `GET / HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
      (extraHeader ? `${extraHeader}\r\n` : "") + "\r\n",
  );
}

/**
 * A PROXY protocol v1 header for the load client's connection number `n`: a distinct client
 * address per connection (198.18.0.0/15, the benchmarking range of RFC 2544, so nothing real), as
 * many clients behind one balancer would have, and the address the connection goes to.
 */
export function proxyV1Header(n: number, dest: { host: string; port: number }): Uint8Array {
  const i = n % 131_072;
  const source = `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
  const sourcePort = 1024 + (n % 64_000);
  return new TextEncoder().encode(`PROXY TCP4 ${source} ${dest.host} ${sourcePort} ${dest.port}\r\n`);
}

/** Index just past the first CRLFCRLF, or -1 when the head is not complete yet. */
export function headEnd(bytes: Uint8Array): number {
  for (let i = 3; i < bytes.length; i++) {
    if (bytes[i] === 10 && bytes[i - 1] === 13 && bytes[i - 2] === 10 && bytes[i - 3] === 13) return i + 1;
  }
  return -1;
}

/**
 * Finds frame boundaries in a byte stream cut into arbitrary chunks. Payloads are skipped,
 * not copied: the benchmark only needs to know when each message has fully arrived.
 */
export class FrameReader {
  #header = new Uint8Array(14);
  #headerLen = 0;
  #remaining = 0;
  #opcode = 0;

  /** Calls onFrame(opcode) once per complete frame in the chunk. */
  feed(chunk: Uint8Array, onFrame: (opcode: number) => void): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#remaining > 0) {
        const take = Math.min(this.#remaining, chunk.length - i);
        this.#remaining -= take;
        i += take;
        if (this.#remaining === 0) onFrame(this.#opcode);
        continue;
      }
      this.#header[this.#headerLen++] = chunk[i++]!;
      const length = this.#payloadLength();
      if (length < 0) continue;
      this.#headerLen = 0;
      this.#opcode = this.#header[0]! & 0x0f;
      if (length === 0) onFrame(this.#opcode);
      else this.#remaining = length;
    }
  }

  /** The payload length once the header is complete, else -1. */
  #payloadLength(): number {
    if (this.#headerLen < 2) return -1;
    const b1 = this.#header[1]!;
    const len7 = b1 & 0x7f;
    const extra = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
    if (this.#headerLen < 2 + extra + (b1 & 0x80 ? 4 : 0)) return -1;
    const view = new DataView(this.#header.buffer);
    if (extra === 2) return view.getUint16(2);
    if (extra === 8) return Number(view.getBigUint64(2));
    return len7;
  }
}
