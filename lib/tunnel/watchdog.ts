/**
 * One timer for every tunnel's timeouts. Tunnels only stamp the clock's time as bytes move; a
 * sweep a few times a second asks each one whether it is overdue. That keeps timers (and their
 * allocations) off the per-chunk hot path, at the price of up to SWEEP_MS of slack.
 * The set of watched tunnels is also the registry of open tunnels the admin lists and closes
 * (GET /tunnels.json, POST /tunnels/{id}/close): no second collection per tunnel.
 */
import { type Clock, systemClock, type TimerHandle } from "./clock.ts";

/**
 * Whose tunnel it is: the connection's record, which lives as long as the tunnel anyway, so the
 * registry costs one reference per tunnel and describe() builds its answer only when asked.
 */
export interface TunnelOwner {
  readonly id: number;
  /** ms since the epoch: when the connection was accepted. */
  readonly started: number;
  /** upstream = the group's name, server = the upstream server's address. */
  describe(): { client: string; route: string; upstream: string; server: string };
}

export interface WatchedTunnel {
  overdue(now: number): string | undefined;
  abort(closedBy: "proxy", reason: string): void;
  /** Bytes moved so far each way (up = client to upstream). */
  readonly up: { bytes: number };
  readonly down: { bytes: number };
  /** Data messages so far each way, on tunnels that follow WebSocket frames. */
  messages?(): { up: number; down: number };
  /** Undefined for a tunnel started without one (unit tests of the pipe). */
  readonly owner?: TunnelOwner | undefined;
}

/** What the open tunnels moved so far, for metrics that do not wait for the close. */
export interface LiveTraffic {
  up: number;
  down: number;
  upMessages: number;
  downMessages: number;
}

export const SWEEP_MS = 250;

export class Watchdog {
  /** The time every watched tunnel stamps and is judged by. */
  readonly clock: Clock;
  #tunnels = new Set<WatchedTunnel>();
  #timer: TimerHandle | undefined;
  /** Set by abortAll(): the reason new tunnels are ended with. */
  #stopped: string | undefined;

  constructor(clock: Clock = systemClock) {
    this.clock = clock;
  }

  /** Starts watching `tunnel` until unwatch(); after abortAll() it is aborted at once instead. */
  watch(tunnel: WatchedTunnel): void {
    if (this.#stopped !== undefined) return tunnel.abort("proxy", this.#stopped);
    this.#tunnels.add(tunnel);
    if (this.#timer === undefined) this.#schedule();
  }

  /** Stops watching (call it exactly when the tunnel ends). A method, not a closure per tunnel:
   * an idle tunnel's memory is a headline figure. */
  unwatch(tunnel: WatchedTunnel): void {
    this.#tunnels.delete(tunnel);
    if (this.#tunnels.size === 0 && this.#timer !== undefined) {
      this.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Ends every open tunnel, and any that starts later, as the proxy's doing (shutdown): one loop
   * here instead of an abort listener per tunnel. */
  abortAll(reason: string): void {
    this.#stopped = reason;
    for (const tunnel of [...this.#tunnels]) tunnel.abort("proxy", reason);
  }

  #schedule(): void {
    this.#timer = this.clock.setTimeout(() => {
      this.#sweep();
      if (this.#tunnels.size > 0) this.#schedule();
      else this.#timer = undefined;
    }, SWEEP_MS);
  }

  /** The open tunnels, in the order they opened. */
  open(): IterableIterator<WatchedTunnel> {
    return this.#tunnels.values();
  }

  /** The open tunnel of connection `id` (a scan: an operator's click, not a hot path). */
  find(id: number): WatchedTunnel | undefined {
    for (const tunnel of this.#tunnels) if (tunnel.owner?.id === id) return tunnel;
    return undefined;
  }

  /** Bytes and messages moved so far by the tunnels still open. */
  liveTraffic(): LiveTraffic {
    const live = { up: 0, down: 0, upMessages: 0, downMessages: 0 };
    for (const tunnel of this.#tunnels) {
      live.up += tunnel.up.bytes;
      live.down += tunnel.down.bytes;
      const messages = tunnel.messages?.();
      if (messages) {
        live.upMessages += messages.up;
        live.downMessages += messages.down;
      }
    }
    return live;
  }

  #sweep(): void {
    const now = this.clock.now();
    for (const tunnel of this.#tunnels) {
      const reason = tunnel.overdue(now);
      if (reason) tunnel.abort("proxy", reason);
    }
  }
}
