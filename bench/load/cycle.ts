/**
 * One connection's whole life, as a reconnecting client lives it: connect, opening handshake,
 * close handshake (close frame both ways), FIN. Bounded by a timeout.
 */
import { WsClient } from "./client.ts";
import { closeFrame, OP_CLOSE } from "./frames.ts";

const CYCLE_TIMEOUT_MS = 5_000;
const CLOSE = closeFrame();

export interface CycleEvents {
  /** The 101 arrived. */
  upgraded?(): void;
  /** The socket closed; `failure` says why when the cycle was not clean. */
  done(failure: string | undefined): void;
}

/** `request`: the opening handshake to send (default: a plain one). */
export function handshakeCycle(port: number, on: CycleEvents, request?: Uint8Array): void {
  let gotClose = false;
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined = undefined;
  const ws = WsClient.open(port, {
    open(c) {
      on.upgraded?.();
      c.send(CLOSE);
    },
    message(c, opcode) {
      if (opcode !== OP_CLOSE) return;
      gotClose = true;
      c.end();
    },
    close(_c, failure) {
      clearTimeout(timer);
      if (gotClose && failure === undefined) on.done(undefined);
      else on.done(timedOut ? "timeout" : failure ?? "closed without a close frame");
    },
  }, request);
  timer = setTimeout(() => {
    timedOut = true;
    ws.abort();
  }, CYCLE_TIMEOUT_MS);
}

/** Upper bound of one cycle, for callers that wait for cycles to end. */
export const CYCLE_LIMIT_MS = CYCLE_TIMEOUT_MS;
