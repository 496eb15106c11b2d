/**
 * One garbage collection after a burst of connections, once the gateway has gone quiet: a reconnect
 * storm leaves the heap grown by its garbage, and a collector that only runs when allocation goes on
 * keeps that room (and the RSS) for the quiet hours that follow (bench/RESULTS.md: ~2.5 KiB per idle
 * tunnel on the binary, and memory not given back after a peak). A burst is at least MIN_EVENTS
 * accepts and closes, and at least as many as connections are open: a full collection's pause grows
 * with the open tunnels, so a trickle of connections never pays for one.
 */
import type { Clock, TimerHandle } from "../tunnel/clock.ts";

/** How long without an accept or a close counts as quiet. */
export const QUIET_MS = 1_000;
/** How often the count is read: a collection comes 1 to 1.25 quiet periods after the last event. */
export const CHECK_MS = 250;
export const MIN_EVENTS = 1_000;

export interface QuietCollectorOptions {
  /** Accepts plus closes so far (only ever grows). */
  events(): number;
  /** Connections open now. */
  open(): number;
  collect(): void;
  clock: Clock;
}

/** Starts watching; the returned function stops it. */
export function collectWhenQuiet(options: QuietCollectorOptions): () => void {
  const { clock } = options;
  let collectedAt = options.events();
  let seen = collectedAt;
  let changed = clock.now();
  let timer: TimerHandle | undefined;
  const check = () => {
    const events = options.events();
    if (events !== seen) {
      seen = events;
      changed = clock.now();
    } else if (
      clock.now() - changed >= QUIET_MS && events - collectedAt >= Math.max(MIN_EVENTS, options.open())
    ) {
      collectedAt = events;
      options.collect();
    }
    timer = clock.setTimeout(check, CHECK_MS);
  };
  timer = clock.setTimeout(check, CHECK_MS);
  return () => clock.clearTimeout(timer);
}
