/**
 * The `echo` and `bulk` scenarios: N connections, each sends one message and waits for its echo
 * before sending the next. Warm-up first, then a measured window in which messages, latency and
 * the proxy's CPU time are counted.
 */
import { WsClient } from "./client.ts";
import { maskedFrame, OP_BINARY } from "./frames.ts";
import { LatencyHistogram } from "./histogram.ts";
import { Countdown, sleep } from "./countdown.ts";
import { Failures } from "./failures.ts";
import { cpuTicks } from "../procfs.ts";

export interface PingPongOptions {
  port: number;
  conns: number;
  payloadBytes: number;
  warmupMs: number;
  durationMs: number;
  /** The proxy's processes, whose CPU time is measured over the window. */
  pids: number[];
}

export interface PingPongResult {
  conns: number;
  messages: number;
  payloadBytes: number;
  seconds: number;
  cpuTicks: number;
  p50us: number;
  p99us: number;
  p999us: number;
  failures: number;
  errors: string[];
}

const OPEN_TIMEOUT_MS = 10_000;
const CLOSE_TIMEOUT_MS = 3_000;

export async function runPingPong(o: PingPongOptions): Promise<PingPongResult> {
  const frame = maskedFrame(OP_BINARY, new Uint8Array(o.payloadBytes).fill(0x61));
  const histogram = new LatencyHistogram();
  const sentAt = new Float64Array(o.conns);
  const upgraded = new Uint8Array(o.conns);
  const opened = new Countdown(o.conns);
  const closed = new Countdown(o.conns);
  const failures = new Failures();
  let measuring = false;
  let stopped = false;
  let messages = 0;

  const clients = Array.from({ length: o.conns }, (_, i) =>
    WsClient.open(o.port, {
      open() {
        upgraded[i] = 1;
        opened.tick();
      },
      message(ws, opcode) {
        if (opcode !== OP_BINARY) return;
        if (measuring) {
          messages++;
          histogram.record((performance.now() - sentAt[i]!) * 1000);
        }
        if (stopped) return;
        sentAt[i] = performance.now();
        ws.send(frame);
      },
      close(_ws, failure) {
        closed.tick();
        if (!upgraded[i]) opened.tick();
        if (!stopped) failures.add(failure ?? "closed by the peer during the run");
      },
    }));

  await opened.wait(OPEN_TIMEOUT_MS);
  const live = clients.filter((_, i) => upgraded[i]);
  for (const [i, ws] of clients.entries()) {
    if (!upgraded[i]) continue;
    sentAt[i] = performance.now();
    ws.send(frame);
  }

  await sleep(o.warmupMs);
  const cpu0 = cpuTicks(o.pids);
  const t0 = performance.now();
  measuring = true;
  await sleep(o.durationMs);
  measuring = false;
  stopped = true;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuTicks(o.pids) - cpu0;

  for (const ws of clients) ws.end();
  await closed.wait(CLOSE_TIMEOUT_MS);
  return {
    conns: live.length,
    messages,
    payloadBytes: o.payloadBytes,
    seconds,
    cpuTicks: cpu,
    p50us: histogram.percentile(0.5),
    p99us: histogram.percentile(0.99),
    p999us: histogram.percentile(0.999),
    failures: failures.count,
    errors: failures.summary(),
  };
}
