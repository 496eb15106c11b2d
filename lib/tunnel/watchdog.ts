/**
 * One timer for every tunnel's timeouts. Tunnels only stamp Date.now() as bytes move; a sweep
 * a few times a second asks each one whether it is overdue. That keeps timers (and their
 * allocations) off the per-chunk hot path, at the price of up to SWEEP_MS of slack.
 */

export interface WatchedTunnel {
  overdue(now: number): string | undefined;
  abort(closedBy: "proxy", reason: string): void;
  /** Bytes moved so far each way (up = client to upstream). */
  readonly up: { bytes: number };
  readonly down: { bytes: number };
}

const SWEEP_MS = 250;

export class Watchdog {
  #tunnels = new Set<WatchedTunnel>();
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Starts watching; the returned function stops it (call it exactly when the tunnel ends). */
  watch(tunnel: WatchedTunnel): () => void {
    this.#tunnels.add(tunnel);
    this.#timer ??= setInterval(() => this.#sweep(), SWEEP_MS);
    return () => {
      this.#tunnels.delete(tunnel);
      if (this.#tunnels.size === 0 && this.#timer !== undefined) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    };
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
    const now = Date.now();
    for (const tunnel of this.#tunnels) {
      const reason = tunnel.overdue(now);
      if (reason) tunnel.abort("proxy", reason);
    }
  }
}
