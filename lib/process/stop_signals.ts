/**
 * SIGTERM and SIGINT stop the process: the first one drains; a second one at least REPEAT_MS
 * after it stops at once. A repeat inside that window is the same stop delivered twice and is
 * ignored: one Ctrl-C reaches the process from the terminal's process group and again relayed by
 * `npx` or `deno task`, and workers get the terminal's SIGINT besides their supervisor's SIGTERM.
 */
import type { Host, SignalName } from "../runtime/types.ts";

export const REPEAT_MS = 1_000;

export type StopSignal = Extract<SignalName, "SIGTERM" | "SIGINT">;

export interface StopHandlers {
  /** The first stop: drain, then exit. */
  drain(signal: StopSignal): void;
  /** A second stop, REPEAT_MS or more after the first. */
  exitNow(signal: StopSignal): void;
  now?: () => number;
}

export function onStopSignals(host: Pick<Host, "onSignal">, handlers: StopHandlers): void {
  const now = handlers.now ?? Date.now;
  let first: number | undefined;
  const stop = (signal: StopSignal) => {
    if (first === undefined) {
      first = now();
      return handlers.drain(signal);
    }
    if (now() - first >= REPEAT_MS) handlers.exitNow(signal);
  };
  host.onSignal("SIGTERM", () => stop("SIGTERM"));
  host.onSignal("SIGINT", () => stop("SIGINT"));
}
