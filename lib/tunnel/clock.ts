/**
 * The tunnel phase's time: the system's, or a test's that moves only when told, so timeout
 * behaviour (read, send, idle, keepalive, close grace, drain spread) is tested without sleeping.
 * One clock per Watchdog, reached through it: no per-tunnel field.
 */
export interface Clock {
  now(): number;
  setTimeout(run: () => void, ms: number): TimerHandle;
  clearTimeout(timer: TimerHandle | undefined): void;
}

/** Opaque to callers: whatever the clock's setTimeout returned. */
export type TimerHandle = { readonly __timer: unique symbol } | number;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (run, ms) => setTimeout(run, ms) as unknown as TimerHandle,
  clearTimeout: (timer) => clearTimeout(timer as number | undefined),
};
