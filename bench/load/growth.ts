/**
 * The `growth` scenario: does a new connection cost the proxy more when many tunnels are open?
 * After a warm-up, for each step (ascending tunnel counts): top the idle tunnels up to the step's
 * count (each upgraded and echoed once, then left alone), let the proxy settle while its idle CPU
 * is read, read its RSS, then time a fixed batch of connect + upgrade + close handshakes at low
 * concurrency (latency = connect to 101) and the proxy's CPU over the batch. Every phase is bounded;
 * a step whose tunnels cannot all be opened ends the climb, and what was measured is reported.
 */
import { TunnelSet } from "./idle.ts";
import { handshakeCycle } from "./cycle.ts";
import { LatencyHistogram } from "./histogram.ts";
import { Countdown, sleep } from "./countdown.ts";
import { Failures } from "./failures.ts";
import { cpuTicks, rssKiB } from "../procfs.ts";

export interface GrowthOptions {
  port: number;
  /** Open tunnels at each step, ascending. */
  steps: number[];
  /** Handshakes timed at each step. */
  handshakes: number;
  /** Handshakes in flight during a batch. */
  concurrency: number;
  /** Opening handshakes in flight while tunnels are added. */
  openConcurrency: number;
  pids: number[];
}

export interface GrowthStep {
  wanted: number;
  /** Tunnels open when the batch ran. */
  open: number;
  rssKiB: number;
  idleCpuTicks: number;
  idleSeconds: number;
  handshakes: number;
  failures: number;
  p50us: number;
  p99us: number;
  cpuTicks: number;
  seconds: number;
}

export interface GrowthResult {
  steps: GrowthStep[];
  /** Tunnels that failed to open plus timed handshakes that failed. */
  failures: number;
  /** Open tunnels that closed before the end. */
  dropped: number;
  /** Why the climb stopped early, if it did. */
  stopped?: string;
  errors: string[];
}

const WARMUP_HANDSHAKES = 300;
/** Before the idle CPU and RSS readings, after the tunnels were added. */
const SETTLE_MS = 3_000;
const BATCH_TIMEOUT_MS = 60_000;
const RETRY_DELAY_MS = 10;
/** Share of a step's new tunnels that may fail to open (counted) before the climb stops. */
const MAX_OPEN_FAILURES = 0.01;

interface Batch {
  handshakes: number;
  latency: LatencyHistogram;
}

/** `count` handshake cycles, `concurrency` at a time; latency from connect to the 101. */
async function batch(port: number, count: number, concurrency: number, failures: Failures): Promise<Batch> {
  const latency = new LatencyHistogram();
  const finished = new Countdown(count);
  let started = 0;
  let handshakes = 0;
  function attempt(): void {
    if (started >= count) return;
    started++;
    const t0 = performance.now();
    handshakeCycle(port, {
      upgraded: () => latency.record((performance.now() - t0) * 1000),
      done(failure) {
        finished.tick();
        if (failure === undefined) {
          handshakes++;
          attempt();
          return;
        }
        failures.add(failure);
        setTimeout(attempt, RETRY_DELAY_MS);
      },
    });
  }
  for (let i = 0; i < concurrency; i++) attempt();
  await finished.wait(BATCH_TIMEOUT_MS);
  // Past the timeout no new cycle starts; those in flight end within their own bound.
  started = count;
  return { handshakes, latency };
}

export async function runGrowth(o: GrowthOptions): Promise<GrowthResult> {
  const failures = new Failures();
  await batch(o.port, WARMUP_HANDSHAKES, o.concurrency, new Failures());
  const sets: TunnelSet[] = [];
  const open = () => sets.reduce((n, s) => n + s.tunnels.length - s.dropped, 0);
  const steps: GrowthStep[] = [];
  let stopped: string | undefined;
  for (const wanted of o.steps) {
    const add = wanted - open();
    if (add > 0) {
      const set = new TunnelSet(o.port, add);
      sets.push(set);
      const inTime = await set.open(o.openConcurrency);
      if (!inTime || set.failures.count > add * MAX_OPEN_FAILURES) {
        stopped = `step ${wanted}: ${open()} tunnels open (${inTime ? "too many failed" : "timed out"})`;
        break;
      }
    }
    const idleCpu0 = cpuTicks(o.pids);
    const idle0 = performance.now();
    await sleep(SETTLE_MS);
    const idleCpuTicks = cpuTicks(o.pids) - idleCpu0;
    const idleSeconds = (performance.now() - idle0) / 1000;
    const rss = rssKiB(o.pids);
    const failed = failures.count;
    const cpu0 = cpuTicks(o.pids);
    const t0 = performance.now();
    const b = await batch(o.port, o.handshakes, o.concurrency, failures);
    const cpu = cpuTicks(o.pids) - cpu0;
    steps.push({
      wanted,
      open: open(),
      rssKiB: rss,
      idleCpuTicks,
      idleSeconds,
      handshakes: b.handshakes,
      failures: failures.count - failed,
      p50us: b.latency.percentile(0.5),
      p99us: b.latency.percentile(0.99),
      cpuTicks: cpu,
      seconds: (performance.now() - t0) / 1000,
    });
  }
  const dropped = sets.reduce((n, s) => n + s.dropped, 0);
  await Promise.all(sets.map((s) => s.release()));
  return {
    steps,
    failures: failures.count + sets.reduce((n, s) => n + s.failures.count, 0),
    dropped,
    ...(stopped !== undefined && { stopped }),
    errors: [
      ...failures.summary(),
      ...sets.flatMap((s) => s.failures.summary().map((r) => `opening tunnels: ${r}`)),
      ...(stopped ? [`stopped early: ${stopped}`] : []),
    ],
  };
}
