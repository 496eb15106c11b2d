/**
 * A clock that moves only when a test says so (lib/tunnel/clock.ts's seam, and the `now` hooks
 * elsewhere): timeouts are tested by advancing it, not by sleeping.
 */
import type { Clock, TimerHandle } from "../lib/tunnel/clock.ts";

export class ManualClock implements Clock {
  #time = 1_000_000;
  #next = 1;
  #timers = new Map<number, { at: number; run: () => void }>();

  now = (): number => this.#time;

  setTimeout(run: () => void, ms: number): TimerHandle {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#time + Math.max(0, ms), run });
    return id;
  }

  clearTimeout(timer: TimerHandle | undefined): void {
    this.#timers.delete(timer as number);
  }

  /** Timers set and not yet run or cleared. */
  get timers(): number {
    return this.#timers.size;
  }

  /** The wall clock steps by `ms` (negative: back, as NTP or a resumed VM may do); timers keep
   * their delays, as the runtime's do. */
  step(ms: number): void {
    this.#time += ms;
    for (const timer of this.#timers.values()) timer.at += ms;
  }

  /** Moves time forward by `ms`, firing due timers in time order, and lets what they started run. */
  async advance(ms: number): Promise<void> {
    const end = this.#time + ms;
    await settle(); // what the test just set going happens before time moves
    for (let due = this.#firstDue(end); due; due = this.#firstDue(end)) {
      this.#timers.delete(due[0]);
      this.#time = Math.max(this.#time, due[1].at);
      due[1].run();
      await settle();
    }
    this.#time = end;
    await settle();
  }

  #firstDue(end: number): [number, { at: number; run: () => void }] | undefined {
    let first: [number, { at: number; run: () => void }] | undefined;
    for (const entry of this.#timers) {
      if (entry[1].at <= end && (!first || entry[1].at < first[1].at)) first = entry;
    }
    return first;
  }
}

/** Lets every promise chain that can move without time or I/O run to where it waits. */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}
