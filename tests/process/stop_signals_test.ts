import assert from "node:assert/strict";
import { onStopSignals, REPEAT_MS, type StopSignal } from "../../lib/process/stop_signals.ts";
import type { SignalName } from "../../lib/runtime/types.ts";

/** A host whose signals the test sends, at times the test chooses. */
function setup() {
  const handlers = new Map<SignalName, () => void>();
  const calls: string[] = [];
  let time = 0;
  onStopSignals({ onSignal: (signal, handler) => handlers.set(signal, handler) }, {
    drain: (signal: StopSignal) => calls.push(`drain ${signal}`),
    exitNow: (signal: StopSignal) => calls.push(`exit ${signal}`),
    now: () => time,
  });
  const send = (signal: SignalName, at: number) => {
    time = at;
    handlers.get(signal)!();
  };
  return { send, calls };
}

Deno.test("stop signals: the first drains; the same Ctrl-C delivered twice within a second is ignored", () => {
  const { send, calls } = setup();
  send("SIGINT", 0);
  send("SIGINT", 5); // npx relaying the terminal's Ctrl-C
  send("SIGTERM", REPEAT_MS - 1); // a supervisor's SIGTERM to a worker that got the SIGINT too
  assert.deepEqual(calls, ["drain SIGINT"]);
});

Deno.test("stop signals: a second one a second or more after the first stops at once", () => {
  const { send, calls } = setup();
  send("SIGTERM", 0);
  send("SIGINT", REPEAT_MS);
  send("SIGINT", REPEAT_MS + 10);
  assert.deepEqual(calls, ["drain SIGTERM", "exit SIGINT", "exit SIGINT"]);
});
