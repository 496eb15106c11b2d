/**
 * The `idle` scenario: open many tunnels (handshake + one small echo each, so the whole path is
 * established and has carried data), leave them idle, and compare the proxy's RSS before and after.
 */
import { WsClient } from "./client.ts";
import { maskedFrame, OP_BINARY } from "./frames.ts";
import { Countdown, sleep } from "./countdown.ts";
import { Failures } from "./failures.ts";
import { rssKiB } from "../procfs.ts";

export interface IdleOptions {
  port: number;
  tunnels: number;
  /** Opening handshakes in flight at once (listen backlogs are finite). */
  concurrency: number;
  /** Pause before each RSS reading, so allocations settle. */
  settleMs: number;
  pids: number[];
}

export interface IdleResult {
  tunnels: number;
  failures: number;
  /** Tunnels that closed while they should have stayed idle. */
  dropped: number;
  rssBeforeKiB: number;
  rssAfterKiB: number;
  openSeconds: number;
  errors: string[];
}

const OPEN_TIMEOUT_MS = 90_000;
const CLOSE_TIMEOUT_MS = 15_000;
/** Opened and closed before the baseline: one-time costs (code, pools) are not per tunnel. */
const WARMUP_TUNNELS = 200;

/** Tunnels opened `concurrency` at a time, each upgraded and echoed once, then left idle. */
export class TunnelSet {
  readonly tunnels: WsClient[] = [];
  readonly failures = new Failures();
  dropped = 0;
  #ping = maskedFrame(OP_BINARY, new Uint8Array(32));
  #port: number;
  #count: number;
  #started = 0;
  #settled: Countdown;
  #closed: Countdown;
  #releasing = false;

  constructor(port: number, count: number) {
    this.#port = port;
    this.#count = count;
    this.#settled = new Countdown(count);
    this.#closed = new Countdown(count);
  }

  /** Opens every tunnel, `concurrency` at a time; false when the time ran out. */
  open(concurrency: number): Promise<boolean> {
    for (let i = 0; i < concurrency; i++) this.#startNext();
    return this.#settled.wait(OPEN_TIMEOUT_MS);
  }

  /** Closes every tunnel (FIN) and waits for the sockets to close. */
  release(): Promise<boolean> {
    this.#releasing = true;
    for (const ws of this.tunnels) ws.end();
    return this.#closed.wait(CLOSE_TIMEOUT_MS);
  }

  #startNext(): void {
    if (this.#started >= this.#count) return;
    this.#started++;
    let established = false;
    WsClient.open(this.#port, {
      open: (ws) => ws.send(this.#ping),
      message: (ws, opcode) => {
        if (opcode !== OP_BINARY || established) return;
        established = true;
        this.tunnels.push(ws);
        this.#settled.tick();
        this.#startNext();
      },
      close: (_ws, failure) => {
        this.#closed.tick();
        if (established) {
          if (!this.#releasing) this.dropped++;
          return;
        }
        this.failures.add(failure ?? "closed before the echo");
        this.#settled.tick();
        this.#startNext();
      },
    });
  }
}

export async function runIdle(o: IdleOptions): Promise<IdleResult> {
  const warm = new TunnelSet(o.port, Math.min(WARMUP_TUNNELS, o.tunnels));
  await warm.open(o.concurrency);
  await warm.release();
  await sleep(o.settleMs);
  const rssBeforeKiB = rssKiB(o.pids);

  const set = new TunnelSet(o.port, o.tunnels);
  const t0 = performance.now();
  await set.open(o.concurrency);
  const openSeconds = (performance.now() - t0) / 1000;
  await sleep(o.settleMs);
  const rssAfterKiB = rssKiB(o.pids);
  const dropped = set.dropped;
  await set.release();
  return {
    tunnels: set.tunnels.length - dropped,
    failures: set.failures.count,
    dropped,
    rssBeforeKiB,
    rssAfterKiB,
    openSeconds,
    errors: set.failures.summary(),
  };
}
