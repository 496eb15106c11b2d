/** Command-line options of `deno task bench` (pure: parses the given argv only). */
import { parseArgs } from "node:util";

export const SCENARIOS = ["echo", "bulk", "handshake", "idle", "http"] as const;
export type Scenario = typeof SCENARIOS[number];
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
  // An earlier commit's binary ($WSGATE_BASELINE_BIN), started like wsgate-bin: before/after in one run.
  "wsgate-baseline",
  // wsgate-bin with auth on the route (bench/driver/auth_targets.ts): jwt with an RS256 or ES256
  // PEM key, forward-auth to a local service without and with its verdict cache.
  "wsgate-jwt-rs256",
  "wsgate-jwt-es256",
  "wsgate-forward",
  "wsgate-forward-cache",
] as const;
export type TargetName = typeof TARGETS[number];

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
  help: boolean;
}

export const USAGE = `deno task bench [options]

  --runs N            repetitions of every figure (default 3); targets are interleaved per repetition
  --duration S        measured seconds per echo/bulk/handshake run (default 5)
  --warmup S          warm-up seconds before each measured window (default 1)
  --scenarios LIST    any of ${SCENARIOS.join(",")} (default: all)
  --targets LIST      any of ${TARGETS.join(",")}
                      (default: all; wsgate-bin and wsgate-bin-auto need dist/wsgate or WSGATE_BIN,
                      wsgate-baseline needs WSGATE_BASELINE_BIN; skipped with a note otherwise)
  --tunnels N         idle tunnels to hold open (default 5000)
  --release-wait S    idle: read the proxy's RSS again S seconds after the tunnels closed (default 60;
                      0 = off). The wait overlaps the next targets' idle runs: ~S s more per repetition
  --base-port P       backend port; proxies listen on P+1..P+${
  TARGETS.length - 1
} (default 21000, must stay < 32768)
  -h, --help          this help

Quick run: deno task bench --runs 1 --duration 2 --scenarios echo,bulk --tunnels 1000`;

function list<T extends string>(raw: string | undefined, allowed: readonly T[], flag: string): T[] {
  if (raw === undefined) return [...allowed];
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
      help: { type: "boolean", short: "h", default: false },
    },
  });
  return {
    runs: Math.round(number(values.runs, "runs", { min: 1, max: 50 })),
    durationS: number(values.duration, "duration", { min: 0.5, max: 600 }),
    warmupS: number(values.warmup, "warmup", { min: 0, max: 60 }),
    scenarios: list(values.scenarios, SCENARIOS, "scenarios"),
    targets: list(values.targets, TARGETS, "targets"),
    tunnels: Math.round(number(values.tunnels, "tunnels", { min: 1, max: 8000 })),
    releaseWaitS: number(values["release-wait"], "release-wait", { min: 0, max: 600 }),
    basePort: Math.round(
      number(values["base-port"], "base-port", { min: 1024, max: 32768 - TARGETS.length }),
    ),
    help: values.help,
  };
}
