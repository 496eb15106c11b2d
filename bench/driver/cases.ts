/**
 * What each benchmark case runs (load-client arguments) and which figures it yields from the
 * client's raw JSON. Pure: no I/O.
 */
import type { Options, Scenario } from "./args.ts";
import { GROWTH_LOOPBACKS } from "./growth.ts";

export interface Figure {
  key: string;
  label: string;
  better: "higher" | "lower";
  /** Only meaningful with a proxy in the path (CPU and memory of the proxy). */
  proxyOnly: boolean;
  /** Throughput/latency figures on which `direct` must beat every proxy. */
  baseline: boolean;
  /** false: a signed difference, which no ratio (to nginx or a floor) makes sense of. */
  ratios?: boolean;
}

export interface Case {
  name: string;
  scenario: Scenario;
  figures: Figure[];
  loadArgs(o: Options): string[];
  /** Figure key -> value, from the load client's result (NaN when it cannot be computed). */
  derive(raw: Record<string, unknown>, clkTck: number): Record<string, number>;
  /** How the targets are set up for this case, when not the default (one address, --tunnels):
   * the tunnels their limits must hold and the loopback addresses they listen on and reach the
   * backend on. Targets that listen on one address only are skipped. */
  shape?: { tunnels: number; loopbacks: readonly string[] };
  /** The load client's own time bound, when it is not warm-up + duration. */
  timeLimitMs?: number;
  /** Its own warm-up, in place of --warmup. */
  warmupS?: number;
}

const MIB = 1024 * 1024;
const ECHO_CONNS = 100;
const ECHO_BYTES = 64;
const HANDSHAKE_CONCURRENCY = 50;
const HTTP_CONNS = 50;
/** The idle figures that need the RSS read after the tunnels closed (absent with --release-wait 0). */
export const RELEASE_FIGURES = ["idle.kept", "idle.keptPct"] as const;
/** Opening handshakes in flight while the idle tunnels are built. */
const IDLE_OPEN_CONCURRENCY = 100;

function fig(key: string, label: string, better: Figure["better"], kind: "proxy" | "baseline" | "plain") {
  return { key, label, better, proxyOnly: kind === "proxy", baseline: kind === "baseline" };
}

function num(raw: Record<string, unknown>, key: string): number {
  const v = raw[key];
  return typeof v === "number" ? v : NaN;
}

function timing(o: Options): string[] {
  return [
    "--warmup-ms",
    String(Math.round(o.warmupS * 1000)),
    "--duration-ms",
    String(Math.round(o.durationS * 1000)),
  ];
}

function bulkCase(conns: number): Case {
  const k = `bulk${conns}`;
  return {
    name: `bulk-${conns}`,
    scenario: "bulk",
    figures: [
      fig(`${k}.mbps`, `bulk MB/s, ${conns} conn${conns > 1 ? "s" : ""} × 1 MiB echo`, "higher", "baseline"),
      fig(`${k}.cpu`, `bulk proxy CPU s/GB, ${conns} conn${conns > 1 ? "s" : ""}`, "lower", "proxy"),
    ],
    loadArgs: (o) => ["--scenario", "bulk", "--conns", String(conns), "--size", String(MIB), ...timing(o)],
    derive(raw, clkTck) {
      const bytes = num(raw, "messages") * num(raw, "payloadBytes");
      // Every echoed byte crosses the proxy twice (out and back): GB counts both directions.
      return {
        [`${k}.mbps`]: bytes / num(raw, "seconds") / 1e6,
        [`${k}.cpu`]: num(raw, "cpuTicks") / clkTck / ((2 * bytes) / 1e9),
      };
    },
  };
}

/** Plain HTTP GETs with wrk over HTTP_CONNS connections, kept alive or one request each. */
function httpCase(keepAlive: boolean): Case {
  const k = keepAlive ? "http" : "httpClose";
  const how = keepAlive ? "kept alive" : "Connection: close";
  return {
    name: keepAlive ? "http-keepalive" : "http-close",
    scenario: "http",
    figures: [
      fig(`${k}.rate`, `plain GETs/s, ${HTTP_CONNS} conns, ${how}`, "higher", "baseline"),
      fig(`${k}.failed`, `plain GET failures, ${how}`, "lower", "plain"),
      fig(`${k}.cpu`, `plain GET proxy CPU µs/request, ${how}`, "lower", "proxy"),
    ],
    loadArgs: (o) => [
      "--scenario",
      "http",
      "--conns",
      String(HTTP_CONNS),
      ...(keepAlive ? [] : ["--close"]),
      ...timing(o),
    ],
    derive: (raw, clkTck) => ({
      [`${k}.rate`]: num(raw, "requests") / num(raw, "seconds"),
      [`${k}.failed`]: num(raw, "failures"),
      [`${k}.cpu`]: (num(raw, "cpuTicks") / clkTck) * 1e6 / num(raw, "requests"),
    }),
  };
}

/** JSC and V8 compile their optimizing tiers during the first ~10 s of handshake load (Bun: ~2.5 s
 * of FTL compiles, bench/RESULTS.md): handshake-warm measures after that, handshake (--warmup)
 * includes it, as a freshly started process meets a reconnect storm. */
export const HANDSHAKE_WARMUP_S = 15;

function handshakeCase(warm: boolean): Case {
  const k = warm ? "hsw" : "hs";
  const when = warm ? `, after ${HANDSHAKE_WARMUP_S} s of them (JIT warm)` : "";
  return {
    name: warm ? "hs-warm" : "handshake",
    scenario: warm ? "handshake-warm" : "handshake",
    figures: [
      fig(
        `${k}.rate`,
        `handshakes/s, ${HANDSHAKE_CONCURRENCY} concurrent (connect+upgrade+close)${when}`,
        "higher",
        "baseline",
      ),
      fig(`${k}.failed`, `handshake failures${when}`, "lower", "plain"),
      fig(`${k}.cpu`, `handshake proxy CPU µs/handshake${when}`, "lower", "proxy"),
    ],
    loadArgs: (o) => [
      "--scenario",
      "handshake",
      "--conns",
      String(HANDSHAKE_CONCURRENCY),
      ...(warm ? timing({ ...o, warmupS: HANDSHAKE_WARMUP_S }) : timing(o)),
    ],
    ...(warm && { warmupS: HANDSHAKE_WARMUP_S }),
    derive: (raw, clkTck) => ({
      [`${k}.rate`]: num(raw, "handshakes") / num(raw, "seconds"),
      [`${k}.failed`]: num(raw, "failures"),
      [`${k}.cpu`]: (num(raw, "cpuTicks") / clkTck) * 1e6 / num(raw, "handshakes"),
    }),
  };
}

export const CASES: Case[] = [
  {
    name: "echo",
    scenario: "echo",
    figures: [
      fig("echo.rate", `echo msgs/s, ${ECHO_CONNS} conns × ${ECHO_BYTES} B ping-pong`, "higher", "baseline"),
      fig("echo.p50", "echo p50 latency, ms", "lower", "plain"),
      fig("echo.p99", "echo p99 latency, ms", "lower", "baseline"),
      fig("echo.p999", "echo p99.9 latency, ms", "lower", "plain"),
      fig("echo.cpu", "echo proxy CPU µs/msg", "lower", "proxy"),
    ],
    loadArgs: (
      o,
    ) => ["--scenario", "echo", "--conns", String(ECHO_CONNS), "--size", String(ECHO_BYTES), ...timing(o)],
    derive: (raw, clkTck) => ({
      "echo.rate": num(raw, "messages") / num(raw, "seconds"),
      "echo.p50": num(raw, "p50us") / 1000,
      "echo.p99": num(raw, "p99us") / 1000,
      "echo.p999": num(raw, "p999us") / 1000,
      "echo.cpu": (num(raw, "cpuTicks") / clkTck) * 1e6 / num(raw, "messages"),
    }),
  },
  bulkCase(1),
  bulkCase(4),
  handshakeCase(false),
  handshakeCase(true),
  httpCase(true),
  httpCase(false),
  {
    name: "idle",
    scenario: "idle",
    figures: [
      fig("idle.kib", "idle proxy KiB/tunnel", "lower", "proxy"),
      fig("idle.rss", "idle proxy RSS with all tunnels, MB", "lower", "proxy"),
      fig("idle.failed", "idle tunnels failed or dropped", "lower", "plain"),
      // Read by the driver --release-wait seconds after the tunnels closed (rssReleasedKiB).
      fig(
        RELEASE_FIGURES[0],
        "idle RSS not given back after closing, MB over before opening",
        "lower",
        "proxy",
      ),
      fig(RELEASE_FIGURES[1], "idle share of the tunnels' RSS not given back, %", "lower", "proxy"),
    ],
    loadArgs: (
      o,
    ) => ["--scenario", "idle", "--conns", String(IDLE_OPEN_CONCURRENCY), "--tunnels", String(o.tunnels)],
    derive: (raw) => ({
      "idle.kib": (num(raw, "rssAfterKiB") - num(raw, "rssBeforeKiB")) / num(raw, "tunnels"),
      "idle.rss": num(raw, "rssAfterKiB") * 1024 / 1e6,
      "idle.failed": num(raw, "failures") + num(raw, "dropped"),
      "idle.kept": (num(raw, "rssReleasedKiB") - num(raw, "rssBeforeKiB")) * 1024 / 1e6,
      "idle.keptPct": 100 * (num(raw, "rssReleasedKiB") - num(raw, "rssBeforeKiB")) /
        (num(raw, "rssAfterKiB") - num(raw, "rssBeforeKiB")),
    }),
  },
];

/** growth: connect + upgrade + close handshakes in flight while a step's batch is timed. */
const GROWTH_CONCURRENCY = 4;
/** Bounds each step of the load client (opening <= 90 s, settle, batch <= 60 s) with room to spare. */
const GROWTH_STEP_LIMIT_MS = 180_000;

/**
 * growth: handshake latency, CPU per handshake and RSS with `steps` tunnels open (see
 * load/growth.ts); the last rows divide the largest step's figure by the smallest's.
 */
export function growthCase(o: Options, steps: readonly number[]): Case {
  const first = steps[0]!;
  const last = steps.at(-1)!;
  const per = (
    key: string,
    label: (n: string) => string,
    better: Figure["better"],
    kind: "proxy" | "plain",
  ) => steps.map((n) => fig(`growth.${key}.${n}`, label(n.toLocaleString("en-US")), better, kind));
  const growthRow = (key: string, what: string) => ({
    ...fig(
      `growth.${key}x`,
      `growth: ${what}, ${last.toLocaleString("en-US")} open ÷ ${first} open`,
      "lower",
      "plain",
    ),
    ratios: false,
  });
  return {
    name: "growth",
    scenario: "growth",
    figures: [
      ...per("p50", (n) => `growth: handshake p50 ms, ${n} tunnels open`, "lower", "plain"),
      ...per("p99", (n) => `growth: handshake p99 ms, ${n} tunnels open`, "lower", "plain"),
      ...per("cpu", (n) => `growth: proxy CPU µs/handshake, ${n} tunnels open`, "lower", "proxy"),
      ...per("idle", (n) => `growth: proxy CPU while idle, % of a core, ${n} tunnels open`, "lower", "proxy"),
      ...per("rss", (n) => `growth: proxy RSS MB, ${n} tunnels open`, "lower", "proxy"),
      growthRow("p50", "handshake p50"),
      growthRow("p99", "handshake p99"),
      { ...growthRow("cpu", "proxy CPU per handshake"), proxyOnly: true },
      fig("growth.failed", "growth: handshakes and tunnels failed or dropped", "lower", "plain"),
    ],
    loadArgs: () => [
      "--scenario",
      "growth",
      "--steps",
      steps.join(","),
      "--handshakes",
      String(o.growthHandshakes),
      "--conns",
      String(GROWTH_CONCURRENCY),
      "--hosts",
      GROWTH_LOOPBACKS.join(","),
      "--deadline-ms",
      String(steps.length * GROWTH_STEP_LIMIT_MS),
    ],
    derive(raw, clkTck) {
      const measured = Array.isArray(raw["steps"]) ? raw["steps"] as Record<string, unknown>[] : [];
      const out: Record<string, number> = {
        "growth.failed": num(raw, "failures") + num(raw, "dropped"),
      };
      for (const n of steps) {
        const s = measured.find((m) => m["wanted"] === n) ?? {};
        out[`growth.p50.${n}`] = num(s, "p50us") / 1000;
        out[`growth.p99.${n}`] = num(s, "p99us") / 1000;
        out[`growth.cpu.${n}`] = (num(s, "cpuTicks") / clkTck) * 1e6 / num(s, "handshakes");
        out[`growth.idle.${n}`] = 100 * (num(s, "idleCpuTicks") / clkTck) / num(s, "idleSeconds");
        out[`growth.rss.${n}`] = num(s, "rssKiB") * 1024 / 1e6;
      }
      for (const key of ["p50", "p99", "cpu"]) {
        out[`growth.${key}x`] = out[`growth.${key}.${last}`]! / out[`growth.${key}.${first}`]!;
      }
      return out;
    },
    shape: { tunnels: last, loopbacks: GROWTH_LOOPBACKS },
    timeLimitMs: steps.length * GROWTH_STEP_LIMIT_MS,
  };
}

/** Figures for one target: proxy-only figures are dropped for `direct` (nothing to measure). */
export function figuresFor(c: Case, raw: Record<string, unknown>, clkTck: number, isProxy: boolean) {
  const derived = c.derive(raw, clkTck);
  return Object.fromEntries(
    c.figures.filter((f) => isProxy || !f.proxyOnly).map((f) => [f.key, derived[f.key] ?? NaN]),
  );
}
