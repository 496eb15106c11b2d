/**
 * A handshake's cancellation (the client left, shutdown_timeout, connect_timeout) in plain JS:
 * the part of AbortSignal the dial and the exchange use. An AbortController is a native object
 * with a native listener list on Bun and an EventTarget on Deno; a handshake made two and added and
 * removed three listeners, ~7 µs of a Bun handshake's samples (bench/RESULTS.md). Code that is
 * handed a cancellation takes a CancelSignal, which an AbortSignal (a health check's) also is.
 */

/** What the dial and the exchange ask of a signal. */
export interface CancelSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  throwIfAborted(): void;
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

/** Controller and signal in one. Listeners run once, in the order added, as an AbortSignal's: one
 * added twice runs once, one removed during the abort (by an earlier one) does not run, one that
 * throws does not stop the others (the first error is rethrown after them). */
export class Cancel implements CancelSignal {
  aborted = false;
  reason: unknown = undefined;
  #listeners: (() => void)[] = [];

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.#listeners;
    let failure: { error: unknown } | undefined;
    for (let run = listeners.shift(); run !== undefined; run = listeners.shift()) {
      try {
        run();
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
  }

  throwIfAborted(): void {
    if (this.aborted) throw this.reason;
  }

  /** On a cancellation already aborted, the listener never runs (as an AbortSignal's). */
  addEventListener(_type: "abort", listener: () => void): void {
    if (!this.aborted && !this.#listeners.includes(listener)) this.#listeners.push(listener);
  }

  removeEventListener(_type: "abort", listener: () => void): void {
    const at = this.#listeners.indexOf(listener);
    if (at !== -1) this.#listeners.splice(at, 1);
  }
}
