/** Command-line options of `deno task bench` (pure: parses the given argv only). */
import { parseArgs } from "node:util";

export const SCENARIOS = ["echo", "bulk", "handshake", "handshake-warm", "idle", "http", "growth"] as const;
export type Scenario = typeof SCENARIOS[number];
/** growth takes minutes per target: only when asked for. */
const DEFAULT_SCENARIOS = SCENARIOS.filter((s) => s !== "growth" && s !== "handshake-warm");
export const TARGETS = [
  "direct",
  "nginx",
  "haproxy",
  "wsgate-deno",
  "wsgate-bin",
  "wsgate-tracked",
  // One process (or thread) per core: nginx worker_processes auto, HAProxy nbthread = cores, wsgate workers: auto.
  "nginx-auto",
  "haproxy-auto",
  "wsgate-bin-auto",
  // Each runtime's floor: the least a program on it can do for the same job (bench/floor/).
  "floor-bun",
  "floor-deno",
  // The floors running wsgate's pure handshake steps on their way (bench/floor/steps.ts).
  "floor-bun-steps",
  "floor-deno-steps",
  // An earlier commit's binary ($WSGATE_BASELINE_BIN), started like wsgate-bin: before/after in one run.
  "wsgate-baseline",
  // wsgate-bin with auth on the route (bench/driver/auth_targets.ts): jwt with an RS256 or ES256
  // PEM key, forward-auth to a local service without and with its verdict cache.
  "wsgate-jwt-rs256",
  "wsgate-jwt-es256",
  "wsgate-forward",
  "wsgate-forward-cache",
  // wsgate-bin and wsgate-deno with `proxy_protocol: true`: the client sends a PROXY v1 header first.
  "wsgate-bin-pp",
  "wsgate-deno-pp",
] as const;
export type TargetName = typeof TARGETS[number];
/** The PROXY protocol variants and the floors with steps run when asked for: they repeat wsgate-bin,
 * wsgate-deno and the floors. */
const DEFAULT_TARGETS = TARGETS.filter((t) => !t.endsWith("-pp") && !t.endsWith("-steps"));

export interface Options {
  runs: number;
  durationS: number;
  warmupS: number;
  scenarios: Scenario[];
  targets: TargetName[];
  tunnels: number;
  /** idle: seconds after the tunnels closed before the proxy's RSS is read again (0: not measured). */
  releaseWaitS: number;
  /** The backend listens here, the proxies on the next ports; all must stay below 32768. */
  basePort: number;
  /** growth: open tunnels at which handshakes are timed and RSS read, ascending. */
  growthSteps: number[];
  /** growth: handshakes timed at each step. */
  growthHandshakes: number;
  help: boolean;
}

export const USAGE = `deno task bench [options]

  --runs N            repetitions of every figure (default 3); targets are interleaved per repetition
  --duration S        measured seconds per echo/bulk/handshake run (default 5)
  --warmup S          warm-up seconds before each measured window (default 1)
  --scenarios LIST    any of ${SCENARIOS.join(",")} (default: all but growth and handshake-warm;
                      handshake-warm: handshakes after 15 s of them, once the JIT is warm)
  --targets LIST      any of ${TARGETS.join(",")}
                      (default: all but the -pp ones; wsgate-bin, -bin-auto and -bin-pp need dist/wsgate
                      or WSGATE_BIN, wsgate-baseline needs WSGATE_BASELINE_BIN; skipped with a note otherwise)
  --tunnels N         idle tunnels to hold open (default 5000)
  --release-wait S    idle: read the proxy's RSS again S seconds after the tunnels closed (default 60;
                      0 = off). The wait overlaps the next targets' idle runs: ~S s more per repetition
  --growth-steps LIST growth: open tunnels at each step (default 0,1000,10000,30000); steps the open-files
                      hard limit cannot hold are replaced by the largest that fits
  --growth-handshakes N  growth: handshakes timed at each step (default 2000)
  --base-port P       backend port; proxies listen on P+1..P+${
  TARGETS.length - 1
} (default 21000, must stay < 32768)
  -h, --help          this help

Quick run: deno task bench --runs 1 --duration 2 --scenarios echo,bulk --tunnels 1000`;

function list<T extends string>(
  raw: string | undefined,
  allowed: readonly T[],
  flag: string,
  defaults: readonly T[] = allowed,
): T[] {
  if (raw === undefined) return [...defaults];
  const items = raw.split(",").map((s) => s.trim()).filter(Boolean);
  for (const item of items) {
    if (!allowed.includes(item as T)) {
      throw new Error(`--${flag}: unknown "${item}" (known: ${allowed.join(",")})`);
    }
  }
  return allowed.filter((a) => items.includes(a));
}

function number(raw: string, flag: string, { min, max }: { min: number; max: number }): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new Error(`--${flag} must be between ${min} and ${max}`);
  }
  return n;
}

export function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: "string", default: "3" },
      duration: { type: "string", default: "5" },
      warmup: { type: "string", default: "1" },
      scenarios: { type: "string" },
      targets: { type: "string" },
      tunnels: { type: "string", default: "5000" },
      "release-wait": { type: "string", default: "60" },
      "base-port": { type: "string", default: "21000" },
      "growth-steps": { type: "string", default: "0,1000,10000,30000" },
      "growth-handshakes": { type: "string", default: "2000" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  return {
    runs: Math.round(number(values.runs, "runs", { min: 1, max: 50 })),
    durationS: number(values.duration, "duration", { min: 0.5, max: 600 }),
    warmupS: number(values.warmup, "warmup", { min: 0, max: 60 }),
    scenarios: list(values.scenarios, SCENARIOS, "scenarios", DEFAULT_SCENARIOS),
    targets: list(values.targets, TARGETS, "targets", DEFAULT_TARGETS),
    tunnels: Math.round(number(values.tunnels, "tunnels", { min: 1, max: 8000 })),
    releaseWaitS: number(values["release-wait"], "release-wait", { min: 0, max: 600 }),
    basePort: Math.round(
      number(values["base-port"], "base-port", { min: 1024, max: 32768 - TARGETS.length }),
    ),
    growthSteps: steps(values["growth-steps"]),
    growthHandshakes: Math.round(
      number(values["growth-handshakes"], "growth-handshakes", { min: 10, max: 100_000 }),
    ),
    help: values.help,
  };
}

/** Distinct tunnel counts, ascending. */
function steps(raw: string): number[] {
  const items = raw.split(",").map((s) => s.trim()).filter(Boolean)
    .map((s) => Math.round(number(s, "growth-steps", { min: 0, max: 1_000_000 })));
  if (items.length === 0) throw new Error("--growth-steps needs at least one count");
  return [...new Set(items)].sort((a, b) => a - b);
}
