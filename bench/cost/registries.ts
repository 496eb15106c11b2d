/**
 * Growth beyond what this sandbox's sockets allow (issue 11, item 4): the per-process structures
 * every handshake touches, measured with 0 to 100,000 tunnels already open. A socket-level growth
 * run stops at 8,800 tunnels here (hard open-files limit 20,000, no CAP_SYS_RESOURCE to raise
 * it); these structures are what could make a handshake cost grow with open tunnels:
 * - the watchdog: watch() when a tunnel opens, unwatch() when it closes, and the sweeps every
 *   250 ms, amortised per handshake at 2,000 handshakes/s;
 * - the gateway's set of live connections (one add and one delete per connection);
 * - the connection limits (admit and release, per-IP counters).
 * Open tunnels are synthetic (day-long idle timeout, as with the defaults), the clock is moved
 * by hand, so the figures are the structures' own, not the event loop's.
 *
 *   deno run bench/cost/registries.ts      bun bench/cost/registries.ts
 */
import { SWEEP_MS, Watchdog, type WatchedTunnel } from "../../lib/tunnel/watchdog.ts";
import { Limits } from "../../lib/admit/limits.ts";
import type { Clock, TimerHandle } from "../../lib/tunnel/clock.ts";

const DAY_MS = 86_400_000;
const SIZES = [0, 1_000, 10_000, 30_000, 100_000];
/** Handshakes per second the sweep cost is spread over (about what one core does). */
const HANDSHAKES_PER_S = 2_000;

/** A clock that moves only when told; the watchdog's one timer runs when its time comes. */
class HandClock implements Clock {
  #now = 1_700_000_000_000;
  #timer: { at: number; run: () => void } | undefined;
  now(): number {
    return this.#now;
  }
  setTimeout(run: () => void, ms: number): TimerHandle {
    this.#timer = { at: this.#now + ms, run };
    return 1 as TimerHandle;
  }
  clearTimeout(): void {
    this.#timer = undefined;
  }
  advance(ms: number): void {
    this.#now += ms;
    const timer = this.#timer;
    if (timer && timer.at <= this.#now) {
      this.#timer = undefined;
      timer.run();
    }
  }
}

/** An open tunnel as the watchdog sees it: idle, its only deadline a day after its last byte. */
class IdleTunnel implements WatchedTunnel {
  readonly up = { bytes: 0 };
  readonly down = { bytes: 0 };
  watchSlot: number | undefined;
  watchIndex = 0;
  readonly #lastRead: number;
  constructor(now: number) {
    this.#lastRead = now;
  }
  checkAt(): number {
    return this.#lastRead + DAY_MS;
  }
  overdue(now: number): string | undefined {
    return now - this.#lastRead >= DAY_MS ? "idle_timeout" : undefined;
  }
  abort(): void {}
}

/** µs per call of `fn`, best of 5 rounds of `n` calls (after a warm-up round). */
function measure(fn: (i: number) => unknown, n: number): number {
  let best = Infinity;
  for (let round = 0; round < 6; round++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn(i);
    const us = ((performance.now() - t0) * 1000) / n;
    if (round > 0) best = Math.min(best, us);
  }
  return best;
}

function row(open: number): string[] {
  const clock = new HandClock();
  const watchdog = new Watchdog(clock);
  const live = new Set<object>();
  const limits = new Limits({ max_connections: 1_000_000, max_connections_per_ip: 0, rate: 0, burst: 0 });
  const held: string[] = [];
  for (let i = 0; i < open; i++) {
    const tunnel = new IdleTunnel(clock.now());
    watchdog.watch(tunnel);
    live.add(tunnel);
    // Spread over addresses like the growth run's clients (several loopback sources).
    const ip = `127.0.${(i >> 8) & 255}.${i & 255}`;
    if (limits.count(ip, clock.now()) === null) held.push(ip);
  }
  // Let the wheel settle: every open tunnel placed in its slot a horizon ahead.
  for (let i = 0; i < 260; i++) clock.advance(SWEEP_MS);
  const fresh = Array.from({ length: 1_000 }, () => new IdleTunnel(clock.now()));
  const watchPair = measure((i) => {
    const tunnel = fresh[i % fresh.length]!;
    watchdog.watch(tunnel);
    watchdog.unwatch(tunnel);
  }, 50_000);
  const livePair = measure((i) => {
    const conn = fresh[i % fresh.length]!;
    live.add(conn);
    live.delete(conn);
  }, 50_000);
  const admitPair = measure(() => {
    if (limits.count("10.0.0.1", clock.now()) === null) limits.free("10.0.0.1");
  }, 50_000);
  // One sweep every 250 ms; a horizon's worth of them, so each open tunnel is looked at once.
  const sweepUs = measure(() => clock.advance(SWEEP_MS), 240);
  const sweepPerHandshake = (sweepUs * (1_000 / SWEEP_MS)) / HANDSHAKES_PER_S;
  for (const ip of held) limits.free(ip);
  return [
    open.toLocaleString("en-US"),
    watchPair.toFixed(3),
    livePair.toFixed(3),
    admitPair.toFixed(3),
    sweepUs.toFixed(1),
    sweepPerHandshake.toFixed(3),
  ];
}

const runtime = "Bun" in globalThis
  ? `Bun ${(globalThis as unknown as { Bun: { version: string } }).Bun.version}`
  : `Deno ${Deno.version.deno}`;
console.log(
  `| open tunnels (${runtime}) | watch + unwatch, µs | live set add + delete, µs | admit + release, µs | ` +
    `one sweep, µs | sweeps per handshake at ${HANDSHAKES_PER_S.toLocaleString("en-US")}/s, µs |`,
);
console.log("| ---: | ---: | ---: | ---: | ---: | ---: |");
for (const open of SIZES) console.log(`| ${row(open).join(" | ")} |`);
