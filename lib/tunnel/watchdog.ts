/**
 * One timer for every tunnel's timeouts. Tunnels only stamp the clock's time as bytes move; a
 * sweep a few times a second asks the tunnels whose time may have come whether they are overdue.
 * That keeps timers (and their allocations) off the per-chunk hot path, at the price of up to
 * SWEEP_MS of slack. Which tunnels a sweep looks at comes from a timing wheel: each tunnel sits in
 * the slot of the earliest time it could be overdue (WatchedTunnel.checkAt), at most
 * HORIZON_SLOTS ahead, so a sweep costs what is due, not one check per open tunnel (30,000 idle
 * tunnels with day-long timeouts: ~125 checks per sweep instead of 30,000).
 * The wheel is also the registry of open tunnels the admin lists and closes (GET /tunnels.json,
 * POST /tunnels/{id}/close): no second collection per tunnel.
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
  /** The earliest time overdue() could give a reason, judged at `now` (the stamps it reads only
   * move later, so this is never later than the real deadline); absent: every sweep. */
  checkAt?(now: number): number;
  /** The watchdog's own mark: the wheel slot the tunnel sits in (LOOKED_AT while a sweep asks
   * it; undefined when not watched). */
  watchSlot?: number | undefined;
  /** The watchdog's own mark: where in its slot the tunnel is. */
  watchIndex?: number;
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
/** A tunnel far from any deadline is looked at again within this many sweeps (60 s). */
const HORIZON_SLOTS = 240;
/** The mark of a tunnel a sweep took out of its slot to look at (no slot number is negative). */
const LOOKED_AT = -1;

function slotOf(time: number): number {
  return Math.floor(time / SWEEP_MS);
}

export class Watchdog {
  /** The time every watched tunnel stamps and is judged by. */
  readonly clock: Clock;
  /** The wheel: slot number -> the tunnels to look at in that sweep. Every watched tunnel is in
   * exactly one slot (or being looked at by a sweep): the wheel is also the registry, no second
   * set with an entry per open tunnel (memory per idle tunnel). Arrays, not sets: a tunnel knows
   * its index (watchIndex), and an array costs a word per tunnel where a set cost ~60 bytes. */
  #slots = new Map<number, WatchedTunnel[]>();
  #watched = 0;
  /** The slot of the last sweep, to notice the clock stepping back. */
  #lastSwept = -Infinity;
  #timer: TimerHandle | undefined;
  /** Set by abortAll(): the reason new tunnels are ended with. */
  #stopped: string | undefined;

  constructor(clock: Clock = systemClock) {
    this.clock = clock;
  }

  /** Starts watching `tunnel` until unwatch(); after abortAll() it is aborted at once instead. */
  watch(tunnel: WatchedTunnel): void {
    if (this.#stopped !== undefined) return tunnel.abort("proxy", this.#stopped);
    if (tunnel.watchSlot !== undefined) return;
    this.#watched++;
    const now = this.clock.now();
    this.#place(tunnel, now, slotOf(now));
    if (this.#timer === undefined) this.#schedule();
  }

  /** Stops watching (call it exactly when the tunnel ends). A method, not a closure per tunnel:
   * an idle tunnel's memory is a headline figure. */
  unwatch(tunnel: WatchedTunnel): void {
    if (tunnel.watchSlot === undefined) return;
    this.#watched--;
    this.#unslot(tunnel);
    if (this.#watched === 0 && this.#timer !== undefined) {
      this.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Ends every open tunnel, and any that starts later, as the proxy's doing (shutdown): one loop
   * here instead of an abort listener per tunnel. */
  abortAll(reason: string): void {
    this.#stopped = reason;
    for (const tunnel of [...this.open()]) tunnel.abort("proxy", reason);
  }

  #schedule(): void {
    this.#timer = this.clock.setTimeout(() => {
      this.#sweep();
      if (this.#watched > 0) this.#schedule();
      else this.#timer = undefined;
    }, SWEEP_MS);
  }

  /** The open tunnels, by the time they are next looked at (the admin sorts them). */
  *open(): IterableIterator<WatchedTunnel> {
    for (const due of this.#slots.values()) yield* due;
  }

  /** The open tunnel of connection `id` (a scan: an operator's click, not a hot path). */
  find(id: number): WatchedTunnel | undefined {
    for (const tunnel of this.open()) if (tunnel.owner?.id === id) return tunnel;
    return undefined;
  }

  /** Bytes and messages moved so far by the tunnels still open. */
  liveTraffic(): LiveTraffic {
    const live = { up: 0, down: 0, upMessages: 0, downMessages: 0 };
    for (const tunnel of this.open()) {
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

  /** Looks at the tunnels of every slot that has come, and puts each in its next slot. */
  #sweep(): void {
    const now = this.clock.now();
    const current = slotOf(now);
    // The wall clock stepped back (NTP, a resumed VM): every slot lies that much further away
    // than meant, so the wheel is laid out again from now.
    if (current < this.#lastSwept) this.#reslotAll(now, current);
    this.#lastSwept = current;
    // Slots are at most HORIZON_SLOTS + 1 keys; ones added during the loop lie ahead of `current`.
    for (const [slot, due] of this.#slots) {
      if (slot > current) continue;
      // The slot stays in the wheel while it is worked through: a tunnel that ends meanwhile
      // (unwatch) leaves it before its turn.
      for (let tunnel = due.pop(); tunnel !== undefined; tunnel = due.pop()) {
        // Still watched (unwatch() clears the mark) until it has ended: a tracked tunnel closes
        // with a handshake first.
        tunnel.watchSlot = LOOKED_AT;
        const reason = tunnel.overdue(now);
        if (reason) tunnel.abort("proxy", reason);
        if (tunnel.watchSlot === LOOKED_AT) this.#place(tunnel, now, current);
      }
      this.#slots.delete(slot);
    }
  }

  #reslotAll(now: number, current: number): void {
    const all = [...this.open()];
    this.#slots.clear();
    for (const tunnel of all) this.#place(tunnel, now, current);
  }

  /** Into the slot of its next check: the next sweep at the earliest, HORIZON_SLOTS at the latest. */
  #place(tunnel: WatchedTunnel, now: number, current: number): void {
    const at = tunnel.checkAt ? slotOf(tunnel.checkAt(now)) : current + 1;
    const slot = Math.min(Math.max(at, current + 1), current + HORIZON_SLOTS);
    let due = this.#slots.get(slot);
    if (!due) this.#slots.set(slot, due = []);
    tunnel.watchIndex = due.push(tunnel) - 1;
    tunnel.watchSlot = slot;
  }

  #unslot(tunnel: WatchedTunnel): void {
    const slot = tunnel.watchSlot;
    if (slot === undefined) return;
    tunnel.watchSlot = undefined;
    const due = this.#slots.get(slot);
    if (!due) return; // LOOKED_AT: a sweep took it out of its slot already
    // The last one takes its place.
    const last = due.pop()!;
    if (last !== tunnel) {
      const index = tunnel.watchIndex!;
      due[index] = last;
      last.watchIndex = index;
    }
    if (due.length === 0) this.#slots.delete(slot);
  }
}
