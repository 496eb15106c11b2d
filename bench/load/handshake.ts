/**
 * The `handshake` scenario: `concurrency` loops, each opening a new TCP connection, doing the
 * WebSocket handshake, then the close handshake (close frame both ways, FIN), and starting over.
 */
import { CYCLE_LIMIT_MS, handshakeCycle } from "./cycle.ts";
import { Countdown, sleep } from "./countdown.ts";
import { Failures } from "./failures.ts";
import { cpuTicks } from "../procfs.ts";

export interface HandshakeOptions {
  port: number;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  pids: number[];
  /** The opening handshake to send (e.g. with an Authorization header); default a plain one. */
  request?: Uint8Array;
}

export interface HandshakeResult {
  handshakes: number;
  failures: number;
  seconds: number;
  cpuTicks: number;
  errors: string[];
}

/** After a failure, so a refusing proxy does not turn the loop into a busy spin. */
const RETRY_DELAY_MS = 10;

export async function runHandshakes(o: HandshakeOptions): Promise<HandshakeResult> {
  const failures = new Failures();
  const finished = new Countdown(o.concurrency);
  let measuring = false;
  let stopped = false;
  let handshakes = 0;

  const next = (succeeded: boolean): void => {
    if (stopped) finished.tick();
    else if (succeeded) attempt();
    else setTimeout(attempt, RETRY_DELAY_MS);
  };

  function attempt(): void {
    handshakeCycle(o.port, {
      done(failure) {
        if (measuring) {
          if (failure === undefined) handshakes++;
          else failures.add(failure);
        }
        next(failure === undefined);
      },
    }, o.request);
  }

  for (let i = 0; i < o.concurrency; i++) attempt();
  await sleep(o.warmupMs);
  const cpu0 = cpuTicks(o.pids);
  const t0 = performance.now();
  measuring = true;
  await sleep(o.durationMs);
  measuring = false;
  stopped = true;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuTicks(o.pids) - cpu0;
  await finished.wait(CYCLE_LIMIT_MS + 1_000);
  return { handshakes, failures: failures.count, seconds, cpuTicks: cpu, errors: failures.summary() };
}
