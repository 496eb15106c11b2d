/**
 * `deno task bench`: wsgate against nginx, HAProxy and no proxy at all, in one run on one machine.
 *
 * A Bun echo backend runs for the whole benchmark. For every repetition, every case (echo,
 * bulk-1, bulk-4, handshake, idle) runs once per target, targets round-robin (rotated each
 * repetition), each target started fresh for each case and stopped by PID afterwards. The load
 * client (bench/load.ts, Bun) reports one JSON result per run; the medians go to a markdown table
 * and, with the raw numbers, to bench/results/latest.{json,md}. See bench/README.md.
 */
import { parseOptions, USAGE } from "./driver/args.ts";
import { type Case, CASES, figuresFor } from "./driver/cases.ts";
import { capture, exitWithin, Processes, sleep, waitForPort, waitPortFree } from "./driver/procs.ts";
import { allTargets, type Running, type Target, type TargetContext, wsgateBinary } from "./driver/targets.ts";
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
  const argv = ["bun", `${BENCH_DIR}/load.ts`, ...ctx.args, "--port", String(target.port)];
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

async function runOne(
  rep: number,
  c: Case,
  target: Target,
  env: { ctx: TargetContext; args: string[]; clkTck: number; limitMs: number },
): Promise<RunRecord> {
  const base = { rep, case: c.name, target: target.name, at: new Date().toISOString() };
  let running: Running | undefined;
  try {
    if (target.name !== "direct") await waitPortFree(target.port, 10_000);
    running = await target.start(env.ctx);
    const raw = await runLoad(c, target, running, { dir: env.ctx.dir, args: env.args, limitMs: env.limitMs });
    if (running.proc && !procs.isRunning(running.proc)) {
      throw new Error(`${target.name} exited during the run`);
    }
    return { ...base, raw, figures: figuresFor(c, raw, env.clkTck, target.name !== "direct") };
  } catch (err) {
    return { ...base, raw: null, figures: {}, error: err instanceof Error ? err.message : String(err) };
  } finally {
    if (running?.proc) await procs.stop(running.proc);
  }
}

function progress(r: RunRecord, runs: number): string {
  const head = `[${r.rep}/${runs}] ${r.case.padEnd(10)} ${r.target.padEnd(12)}`;
  if (r.error) return `${head} FAILED: ${r.error.split("\n")[0]}`;
  const figs = Object.entries(r.figures).map(([k, v]) => `${k.split(".")[1]}=${fmt(v)}`).join("  ");
  const failures = Number(r.raw?.["failures"] ?? 0);
  return `${head} ${figs}${failures > 0 ? `  (failures: ${failures})` : ""}`;
}

function notes(o: ReturnType<typeof parseOptions>, skipped: string[]): string[] {
  return [
    `${o.runs} run(s) per figure; echo/bulk/handshake: ${o.warmupS} s warm-up, then ${o.durationS} s measured. ` +
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
    "nginx: worker_processes 1, classic WebSocket config (map $connection_upgrade, proxy_http_version 1.1, " +
    "access_log off); HAProxy: nbthread 1, mode http, timeout tunnel 1h, no logging; wsgate: bench/wsgate.yaml.tmpl " +
    "(limits sized to the load, like nginx), " +
    "access log on, stdout to a file.",
    ...skipped,
  ];
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

  const { targets: known, skipped } = allTargets(opts.basePort, REPO_ROOT);
  const targets = known.filter((t) => opts.targets.includes(t.name));
  const skippedNotes = opts.targets.includes("wsgate-bin") ? skipped : [];
  for (const s of skippedNotes) console.log(`bench: skipping ${s}`);
  const cases = CASES.filter((c) => opts.scenarios.includes(c.scenario));
  if (targets.length === 0 || cases.length === 0) {
    console.error("bench: nothing to run");
    return 2;
  }
  await ensureInstalled(["nginx", "haproxy"].filter((n) => targets.some((t) => t.name === n)));

  const clkTck = await clockTicks();
  const meta: Meta = {
    date: new Date().toISOString(),
    command: `deno task bench ${Deno.args.join(" ")}`.trim(),
    machine: await machine(),
    versions: { ...await versions(opts.targets, wsgateBinary(REPO_ROOT)), wsgate: VERSION },
    options: { ...opts },
  };
  console.log(
    `bench: ${meta.machine["nproc"]} CPUs, ${meta.machine["memory"]}; ${JSON.stringify(meta.versions)}`,
  );

  tempDir = await Deno.makeTempDir({ prefix: "wsgate-bench-" });
  const backendPort = opts.basePort;
  for (const port of new Set([backendPort, ...targets.map((t) => t.port)])) await waitPortFree(port, 1_000);
  const backend = procs.spawn("backend", ["bun", `${BENCH_DIR}/echo_server.ts`, String(backendPort)], {
    logPath: `${tempDir}/backend.log`,
  });
  await waitForPort(backendPort, backend, 10_000);

  const ctx: TargetContext = { procs, dir: tempDir, backendPort, tunnels: opts.tunnels, repoRoot: REPO_ROOT };
  const limitMs = (opts.warmupS + opts.durationS) * 1000 + LOAD_SLACK_MS;
  const records: RunRecord[] = [];
  for (let rep = 1; rep <= opts.runs; rep++) {
    for (const c of cases) {
      for (const target of rotate(targets, rep - 1)) {
        if (!procs.isRunning(backend)) throw new Error(`the echo backend died; see ${backend.logPath}`);
        const record = await runOne(rep, c, target, { ctx, args: c.loadArgs(opts), clkTck, limitMs });
        if (interrupted) return 130;
        records.push(record);
        console.log(progress(record, opts.runs));
        // Let closes, TIME_WAIT churn and the backend settle before the next target.
        await sleep(c.scenario === "idle" ? 1_000 : 300);
      }
    }
  }

  meta.machine["load average at end"] = loadAverage();
  const names = targets.map((t) => t.name);
  const figures = cases.flatMap((c) => c.figures);
  const summary = summarise(records, figures, names);
  const table = markdownTable(summary, figures, { targets: names, runs: opts.runs });
  const checks = baselineChecks(summary, figures, names);
  const markdown = renderMarkdown(meta, {
    table,
    checks,
    problems: problems(records),
    notes: notes(opts, skippedNotes),
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
