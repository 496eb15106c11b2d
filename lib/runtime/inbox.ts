/**
 * Turns a callback-style socket (Bun's `data`, node:tls's `data` event) into pull-style reads:
 * a chunk goes straight to a parked reader, or waits in a queue. A chunk that has to wait pauses
 * the socket at once, before its next read: nobody is taking bytes (the reader is blocked on a
 * write the other side does not take, or nobody reads yet), and one read can bring up to 512 KiB
 * on Bun. It resumes once the reader has taken everything queued. So a stalled reader holds the
 * chunk it is writing and at most one more. In a flowing tunnel the reader is parked whenever a
 * chunk arrives, so this costs nothing there. Chunks are the runtime's own (fresh per callback),
 * so they are handed over without copying.
 */
import type { HttpError, NetError } from "../errors.ts";

/** Why reads end in failure: the socket failed, or the client was refused before TLS began
 * (plain HTTP on a TLS port). */
export type ReadFailure = NetError | HttpError;

const PAUSED = 1;
const ENDED = 2;

export class Inbox {
  #flow: { pause(): void; resume(): void };
  /** Made on first use: a spliced or idle connection never queues (memory per idle tunnel). */
  #queue: Uint8Array[] | undefined;
  /** PAUSED, ENDED: one field for both keeps an inbox in 64 bytes instead of 80 (JSC's size
   * classes), two per idle tunnel. */
  #state = 0;
  #error: ReadFailure | undefined;
  #reader: { resolve(chunk: Uint8Array | null): void; reject(err: unknown): void } | undefined;
  #onGone: (() => void) | undefined;

  constructor(flow: { pause(): void; resume(): void }) {
    this.#flow = flow;
  }

  get ended(): boolean {
    return (this.#state & ENDED) !== 0;
  }

  get error(): ReadFailure | undefined {
    return this.#error;
  }

  get empty(): boolean {
    return !this.#queue?.length;
  }

  /** From the data callback: to the parked reader, else into the queue. */
  push(chunk: Uint8Array): void {
    this.#onGone = undefined; // data came first: the peer is not gone
    const reader = this.#reader;
    if (reader) {
      this.#reader = undefined;
      reader.resolve(chunk);
      return;
    }
    (this.#queue ??= []).push(chunk);
    this.pause();
  }

  /** The next queued chunk without waiting, if any; reading resumes once none is left. */
  shift(): Uint8Array | undefined {
    const chunk = this.#queue?.shift();
    if (chunk && this.empty) this.resume();
    return chunk;
  }

  read(): Promise<Uint8Array | null> {
    this.unwatch();
    const chunk = this.shift();
    if (chunk) return Promise.resolve(chunk);
    if (this.#error) return Promise.reject(this.#error);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      this.#reader = { resolve, reject };
    });
  }

  /** Conn.peerGone(), without consuming anything: the socket's own end/close/error tells. */
  peerGone(): Promise<void> {
    if (!this.empty || (this.ended && !this.#error)) return new Promise(() => {});
    if (this.#error) return Promise.resolve();
    return new Promise((resolve) => this.#onGone = resolve);
  }

  /** A reader took over: peerGone()'s watcher (and what it holds) is let go. */
  unwatch(): void {
    this.#onGone = undefined;
  }

  /** No more data will come (EOF, close, or `error`); a parked reader is woken once the queue is empty. */
  end(error?: ReadFailure): void {
    if (error && !this.ended) this.#error ??= error;
    this.#state |= ENDED;
    if (this.#error) this.#onGone?.();
    this.#onGone = undefined;
    const reader = this.#reader;
    if (reader && this.empty) {
      this.#reader = undefined;
      if (this.#error) reader.reject(this.#error);
      else reader.resolve(null);
    }
  }

  pause(): void {
    if (this.#state & PAUSED) return;
    this.#state |= PAUSED;
    this.#flow.pause();
  }

  resume(): void {
    if (!(this.#state & PAUSED)) return;
    this.#state &= ~PAUSED;
    this.#flow.resume();
  }
}
