/**
 * The proxies under test and how to start each one fresh: a command line, a rendered config in
 * the run's temp dir, and the PIDs whose CPU and memory count as "the proxy".
 */
import { cpSync, existsSync } from "node:fs";
import { childPids } from "../procfs.ts";
import { exitWithin, type Proc, type Processes, sleep, waitForPort } from "./procs.ts";
import type { TargetName } from "./args.ts";

export interface TargetContext {
  procs: Processes;
  /** Temp dir for configs, pid files and logs. */
  dir: string;
  backendPort: number;
  tunnels: number;
  repoRoot: string;
  /** Loopback addresses to listen on and reach the backend on (the growth case); default 127.0.0.1. */
  loopbacks?: readonly string[];
}

export interface Running {
  /** Processes measured as the proxy (empty for `direct`). */
  pids: number[];
  proc?: Proc;
  /** More arguments for the load client (a target that needs a token in the handshake). */
  loadArgs?: string[];
}

export interface Target {
  name: TargetName;
  port: number;
  start(ctx: TargetContext): Promise<Running>;
  /** Listens on (and reaches the backend on) every address of ctx.loopbacks. */
  multiAddress?: boolean;
  /** Expects a PROXY protocol header first on every connection. */
  proxyProtocol?: boolean;
}

const START_TIMEOUT_MS = 20_000;

/** Replaces every {{NAME}}; a placeholder without a value is a bug, so it throws. */
export function render(template: string, vars: Record<string, string | number>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
    const value = vars[key];
    if (value === undefined) throw new Error(`template placeholder {{${key}}} has no value`);
    return String(value);
  });
}

async function writeConfig(
  ctx: TargetContext,
  file: string,
  vars: Record<string, string | number>,
  output = file,
) {
  const template = await Deno.readTextFile(new URL(`../${file}.tmpl`, import.meta.url));
  const path = `${ctx.dir}/${output}`;
  await Deno.writeTextFile(path, render(template, { DIR: ctx.dir, BACKEND_PORT: ctx.backendPort, ...vars }));
  return path;
}

/** Each loopback address beyond 127.0.0.1 (the templates' own), rendered by `line`: for the
 * templates' {{MORE_LISTEN}} and {{MORE_BACKENDS}}, empty outside the growth case. */
function moreLoopbacks(ctx: TargetContext, line: (host: string, i: number) => string): string {
  return (ctx.loopbacks ?? []).filter((h) => h !== "127.0.0.1").map(line).join("");
}

/** Starts `argv`, waits until the port accepts, then collects the process and its children. */
export async function launch(
  ctx: TargetContext,
  target: { name: string; port: number; argv: string[]; cwd?: string; children?: number },
): Promise<Running> {
  const proc = ctx.procs.spawn(target.name, target.argv, {
    logPath: `${ctx.dir}/${target.name}.log`,
    ...(target.cwd !== undefined && { cwd: target.cwd }),
  });
  await waitForPort(target.port, proc, START_TIMEOUT_MS);
  let children = childPids(proc.pid);
  // nginx forks its worker after binding: wait (bounded) until it shows up.
  for (let i = 0; i < 40 && children.length < (target.children ?? 0); i++) {
    await sleep(50);
    children = childPids(proc.pid);
  }
  ctx.procs.adopt(proc, children);
  return { proc, pids: [proc.pid, ...children] };
}

/** Every wsgate target reads the same config (wsgate.yaml.tmpl), with limits sized to the load;
 * `track` adds websocket.track_frames to the route (keepalive at its default 30 s: no pings in a run),
 * `route` more route keys in YAML flow style (the auth targets); `proxyProtocol` sets proxy_protocol
 * on the server and trusts the load client's 127.0.0.1. */
export async function wsgateArgs(
  ctx: TargetContext,
  port: number,
  options: { track?: boolean; workers?: "auto"; route?: string; proxyProtocol?: boolean } = {},
): Promise<string[]> {
  const track = options.track ?? false;
  const vars = {
    PORT: port,
    WORKERS: options.workers ?? 1,
    MAX_CONNECTIONS: 2 * ctx.tunnels + 1024,
    ROUTE_OPTIONS: (track ? ", websocket: { track_frames: true }" : "") +
      (options.route ? `, ${options.route}` : ""),
    MORE_LISTEN: moreLoopbacks(ctx, (h) => `, "${h}:${port}"`),
    MORE_BACKENDS: moreLoopbacks(ctx, (h) => `, "${h}:${ctx.backendPort}"`),
    PROXY_PROTOCOL: String(options.proxyProtocol ?? false),
    TRUSTED_PROXIES: options.proxyProtocol ? 'trusted_proxies: ["127.0.0.1/32"]' : "# trusted_proxies: none",
  };
  return ["--config", await writeConfig(ctx, "wsgate.yaml", vars, `wsgate-${port}.yaml`)];
}

/** `deno run main.ts ARGS` from the source snapshot, with the V8 flag of `deno task start`. */
async function launchSource(ctx: TargetContext, target: { name: string; port: number; args: string[] }) {
  const argv = [
    "deno",
    "run",
    "--v8-flags=--max-semi-space-size=4",
    "--allow-all",
    "--unstable-net",
    "main.ts",
  ];
  argv.push(...target.args);
  return await launch(ctx, { name: target.name, port: target.port, argv, cwd: await sourceSnapshot(ctx) });
}

/** Files `deno run main.ts` needs; node_modules is linked, not copied. */
const SOURCE_FILES = ["main.ts", "lib", "deno.json", "deno.lock", "package.json"];

/**
 * A copy of wsgate's source taken at the first start, so that edits to the tree during a long
 * benchmark cannot mix versions or break later runs half-way.
 */
async function sourceSnapshot(ctx: TargetContext): Promise<string> {
  const dir = `${ctx.dir}/wsgate-src`;
  if (existsSync(dir)) return dir;
  await Deno.mkdir(dir);
  for (const f of SOURCE_FILES) {
    if (existsSync(`${ctx.repoRoot}/${f}`)) {
      cpSync(`${ctx.repoRoot}/${f}`, `${dir}/${f}`, { recursive: true });
    }
  }
  await Deno.symlink(`${ctx.repoRoot}/node_modules`, `${dir}/node_modules`);
  return dir;
}

/** Run a private copy, so a rebuild of the binary during the benchmark cannot mix versions. */
export async function frozenBinary(ctx: TargetContext, bin: string, name: string): Promise<string> {
  const frozen = `${ctx.dir}/${name}`;
  if (!existsSync(frozen)) await Deno.copyFile(bin, frozen);
  return frozen;
}

const BUILD_TIMEOUT_MS = 180_000;
const builds = new Map<string, Promise<string>>();

/**
 * The Bun floor compiled like dist/wsgate (`bun build --compile --minify --bytecode`), once per run, so
 * that it and wsgate-bin differ in their code only, not in how Bun loads it.
 */
function floorBunBinary(ctx: TargetContext): Promise<string> {
  const out = `${ctx.dir}/floor-bun`;
  let build = builds.get(out);
  if (!build) {
    const src = `${ctx.repoRoot}/bench/floor/bun_floor.ts`;
    const argv = [
      "bun",
      "build",
      "--compile",
      "--minify",
      "--bytecode",
      "--format=esm",
      src,
      "--outfile",
      out,
    ];
    const proc = ctx.procs.spawn("floor-bun-build", argv, { logPath: `${ctx.dir}/floor-bun-build.log` });
    build = exitWithin(proc, BUILD_TIMEOUT_MS).then(async (code) => {
      await ctx.procs.stop(proc);
      if (code !== 0 || !existsSync(out)) {
        const log = await Deno.readTextFile(proc.logPath).catch(() => "");
        throw new Error(`bun build of the Bun floor failed (exit ${code ?? "timeout"}): ${log.slice(-400)}`);
      }
      return out;
    });
    builds.set(out, build);
  }
  return build;
}

/** The Deno floor with the V8 flag wsgate-deno runs with: the two differ in their code only. From a
 * copy taken at first start; with ["steps"] (running wsgate's pure handshake steps too) from the
 * repository, as wsgate-deno, since it imports wsgate's modules. */
function floorDenoTarget(name: TargetName, port: number, extra: string[]): Target {
  return {
    name,
    port,
    async start(ctx) {
      const source = `${ctx.repoRoot}/bench/floor/deno_floor.ts`;
      let script = source;
      if (extra.length === 0) {
        script = `${ctx.dir}/deno_floor.ts`;
        if (!existsSync(script)) await Deno.copyFile(source, script);
      }
      const argv = [
        "deno",
        "run",
        "--v8-flags=--max-semi-space-size=4",
        "--allow-net",
        script,
        String(this.port),
        String(ctx.backendPort),
        ...extra,
      ];
      return await launch(ctx, { name: this.name, port: this.port, argv });
    },
  };
}

/** The compiled Bun floor; with ["steps"], running wsgate's pure handshake steps too. */
function floorBunTarget(name: TargetName, port: number, extra: string[]): Target {
  return {
    name,
    port,
    async start(ctx) {
      const argv = [await floorBunBinary(ctx), String(this.port), String(ctx.backendPort), ...extra];
      return await launch(ctx, { name: this.name, port: this.port, argv });
    },
  };
}

const CORES = navigator.hardwareConcurrency;

function nginxTarget(name: TargetName, port: number, workers: number, root: boolean): Target {
  return {
    name,
    port,
    multiAddress: true,
    async start(ctx) {
      const workerConnections = 2 * ctx.tunnels + 1024;
      const conf = await writeConfig(ctx, "nginx.conf", {
        // As root, nginx would switch its worker to "nobody"; keep it the current user.
        USER_LINE: root ? "user root;" : "# not root: the worker runs as the current user",
        PORT: port,
        WORKERS: workers,
        WORKER_CONNECTIONS: workerConnections,
        NOFILE: workerConnections + 1024,
        MORE_LISTEN: moreLoopbacks(ctx, (h) => `\n        listen ${h}:${port};`),
        MORE_BACKENDS: moreLoopbacks(ctx, (h) => `\n        server ${h}:${ctx.backendPort};`),
      }, `${name}.conf`);
      const argv = ["nginx", "-p", ctx.dir, "-c", conf, "-e", `${ctx.dir}/${name}-error.log`];
      return await launch(ctx, { name, port, argv, children: workers });
    },
  };
}

function haproxyTarget(name: TargetName, port: number, threads: number): Target {
  return {
    name,
    port,
    multiAddress: true,
    async start(ctx) {
      const vars = {
        PORT: port,
        THREADS: threads,
        MAXCONN: ctx.tunnels + 1024,
        MORE_LISTEN: moreLoopbacks(ctx, (h) => `\n    bind ${h}:${port}`),
        MORE_BACKENDS: moreLoopbacks(ctx, (h, i) => `\n    server echo${i + 2} ${h}:${ctx.backendPort}`),
      };
      const cfg = await writeConfig(ctx, "haproxy.cfg", vars, `${name}.cfg`);
      return await launch(ctx, { name, port, argv: ["haproxy", "-db", "-f", cfg] });
    },
  };
}

/** The compiled wsgate, if there is one. */
export function wsgateBinary(repoRoot: string): string | undefined {
  const bin = Deno.env.get("WSGATE_BIN") ?? `${repoRoot}/dist/wsgate`;
  return existsSync(bin) ? bin : undefined;
}

/** The earlier commit's binary for wsgate-baseline, if WSGATE_BASELINE_BIN names one. */
export function baselineBinary(): string | undefined {
  const bin = Deno.env.get("WSGATE_BASELINE_BIN");
  return bin && existsSync(bin) ? bin : undefined;
}

/**
 * A wsgate target: the compiled binary `bin` (wsgate-bin, wsgate-baseline, and wsgate-bin-pp, the
 * same binary as wsgate-bin) or, without one, the source on Deno (wsgate-deno, wsgate-deno-pp);
 * plain or behind proxy_protocol.
 */
function wsgateTarget(
  name: TargetName,
  port: number,
  how: { bin?: string; proxyProtocol?: boolean },
): Target {
  const proxyProtocol = how.proxyProtocol ?? false;
  return {
    name,
    port,
    multiAddress: true,
    proxyProtocol,
    async start(ctx) {
      const args = await wsgateArgs(ctx, this.port, { proxyProtocol });
      if (how.bin === undefined) return await launchSource(ctx, { name, port: this.port, args });
      const frozen = await frozenBinary(ctx, how.bin, proxyProtocol ? "wsgate-bin" : name);
      return await launch(ctx, { name, port: this.port, argv: [frozen, ...args], cwd: ctx.repoRoot });
    },
  };
}

/** Targets left out of this run, and why (said only when one of them was asked for). */
export interface Skipped {
  targets: TargetName[];
  note: string;
}

/** Every known target, in table order (each floor just before the wsgate targets on its runtime);
 * the binary targets only when their binary exists. */
export function allTargets(basePort: number, repoRoot: string): { targets: Target[]; skipped: Skipped[] } {
  const bin = wsgateBinary(repoRoot);
  const baseline = baselineBinary();
  const root = Deno.uid() === 0;
  const targets: Target[] = [
    // The backend listens on every loopback address a case spreads over.
    { name: "direct", port: basePort, multiAddress: true, start: () => Promise.resolve({ pids: [] }) },
    nginxTarget("nginx", basePort + 1, 1, root),
    nginxTarget("nginx-auto", basePort + 6, CORES, root),
    haproxyTarget("haproxy", basePort + 2, 1),
    haproxyTarget("haproxy-auto", basePort + 7, CORES),
    floorDenoTarget("floor-deno", basePort + 10, []),
    floorDenoTarget("floor-deno-steps", basePort + 18, ["steps"]),
    wsgateTarget("wsgate-deno", basePort + 3, {}),
    // wsgate-deno behind proxy_protocol: the fast paths must survive the PROXY header's wrapper.
    wsgateTarget("wsgate-deno-pp", basePort + 13, { proxyProtocol: true }),
    {
      // wsgate-deno following WebSocket frames: what websocket.track_frames costs.
      name: "wsgate-tracked",
      port: basePort + 5,
      multiAddress: true,
      async start(ctx) {
        const args = await wsgateArgs(ctx, this.port, { track: true });
        return await launchSource(ctx, { name: this.name, port: this.port, args });
      },
    },
    floorBunTarget("floor-bun", basePort + 9, []),
    floorBunTarget("floor-bun-steps", basePort + 17, ["steps"]),
  ];
  if (bin) {
    targets.push({
      name: "wsgate-bin-auto",
      port: basePort + 8,
      multiAddress: true,
      async start(ctx) {
        const frozen = await frozenBinary(ctx, bin, "wsgate-bin");
        const argv = [frozen, ...await wsgateArgs(ctx, this.port, { workers: "auto" })];
        // The supervisor's children are the workers: wait for all of them before measuring.
        return await launch(ctx, {
          name: this.name,
          port: this.port,
          argv,
          cwd: ctx.repoRoot,
          children: CORES,
        });
      },
    });
    targets.push(wsgateTarget("wsgate-bin", basePort + 4, { bin }));
    targets.push(wsgateTarget("wsgate-bin-pp", basePort + 12, { bin, proxyProtocol: true }));
  }
  if (baseline) targets.push(wsgateTarget("wsgate-baseline", basePort + 11, { bin: baseline }));
  const skipped: Skipped[] = [];
  if (!bin) {
    skipped.push({
      targets: [
        "wsgate-bin",
        "wsgate-bin-auto",
        "wsgate-bin-pp",
        "wsgate-jwt-rs256",
        "wsgate-jwt-es256",
        "wsgate-forward",
        "wsgate-forward-cache",
      ],
      note:
        "wsgate-bin, wsgate-bin-auto, wsgate-bin-pp and the auth targets: no compiled binary (dist/wsgate " +
        "missing and WSGATE_BIN unset)",
    });
  }
  if (!baseline) {
    const env = Deno.env.get("WSGATE_BASELINE_BIN");
    skipped.push({
      targets: ["wsgate-baseline"],
      note:
        `wsgate-baseline: ${
          env ? `WSGATE_BASELINE_BIN=${env} does not exist` : "WSGATE_BASELINE_BIN unset"
        }` +
        " (an earlier commit's binary, see bench/README.md)",
    });
  }
  return { targets, skipped };
}
