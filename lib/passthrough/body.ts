/**
 * Body relay for plain HTTP and for non-101 answers to an Upgrade: copy exactly one message
 * body, as its framing says (Content-Length, chunked, or until the sender closes), so the
 * receiver sees a complete message and nothing after it. Chunked trailers lose the fields that
 * must not be in trailers (http/chunked.ts).
 */
import { type BodyFraming, ChunkedScanner } from "../http/chunked.ts";
import { HeadParseError, NetError } from "../errors.ts";
import { concat, EMPTY } from "../net/bytes.ts";
import type { Conn } from "../runtime/types.ts";

/** Turns incoming bytes into the body bytes to forward: a prefix of each chunk, except where a
 * chunked body's trailer section is held back and comes out filtered. Pure. */
export class BodyCutter {
  readonly framing: BodyFraming;
  #remaining: number;
  #scanner: ChunkedScanner | undefined;
  #done: boolean;
  #leftover: Uint8Array = EMPTY;

  constructor(framing: BodyFraming) {
    this.framing = framing;
    this.#remaining = framing.kind === "length" ? framing.length : 0;
    this.#scanner = framing.kind === "chunked" ? new ChunkedScanner() : undefined;
    this.#done = framing.kind === "none" || (framing.kind === "length" && framing.length === 0);
  }

  get done(): boolean {
    return this.#done;
  }

  /** Bytes of the chunk that completed the body found after its end (a copy): the start of the
   * next message on a kept-alive connection, or bytes a backend must not have sent. */
  get leftover(): Uint8Array {
    return this.#leftover;
  }

  cut(chunk: Uint8Array): Uint8Array {
    if (this.#done) {
      if (chunk.length > 0) this.#leftover = chunk.slice();
      return chunk.subarray(0, 0);
    }
    if (this.framing.kind === "length") {
      const take = Math.min(this.#remaining, chunk.length);
      this.#remaining -= take;
      this.#done = this.#remaining === 0;
      if (this.#done && take < chunk.length) this.#leftover = chunk.slice(take);
      return chunk.subarray(0, take);
    }
    const scanner = this.#scanner;
    if (scanner) {
      // The trailer section is held back, and forwarded without the fields a proxy must not pass on.
      const end = scanner.push(chunk);
      const from = scanner.heldFrom;
      if (end === -1) return from === chunk.length ? chunk : chunk.subarray(0, from);
      this.#done = true;
      if (end < chunk.length) this.#leftover = chunk.slice(end);
      const trailers = scanner.trailers;
      return trailers ? concat(chunk.subarray(0, from), trailers) : chunk.subarray(0, end);
    }
    return chunk; // close-delimited: everything until EOF
  }
}

/** How long one read may wait for bytes, and one write for the receiver (ms; 0 = no limit). */
export interface RelayTimeouts {
  readTimeout: number;
  sendTimeout: number;
}

/** Copies one body from `from` to `to`, starting with `first` (bytes already read past the
 * head). Returns the body bytes copied. Throws when the sender ends the body early, or
 * NetError("ETIMEDOUT") when a read or write outlasts `timeouts`: a stalled sender or a
 * client that stops reading must not hold both connections forever. */
export async function relayBody(
  from: Conn,
  to: Conn,
  cutter: BodyCutter,
  first: Uint8Array,
  timeouts: RelayTimeouts = { readTimeout: 0, sendTimeout: 0 },
): Promise<number> {
  let copied = 0;
  let chunk: Uint8Array | null = first;
  while (true) {
    const part = cutter.cut(chunk);
    if (part.length > 0) {
      await within(to.write(part), timeouts.sendTimeout, "body write blocked");
      copied += part.length;
    }
    if (cutter.done) return copied;
    chunk = await within(from.read(), timeouts.readTimeout, "no body bytes");
    if (chunk === null) {
      if (cutter.framing.kind === "close") return copied;
      throw new HeadParseError("connection closed before the body was complete");
    }
  }
}

function within<T>(step: Promise<T>, ms: number, what: string): Promise<T> {
  if (ms <= 0) return step;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new NetError("ETIMEDOUT", `${what} for ${ms} ms`)), ms);
  });
  return Promise.race([step, late]).finally(() => clearTimeout(timer));
}

/** What `promise` resolved to, if it did within `ms`; undefined if it failed or took longer. */
export function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), ms));
  return Promise.race([promise.catch(() => undefined), late]).finally(() => clearTimeout(timer));
}
