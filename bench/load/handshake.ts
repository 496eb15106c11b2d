/**
 * The `handshake` scenario: `concurrency` loops, each opening a new TCP connection, doing the
 * WebSocket handshake, then the close handshake (close frame both ways, FIN), and starting over.
 */
import { WsClient } from "./client.ts";
import { closeFrame, OP_CLOSE } from "./frames.ts";
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

const ATTEMPT_TIMEOUT_MS = 5_000;
/** After a failure, so a refusing proxy does not turn the loop into a busy spin. */
const RETRY_DELAY_MS = 10;

export async function runHandshakes(o: HandshakeOptions): Promise<HandshakeResult> {
  const close = closeFrame();
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
    let gotClose = false;
    let timedOut = false;
    let timer: ReturnType<typeof setTimeout> | undefined = undefined;
    const ws = WsClient.open(o.port, {
      open(c) {
        c.send(close);
      },
      message(c, opcode) {
        if (opcode !== OP_CLOSE) return;
        gotClose = true;
        c.end();
      },
      close(_c, failure) {
        clearTimeout(timer);
        const succeeded = gotClose && failure === undefined;
        if (measuring) {
          if (succeeded) handshakes++;
          else failures.add(timedOut ? "timeout" : failure ?? "closed without a close frame");
        }
        next(succeeded);
      },
    }, o.request);
    timer = setTimeout(() => {
      timedOut = true;
      ws.abort();
    }, ATTEMPT_TIMEOUT_MS);
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
  await finished.wait(ATTEMPT_TIMEOUT_MS + 1_000);
  return { handshakes, failures: failures.count, seconds, cpuTicks: cpu, errors: failures.summary() };
}
