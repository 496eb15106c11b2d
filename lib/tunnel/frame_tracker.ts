/**
 * FRAME TRACKER: follows the RFC 6455 frame boundaries of one direction of a tunnel, chunk by
 * chunk, reading only frame headers. Payloads are skipped by count: never copied, never
 * unmasked, so the bytes the tunnel forwards stay exactly the bytes it read. Pure.
 *
 * Use: feed(chunk), then call next() until it returns Scan.need. Each event leaves `pos` just
 * past what it describes:
 *   Scan.header    a frame header is complete; the header fields below describe the frame.
 *                  The header started at pos - headerSize, which is negative when it began
 *                  in an earlier chunk (its bytes are in `header`).
 *   Scan.end       the current frame's last byte is just before pos.
 *   Scan.violation the stream broke the protocol; `violation` says how and pos is where the
 *                  offending frame began (negative when earlier). Nothing is parsed after it.
 *   Scan.need      the chunk is used up. A header cut at the chunk's end is held here
 *                  (`partialHeader` bytes) and completed by the next chunk.
 */

export const Scan = { need: 0, header: 1, end: 2, violation: 3 } as const;
export type ScanEvent = typeof Scan[keyof typeof Scan];

export interface Violation {
  /** 1002 protocol error, or 1009 when a length cannot be counted exactly. */
  code: 1002 | 1009;
  reason: string;
}

export interface FrameTrackerOptions {
  /** Frames must be masked (client to server, RFC 6455 §5.1) or must not be (server to client). */
  masked: boolean;
}

const EMPTY = new Uint8Array(0);
/** 2 bytes + 8 bytes of 64-bit length + 4 bytes of masking key. */
const MAX_HEADER = 14;
const MAX_CONTROL_PAYLOAD = 125;
/** Where every tracker collects a header that lies whole in one chunk (nearly all do): one
 * buffer for the process, not one per direction of every tunnel (memory per idle tunnel). Its
 * bytes are valid until the next call of any tracker's next(). */
const SHARED_HEAD = new Uint8Array(MAX_HEADER);

export class FrameTracker {
  /** Fields of the current frame, valid from its Scan.header on. */
  fin = false;
  /** RSV1..3 as bits 2..0: extension business (permessage-deflate sets RSV1), passed through. */
  rsv = 0;
  opcode = 0;
  masked = false;
  /** Payload bytes. */
  length = 0;
  headerSize = 0;
  /** Offset in the chunk just past the last event. */
  pos = 0;
  violation: Violation | undefined;
  readonly #masked: boolean;
  /** SHARED_HEAD, or this tracker's own copy once a header was cut at the end of a chunk. */
  #head = SHARED_HEAD;
  /** Header bytes collected so far, and how many this header has (known after its 2nd byte). */
  #have = 0;
  #need = 2;
  #inPayload = false;
  #remaining = 0;
  /** A data message whose last frame has not come yet: only continuations (and controls) may follow. */
  #fragmented = false;
  #chunk: Uint8Array = EMPTY;

  constructor(options: FrameTrackerOptions) {
    this.#masked = options.masked;
  }

  /** The current frame's header bytes; valid until the next call of any tracker's next(). */
  get header(): Uint8Array {
    return this.#head.subarray(0, this.headerSize);
  }

  /** Bytes of an unfinished header held since the end of the last chunk. */
  get partialHeader(): number {
    return this.#inPayload ? 0 : this.#have;
  }

  /** Between a Scan.header and its Scan.end. */
  get inFrame(): boolean {
    return this.#inPayload;
  }

  feed(chunk: Uint8Array): void {
    this.#chunk = chunk;
    this.pos = 0;
  }

  next(): ScanEvent {
    const chunk = this.#chunk;
    if (this.violation) return this.#drained();
    if (this.#inPayload) {
      const available = chunk.length - this.pos;
      if (this.#remaining > available) {
        this.#remaining -= available;
        return this.#drained();
      }
      this.pos += this.#remaining;
      this.#remaining = 0;
      this.#inPayload = false;
      return Scan.end;
    }
    while (this.#have < this.#need) {
      if (this.pos >= chunk.length) return this.#drained();
      this.#head[this.#have++] = chunk[this.pos++]!;
      if (this.#have === 2) {
        const problem = this.#checkStart();
        if (problem) return this.#fail(1002, problem);
      }
    }
    return this.#completeHeader();
  }

  #drained(): ScanEvent {
    // A header cut here waits for the next chunk in storage of this tracker's own.
    if (this.#have > 0 && this.#head === SHARED_HEAD && !this.violation) this.#head = SHARED_HEAD.slice();
    this.pos = this.#chunk.length;
    this.#chunk = EMPTY;
    return Scan.need;
  }

  #fail(code: 1002 | 1009, reason: string): ScanEvent {
    this.violation = { code, reason };
    this.pos -= this.#have;
    return Scan.violation;
  }

  /** The first two bytes decide everything but the extended length. */
  #checkStart(): string | undefined {
    const b0 = this.#head[0]!;
    const b1 = this.#head[1]!;
    const opcode = b0 & 0x0f;
    const fin = (b0 & 0x80) !== 0;
    const masked = (b1 & 0x80) !== 0;
    const len7 = b1 & 0x7f;
    if ((opcode > 2 && opcode < 8) || opcode > 10) return `reserved opcode ${opcode}`;
    if (masked !== this.#masked) {
      return this.#masked ? "unmasked frame from the client" : "masked frame from the server";
    }
    if (opcode >= 8) {
      if (!fin) return `fragmented control frame (opcode ${opcode})`;
      if (len7 > MAX_CONTROL_PAYLOAD) return `control frame (opcode ${opcode}) longer than 125 bytes`;
    } else if (opcode === 0 && !this.#fragmented) {
      return "continuation frame without a message to continue";
    } else if (opcode !== 0 && this.#fragmented) {
      return `new data frame (opcode ${opcode}) inside a fragmented message`;
    }
    this.#need = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
    return undefined;
  }

  #completeHeader(): ScanEvent {
    const head = this.#head;
    const len7 = head[1]! & 0x7f;
    let length = len7;
    if (len7 === 126) length = (head[2]! << 8) | head[3]!;
    else if (len7 === 127) {
      const high = ((head[2]! << 24) | (head[3]! << 16) | (head[4]! << 8) | head[5]!) >>> 0;
      const low = ((head[6]! << 24) | (head[7]! << 16) | (head[8]! << 8) | head[9]!) >>> 0;
      if (high >= 0x8000_0000) return this.#fail(1002, "64-bit length with the most significant bit set");
      // Above 2^53 - 1 a number cannot count the payload exactly (npm ws refuses these too).
      if (high >= 0x20_0000) return this.#fail(1009, "frame longer than 2^53 - 1 bytes");
      length = high * 0x1_0000_0000 + low;
    }
    this.fin = (head[0]! & 0x80) !== 0;
    this.rsv = (head[0]! >> 4) & 0x07;
    this.opcode = head[0]! & 0x0f;
    this.masked = (head[1]! & 0x80) !== 0;
    this.length = length;
    this.headerSize = this.#need;
    if (this.opcode < 8) this.#fragmented = !this.fin;
    this.#have = 0;
    this.#need = 2;
    this.#inPayload = true;
    this.#remaining = length;
    return Scan.header;
  }
}
