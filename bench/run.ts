/**
 * `deno task bench`: wsgate against nginx, HAProxy and no proxy at all, in one run on one machine.
 *
 * A Bun echo backend runs for the whole benchmark. For every repetition, every case (echo,
 * bulk-1, bulk-4, handshake, idle) runs once per target, targets round-robin (rotated each
 * repetition), each target started fresh for each case and stopped by PID afterwards (after the
 * idle case, --release-wait seconds later, once its RSS has been read again). The load
 * client (bench/load.ts, Bun) reports one JSON result per run; the medians go to a markdown table
 * and, with the raw numbers, to bench/results/latest.{json,md}. See bench/README.md.
 */
import { parseOptions, USAGE } from "./driver/args.ts";
import {
  type Case,
  CASES,
  figuresFor,
  growthCase,
  HANDSHAKE_WARMUP_S,
  RELEASE_FIGURES,
} from "./driver/cases.ts";
import { fitSteps, GROWTH_LOOPBACKS, parseHardLimit } from "./driver/growth.ts";
import { capture, exitWithin, Processes, sleep, waitForPort, waitPortFree } from "./driver/procs.ts";
import {
  allTargets,
  baselineBinary,
  type Running,
  type Target,
  type TargetContext,
  wsgateBinary,
} from "./driver/targets.ts";
import { authTargets } from "./driver/auth_targets.ts";
import { rssKiB } from "./procfs.ts";
import { clockTicks, ensureInstalled, loadAverage, machine, versions } from "./driver/system.ts";
import {
  baselineChecks,
  fmt,
  markdownTable,
  type Meta,
  problems,
  renderMarkdown,
  type RunRecord,
  summarise,
} from "./driver/report.ts";
import { VERSION } from "../lib/process/version.ts";

const REPO_ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const BENCH_DIR = `${REPO_ROOT}/bench`;
const RESULTS_DIR = `${BENCH_DIR}/results`;
/** On top of the client's own deadline: the driver never waits forever on it. */
const LOAD_SLACK_MS = 240_000;

const procs = new Processes();
let tempDir: string | undefined;
let interrupted = false;

async function cleanup(): Promise<void> {
  await procs.stopAll();
  if (tempDir) await Deno.remove(tempDir, { recursive: true }).catch(() => {});
  tempDir = undefined;
}

function onSignal(): void {
  interrupted = true;
  console.error("\nbench: interrupted; stopping everything it started");
  cleanup().finally(() => Deno.exit(130));
}

/** The order of targets in repetition `rep`: rotated, so no target always runs first. */
function rotate<T>(items: T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

async function runLoad(
  c: Case,
  target: Target,
  running: Running,
  ctx: { dir: string; args: string[]; limitMs: number },
) {
  const argv = [
    "bun",
    `${BENCH_DIR}/load.ts`,
    ...ctx.args,
    ...running.loadArgs ?? [],
    "--port",
    String(target.port),
  ];
  if (target.proxyProtocol) argv.push("--proxy-protocol");
  const proc = procs.spawn("load", [...argv, "--pids", running.pids.join(",")], {
    logPath: `${ctx.dir}/load.log`,
  });
  const code = await exitWithin(proc, ctx.limitMs);
  await procs.stop(proc);
  const text = await Deno.readTextFile(proc.logPath).catch(() => "");
  const line = text.trim().split("\n").reverse().find((l) => l.startsWith("{"));
  if (code !== 0 || !line) {
    throw new Error(`load client (${c.name}) exit ${code ?? "timeout"}: ${text.slice(-400)}`);
  }
  return JSON.parse(line) as Record<string, unknown>;
}

interface Outcome {
  record: RunRecord;
  /** idle with --release-wait: settles once the RSS after closing is in the record and the target stopped. */
  released?: Promise<void>;
}

async function runOne(
  rep: number,
  c: Case,
  target: Target,
  env: {
    ctx: TargetContext;
    args: string[];
    clkTck: number;
    limitMs: number;
    releaseWaitMs: number;
    runs: number;
  },
): Promise<Outcome> {
  const base = { rep, case: c.name, target: target.name, at: new Date().toISOString() };
  const isProxy = target.name !== "direct";
  let running: Running | undefined;
  let keep = false;
  try {
    if (isProxy) await waitPortFree(target.port, 10_000);
    running = await target.start(env.ctx);
    const raw = await runLoad(c, target, running, { dir: env.ctx.dir, args: env.args, limitMs: env.limitMs });
    if (running.proc && !procs.isRunning(running.proc)) {
      throw new Error(`${target.name} exited during the run`);
    }
    const record: RunRecord = { ...base, raw, figures: figuresFor(c, raw, env.clkTck, isProxy) };
    if (c.scenario !== "idle" || !isProxy || env.releaseWaitMs === 0 || !running.proc) return { record };
    keep = true;
    return { record, released: afterRelease(record, c, running, env) };
  } catch (err) {
    return {
      record: { ...base, raw: null, figures: {}, error: err instanceof Error ? err.message : String(err) },
    };
  } finally {
    if (running?.proc && !keep) await procs.stop(running.proc);
  }
}

/**
 * The proxy's RSS --release-wait seconds after the idle tunnels closed, against its RSS before they
 * opened: does the memory come back? The target keeps running meanwhile while the next targets' idle
 * runs go on (idle measures no CPU, and an idle proxy takes none to speak of), then it is stopped.
 */
async function afterRelease(
  record: RunRecord,
  c: Case,
  running: Running,
  env: { clkTck: number; releaseWaitMs: number; runs: number },
): Promise<void> {
  const proc = running.proc!;
  try {
    await sleep(env.releaseWaitMs);
    if (!procs.isRunning(proc)) {
      record.error = `${record.target} exited during the release wait`;
      return;
    }
    const raw = { ...record.raw, rssReleasedKiB: rssKiB(running.pids) };
    record.raw = raw;
    record.figures = figuresFor(c, raw, env.clkTck, true);
  } finally {
    await procs.stop(proc);
  }
  if (!interrupted) console.log(progress(record, env.runs, RELEASE_FIGURES));
}

function progress(r: RunRecord, runs: number, only?: readonly string[]): string {
  const head = `[${r.rep}/${runs}] ${r.case.padEnd(10)} ${r.target.padEnd(15)}`;
  if (r.error) return `${head} FAILED: ${r.error.split("\n")[0]}`;
  const figs = Object.entries(r.figures)
    .filter(([k]) => only ? only.includes(k) : !RELEASE_FIGURES.some((f) => f === k))
    .map(([k, v]) => `${k.split(".")[1]}=${fmt(v)}`).join("  ");
  const failures = Number(r.raw?.["failures"] ?? 0);
  return `${head} ${figs}${!only && failures > 0 ? `  (failures: ${failures})` : ""}`;
}

function notes(o: ReturnType<typeof parseOptions>, skipped: string[]): string[] {
  return [
    `${o.runs} run(s) per figure; echo/bulk/handshake: ${o.warmupS} s warm-up, then ${o.durationS} s measured ` +
    `(handshake-warm: ${HANDSHAKE_WARMUP_S} s of handshakes first, so that the JIT has compiled the path). ` +
    "Targets run round-robin inside each repetition (order rotated per repetition); every target is started " +
    "fresh for every case and stopped by PID afterwards. One Bun echo backend (Bun.serve websocket) serves all.",
    "Load client: Bun raw TCP sockets with pre-built masked frames (bench/load.ts), one process, sharing the " +
    "machine's cores with the backend and the proxy; so throughput is noisy and the CPU figures matter most.",
    "Proxy CPU = utime+stime from /proc/PID/stat over the measured window, summed over the proxy's processes " +
    "(nginx: master + worker). echo: per round trip (one 64 B frame each way). bulk: per GB through the proxy, " +
    "both directions counted. handshake: per connect + upgrade + close handshake.",
    "bulk MB/s = echoed payload (10^6 B) per second, 1 MiB binary messages, ping-pong per connection.",
    `idle: ${o.tunnels} tunnels, each handshake + one 32 B echo, then 2 s settle; KiB/tunnel = (proxy RSS with ` +
    "the tunnels − RSS after a 200-tunnel warm-up) / tunnels, RSS (VmRSS) summed over the proxy's processes.",
    o.releaseWaitS > 0
      ? `idle, given back: the proxy's RSS ${o.releaseWaitS} s after the tunnels closed, minus its RSS before ` +
        "they opened (MB; 0 = all given back), and that as a share of what the tunnels added (%). The " +
        "proxy idles out the wait while the next targets' idle runs go on, then is stopped."
      : "idle, given back: not measured (--release-wait 0).",
    "Floors (bench/floor/): the least a program on each runtime does for the same job: find the end of " +
    "the head, dial, write it, then pipe both ways with backpressure and half-close; no validation, " +
    "routing, limits or logs. floor-bun: Bun.listen/Bun.connect callbacks, compiled with `bun build " +
    "--compile --minify --bytecode` like dist/wsgate; floor-deno: Deno.listen/Deno.connect read loops " +
    "(1 KiB buffer while idle, 64 KiB while data flows), run with wsgate-deno's V8 flag. `floor ×` in a " +
    "wsgate cell is wsgate's median over its runtime's floor's: the distance is wsgate's own cost.",
    "wsgate-baseline: the binary named by WSGATE_BASELINE_BIN (an earlier commit's build), started exactly " +
    "like wsgate-bin; `before ×` in wsgate-bin's cells is wsgate-bin over wsgate-baseline, same run.",
    "nginx: worker_processes 1, classic WebSocket config (map $connection_upgrade, proxy_http_version 1.1, " +
    "access_log off); HAProxy: nbthread 1, mode http, timeout tunnel 1h, no logging; wsgate: bench/wsgate.yaml.tmpl " +
    "(limits sized to the load, like nginx), " +
    "access log on, stdout to a file.",
    ...skipped,
  ];
}

/** The growth case, with the steps the open-files hard limit lets a proxy hold, and its notes. */
async function growthSetup(o: ReturnType<typeof parseOptions>): Promise<{ case: Case; notes: string[] }> {
  const hardLimit = parseHardLimit((await capture(["sh", "-c", "ulimit -Hn"])).text);
  const fitted = fitSteps(o.growthSteps, hardLimit);
  const notes = [
    `growth: at each step (${
      fitted.steps.join(", ")
    } tunnels open, each upgraded and echoed once), after a ` +
    `3 s settle (idle CPU read over it) and an RSS reading, ${o.growthHandshakes} connect + upgrade + close ` +
    "handshakes, 4 in flight; latency = connect to 101 at the client; CPU per handshake = the proxy's CPU " +
    `over the batch / handshakes. Connections spread over ${GROWTH_LOOPBACKS.join(", ")} on both legs ` +
    "(the proxy listens on all, the backend is reached on all). Targets that listen on one address only " +
    "(the floors) do not run it.",
  ];
  if (fitted.capped) {
    const { hardLimit: limit, max, dropped } = fitted.capped;
    notes.push(
      `growth: the open-files hard limit here is ${limit} (ulimit -Hn; raising it needs CAP_SYS_RESOURCE): ` +
        `a proxy process holds at most ~${max} tunnels (2 descriptors each), so step(s) ` +
        `${dropped.join(", ")} were replaced by ${max}.`,
    );
    console.log(`bench: ${notes.at(-1)}`);
  }
  return { case: growthCase(o, fitted.steps), notes };
}

async function main(): Promise<number> {
  let opts;
  try {
    opts = parseOptions(Deno.args);
  } catch (err) {
    console.error(`bench: ${err instanceof Error ? err.message : err}\n\n${USAGE}`);
    return 2;
  }
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);

  const all = allTargets(opts.basePort, REPO_ROOT);
  const bin = wsgateBinary(REPO_ROOT);
  const known = [...all.targets, ...bin ? authTargets(opts.basePort, bin) : []];
  const skipped = all.skipped;
  const targets = known.filter((t) => opts.targets.includes(t.name));
  const skippedNotes = skipped.filter((s) => s.targets.some((t) => opts.targets.includes(t)))
    .map((s) => `skipped ${s.note}`);
  for (const s of skippedNotes) console.log(`bench: ${s}`);
  const growth = opts.scenarios.includes("growth") ? await growthSetup(opts) : undefined;
  const cases = [...CASES, ...(growth ? [growth.case] : [])].filter((c) =>
    opts.scenarios.includes(c.scenario)
  );
  if (targets.length === 0 || cases.length === 0) {
    console.error("bench: nothing to run");
    return 2;
  }
  await ensureInstalled([
    ...["nginx", "haproxy"].filter((n) => targets.some((t) => t.name === n)),
    ...(cases.some((c) => c.scenario === "http") ? ["wrk"] : []),
  ]);

  const clkTck = await clockTicks();
  const meta: Meta = {
    date: new Date().toISOString(),
    command: `deno task bench ${Deno.args.join(" ")}`.trim(),
    machine: await machine(),
    versions: {
      ...await versions(opts.targets, {
        "wsgate-bin": wsgateBinary(REPO_ROOT),
        "wsgate-baseline": baselineBinary(),
      }),
      wsgate: VERSION,
    },
    options: { ...opts },
  };
  console.log(
    `bench: ${meta.machine["nproc"]} CPUs, ${meta.machine["memory"]}; ${JSON.stringify(meta.versions)}`,
  );

  tempDir = await Deno.makeTempDir({ prefix: "wsgate-bench-" });
  const backendPort = opts.basePort;
  for (const port of new Set([backendPort, ...targets.map((t) => t.port)])) await waitPortFree(port, 1_000);
  const backendArgv = ["bun", `${BENCH_DIR}/echo_server.ts`, String(backendPort), ...GROWTH_LOOPBACKS];
  const backend = procs.spawn("backend", backendArgv, {
    logPath: `${tempDir}/backend.log`,
  });
  await waitForPort(backendPort, backend, 10_000);

  const ctx: TargetContext = { procs, dir: tempDir, backendPort, tunnels: opts.tunnels, repoRoot: REPO_ROOT };
  const limitMs = (opts.warmupS + opts.durationS) * 1000 + LOAD_SLACK_MS;
  const releaseWaitMs = opts.releaseWaitS * 1000;
  const records: RunRecord[] = [];
  for (let rep = 1; rep <= opts.runs; rep++) {
    for (const c of cases) {
      const released: Promise<void>[] = [];
      for (const target of rotate(targets, rep - 1)) {
        if (!procs.isRunning(backend)) throw new Error(`the echo backend died; see ${backend.logPath}`);
        // A case spread over several loopback addresses needs targets that listen on all of them.
        if (c.shape && !target.multiAddress) continue;
        // wrk sends no PROXY header: a -pp target would refuse every request.
        if (c.scenario === "http" && target.proxyProtocol) continue;
        const env = {
          ctx: c.shape ? { ...ctx, ...c.shape } : ctx,
          args: c.loadArgs(opts),
          clkTck,
          limitMs: c.timeLimitMs !== undefined
            ? c.timeLimitMs + LOAD_SLACK_MS
            : limitMs + ((c.warmupS ?? opts.warmupS) - opts.warmupS) * 1000,
          releaseWaitMs,
          runs: opts.runs,
        };
        const outcome = await runOne(rep, c, target, env);
        if (interrupted) return 130;
        records.push(outcome.record);
        if (outcome.released) released.push(outcome.released);
        console.log(progress(outcome.record, opts.runs));
        // Let closes, TIME_WAIT churn and the backend settle before the next target.
        await sleep(c.scenario === "idle" ? 1_000 : 300);
      }
      // Every target of this case stopped before the next case (or repetition) starts.
      if (released.length > 0) {
        console.log(`bench: waiting for the last release readings (--release-wait ${opts.releaseWaitS})`);
        await Promise.all(released);
        if (interrupted) return 130;
      }
    }
  }

  meta.machine["load average at end"] = loadAverage();
  // Targets that ran nothing (a growth-only run skips the single-address ones) get no column.
  const names = targets.map((t) => t.name).filter((n) => records.some((r) => r.target === n));
  const figures = cases.flatMap((c) => c.figures)
    .filter((f) => opts.releaseWaitS > 0 || !RELEASE_FIGURES.some((k) => k === f.key));
  const summary = summarise(records, figures, names);
  const table = markdownTable(summary, figures, { targets: names, runs: opts.runs });
  const checks = baselineChecks(summary, figures, names);
  const markdown = renderMarkdown(meta, {
    table,
    checks,
    problems: problems(records),
    notes: notes(opts, [...skippedNotes, ...growth?.notes ?? []]),
  });
  const mdPath = `${RESULTS_DIR}/latest.md`;
  const jsonPath = `${RESULTS_DIR}/latest.json`;
  await Deno.mkdir(RESULTS_DIR, { recursive: true });
  await Deno.writeTextFile(mdPath, markdown);
  await Deno.writeTextFile(jsonPath, JSON.stringify({ meta, figures, summary, baseline: checks, records }));
  // The repo's `deno fmt --check` covers bench/: write the results in its format (aligned table).
  await capture([Deno.execPath(), "fmt", "--quiet", mdPath, jsonPath]);
  console.log(`\n${await Deno.readTextFile(mdPath)}`);
  console.log(`bench: wrote ${RESULTS_DIR}/latest.md and latest.json`);
  return records.some((r) => r.error) ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  console.error(`bench: ${err instanceof Error ? err.stack : err}`);
} finally {
  await cleanup();
}
Deno.exit(code);
