/**
 * One timer for every tunnel's timeouts. Tunnels only stamp the clock's time as bytes move; a
 * sweep a few times a second asks each one whether it is overdue. That keeps timers (and their
 * allocations) off the per-chunk hot path, at the price of up to SWEEP_MS of slack.
 */
import { type Clock, systemClock, type TimerHandle } from "./clock.ts";

export interface WatchedTunnel {
  overdue(now: number): string | undefined;
  abort(closedBy: "proxy", reason: string): void;
  /** Bytes moved so far each way (up = client to upstream). */
  readonly up: { bytes: number };
  readonly down: { bytes: number };
}

export const SWEEP_MS = 250;

export class Watchdog {
  /** The time every watched tunnel stamps and is judged by. */
  readonly clock: Clock;
  #tunnels = new Set<WatchedTunnel>();
  #timer: TimerHandle | undefined;

  constructor(clock: Clock = systemClock) {
    this.clock = clock;
  }

  /** Starts watching; the returned function stops it (call it exactly when the tunnel ends). */
  watch(tunnel: WatchedTunnel): () => void {
    this.#tunnels.add(tunnel);
    if (this.#timer === undefined) this.#schedule();
    return () => {
      this.#tunnels.delete(tunnel);
      if (this.#tunnels.size === 0 && this.#timer !== undefined) {
        this.clock.clearTimeout(this.#timer);
        this.#timer = undefined;
      }
    };
  }

  #schedule(): void {
    this.#timer = this.clock.setTimeout(() => {
      this.#sweep();
      if (this.#tunnels.size > 0) this.#schedule();
      else this.#timer = undefined;
    }, SWEEP_MS);
  }

  /** Bytes moved so far by the tunnels still open, for metrics that do not wait for the close. */
  liveBytes(): { up: number; down: number } {
    let up = 0;
    let down = 0;
    for (const tunnel of this.#tunnels) {
      up += tunnel.up.bytes;
      down += tunnel.down.bytes;
    }
    return { up, down };
  }

  #sweep(): void {
    const now = this.clock.now();
    for (const tunnel of this.#tunnels) {
      const reason = tunnel.overdue(now);
      if (reason) tunnel.abort("proxy", reason);
    }
  }
}
