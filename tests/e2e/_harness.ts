/**
 * Starts the real wsgate process for e2e tests and follows its stdout log. Every process started
 * here is killed by `[Symbol.asyncDispose]` (use `await using`), so a failing test leaks nothing.
 */
import { resolve } from "node:path";
import { type HttpResponse, parseResponse, rawRequest, TimeoutError, withTimeout } from "./_wire.ts";

export const REPO = new URL("../../", import.meta.url).pathname;
export const CERTS = `${REPO}tests/fixtures/certs/`;
export const CONFIGS = `${REPO}tests/fixtures/configs/`;
export const CA_PEM = Deno.readTextFileSync(`${CERTS}ca.pem`);

/** The one place that decides what runs: the compiled binary when WSGATE_BIN is set, else the source. */
function gatewayCommand(args: string[]): { cmd: string; args: string[] } {
  const bin = Deno.env.get("WSGATE_BIN");
  // Absolute, so a test may run the gateway from another working directory.
  if (bin) return { cmd: resolve(bin), args };
  return { cmd: Deno.execPath(), args: ["run", "--allow-all", "--unstable-net", `${REPO}main.ts`, ...args] };
}

/** A log record in either format: text `<time> <level> <event> k=v ...` or one JSON object. */
export interface LogRecord {
  level: string;
  event: string;
  fields: Record<string, string>;
}

const FIELD = /\s*([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)/y;

export function parseLogLine(line: string): LogRecord | null {
  if (line.startsWith("{")) {
    try {
      const { level, event, time: _time, ...rest } = JSON.parse(line) as Record<string, unknown>;
      const fields = Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, String(v)]));
      return { level: String(level), event: String(event), fields };
    } catch {
      return null;
    }
  }
  const m = /^(\S+) (\S+) (\S+)(.*)$/.exec(line);
  if (!m) return null;
  const fields: Record<string, string> = {};
  const rest = m[4] ?? "";
  FIELD.lastIndex = 0;
  for (let f = FIELD.exec(rest); f; f = FIELD.exec(rest)) {
    const raw = f[2] ?? "";
    fields[f[1]!] = raw.startsWith('"') ? JSON.parse(raw) as string : raw;
  }
  return { level: m[2]!, event: m[3]!, fields };
}

export interface GatewayOptions {
  /** Command-line arguments (after `--config FILE` when `config` is given). */
  args?: string[];
  /** YAML text, written to `wsgate.yaml` in a temp dir that is removed afterwards. */
  config?: string;
  /** More files for that dir (name -> content), e.g. certificates named by relative paths in `config`. */
  files?: Record<string, string>;
  env?: Record<string, string>;
  /** A command that execs the gateway, e.g. ["prlimit", "--nofile=128:128", "--"] (same PID). */
  wrap?: string[];
  /** How long to wait for `ready` (default 10 s). */
  readyTimeoutMs?: number;
}

interface Waiter {
  match: (line: string) => boolean;
  resolve: (line: string) => void;
}

export class Gateway implements AsyncDisposable {
  readonly pid: number;
  /** Listening addresses in log order: `127.0.0.1:40123` or `unix:/path`. */
  readonly addrs: string[] = [];
  readonly transports: string[] = [];
  /** Stdout lines so far. */
  readonly lines: string[] = [];
  readonly exited: Promise<Deno.CommandStatus>;
  /** The temp dir holding the config (and anything else a test puts there); removed on dispose. */
  readonly dir: string;
  #child: Deno.ChildProcess;
  #waiters = new Set<Waiter>();
  #stderr = "";
  #drained: Promise<void>;

  constructor(child: Deno.ChildProcess, dir: string) {
    this.#child = child;
    this.pid = child.pid;
    this.dir = dir;
    this.exited = child.status;
    this.#drained = Promise.all([this.#follow(child.stdout), this.#collectStderr(child.stderr)]).then(
      () => {},
    );
  }

  /** The first TCP (or TLS) listener's port. */
  get port(): number {
    const i = this.transports.findIndex((t) => t === "tcp" || t === "tls");
    const addr = this.addrs[i];
    if (addr === undefined) throw new Error(`no tcp listener in ${JSON.stringify(this.addrs)}`);
    return Number(addr.slice(addr.lastIndexOf(":") + 1));
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** The admin listener's port, from `admin_listening` (the supervisor's when workers > 1). */
  get adminPort(): number {
    const addr = this.records("admin_listening")[0]?.fields.addr;
    if (addr === undefined) throw new Error(`no admin_listening line\n${this.output()}`);
    return Number(addr.slice(addr.lastIndexOf(":") + 1));
  }

  /** One request to the admin listener, answered and closed by it. */
  async admin(method: "GET" | "POST", path: string): Promise<HttpResponse> {
    const request = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n`;
    return parseResponse(await rawRequest(this.adminPort, request));
  }

  /** Replaces the config file (see GatewayOptions.config); the next reload reads it. */
  writeConfig(yaml: string): Promise<void> {
    return Deno.writeTextFile(`${this.dir}/wsgate.yaml`, yaml);
  }

  /** Every parsed record of `event` so far. */
  records(event: string): LogRecord[] {
    return this.lines.map(parseLogLine).filter((r): r is LogRecord => r?.event === event);
  }

  /** The first line so far or later that matches; throws after timeoutMs or when the process exits. */
  waitForLine(re: RegExp, timeoutMs = 5_000): Promise<string> {
    return this.#waitFor((line) => re.test(line), { timeoutMs, what: String(re) });
  }

  /** The first record of `event` whose fields include `fields` (string-compared). */
  async waitForEvent(
    event: string,
    fields: Record<string, string> = {},
    timeoutMs = 5_000,
  ): Promise<LogRecord> {
    const matches = (line: string) => {
      const r = parseLogLine(line);
      return r?.event === event && Object.entries(fields).every(([k, v]) => r.fields[k] === v);
    };
    const line = await this.#waitFor(matches, { timeoutMs, what: `${event} ${JSON.stringify(fields)}` });
    return parseLogLine(line)!;
  }

  async #waitFor(
    match: (line: string) => boolean,
    opts: { timeoutMs: number; what: string },
  ): Promise<string> {
    const seen = this.lines.find(match);
    if (seen !== undefined) return seen;
    let waiter: Waiter | undefined;
    const found = new Promise<string>((resolve) => {
      waiter = { match, resolve };
      this.#waiters.add(waiter);
    });
    // The exit can be seen before the last lines it wrote were read: those are looked at first.
    const died = this.exited.then(async (s) => {
      await this.#drained;
      const last = this.lines.find(match);
      if (last !== undefined) return last;
      throw new Error(`gateway exited (${JSON.stringify(s)}) before ${opts.what}\n${this.output()}`);
    });
    try {
      return await withTimeout(Promise.race([found, died]), opts.timeoutMs, opts.what);
    } catch (err) {
      if (err instanceof TimeoutError) err.message += `\n${this.output()}`;
      throw err;
    } finally {
      this.#waiters.delete(waiter!);
      died.catch(() => {});
    }
  }

  async #follow(stream: ReadableStream<Uint8Array>): Promise<void> {
    let partial = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (partial + chunk).split("\n");
      partial = parts.pop() ?? "";
      for (const line of parts) this.#onLine(line);
    }
    if (partial) this.#onLine(partial);
  }

  #onLine(line: string): void {
    this.lines.push(line);
    const r = parseLogLine(line);
    if (r?.event === "listening" && r.fields.addr !== undefined) {
      this.addrs.push(r.fields.addr);
      this.transports.push(r.fields.transport ?? "");
    }
    for (const w of this.#waiters) if (w.match(line)) w.resolve(line);
  }

  async #collectStderr(stream: ReadableStream<Uint8Array>): Promise<void> {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) this.#stderr += chunk;
  }

  /** Stdout and stderr, for failure messages. */
  output(): string {
    return `--- stdout ---\n${this.lines.join("\n")}\n--- stderr ---\n${this.#stderr}`;
  }

  /** Sends `signal` and waits for the exit (SIGKILL after timeoutMs). */
  async stop(signal: Deno.Signal = "SIGTERM", timeoutMs = 5_000): Promise<Deno.CommandStatus> {
    this.#kill(signal);
    try {
      await withTimeout(this.exited, timeoutMs, `exit after ${signal}`);
    } catch {
      this.#kill("SIGKILL");
    }
    const status = await this.exited;
    await this.#drained;
    return status;
  }

  #kill(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch { /* already exited */ }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    // Workers (workers > 1) outlive a killed supervisor and hold its stdout open: kill them too,
    // after the supervisor, so that it cannot start replacements.
    this.#kill("SIGKILL");
    for (const started of this.records("worker_started")) {
      try {
        Deno.kill(Number(started.fields.pid), "SIGKILL");
      } catch { /* already gone */ }
    }
    await this.stop("SIGKILL");
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

function spawn(
  args: string[],
  options: { env?: Record<string, string> | undefined; wrap?: string[] | undefined; cwd?: string } = {},
): Deno.ChildProcess {
  const command = gatewayCommand(args);
  const [cmd = command.cmd, ...prefix] = [...options.wrap ?? [], command.cmd];
  return new Deno.Command(cmd, {
    args: [...prefix, ...command.args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(options.env ? { env: options.env } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
  }).spawn();
}

/** Starts wsgate in the temporary directory `cwd` (removed on dispose) without waiting for
 * `ready`: for ./wsgate.yaml and the built-in default. */
export function spawnGatewayIn(cwd: string, args: string[] = []): Gateway {
  return new Gateway(spawn(args, { cwd }), cwd);
}

/** Starts wsgate and resolves once it logged `ready`; on failure it is killed and the output thrown. */
export async function startGateway(options: GatewayOptions = {}): Promise<Gateway> {
  const dir = await Deno.makeTempDir({ prefix: "wsgate-e2e-" });
  const args = [...options.args ?? []];
  for (const [name, content] of Object.entries(options.files ?? {})) {
    await Deno.writeTextFile(`${dir}/${name}`, content);
  }
  if (options.config !== undefined) {
    await Deno.writeTextFile(`${dir}/wsgate.yaml`, options.config);
    args.unshift("--config", `${dir}/wsgate.yaml`);
  }
  const gw = new Gateway(spawn(args, { env: options.env, wrap: options.wrap }), dir);
  try {
    await gw.waitForEvent("ready", {}, options.readyTimeoutMs ?? 10_000);
  } catch (err) {
    await gw[Symbol.asyncDispose]();
    throw err;
  }
  return gw;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs wsgate to completion (check, --help, --version ...), killed after timeoutMs. */
export async function runGateway(
  args: string[],
  options: { timeoutMs?: number; cwd?: string; env?: Record<string, string> } = {},
): Promise<RunResult> {
  const command = gatewayCommand(args);
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), options.timeoutMs ?? 15_000);
  const out = await new Deno.Command(command.cmd, {
    args: command.args,
    stdin: "null",
    signal: abort.signal,
    ...(options.cwd && { cwd: options.cwd }),
    ...(options.env && { env: options.env }),
  }).output().finally(() => clearTimeout(timer));
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const nested = (v: unknown): v is object => typeof v === "object" && v !== null && Object.keys(v).length > 0;

function yamlLines(value: object, indent: string): string[] {
  if (Array.isArray(value)) {
    return value.flatMap((item: unknown) => {
      const [first = "", ...rest] = nested(item) ? yamlLines(item, `${indent}  `) : [JSON.stringify(item)];
      return [`${indent}- ${first.trimStart()}`, ...rest];
    });
  }
  return Object.entries(value).flatMap(([key, v]) =>
    nested(v)
      ? [`${indent}${key}:`, ...yamlLines(v, `${indent}  `)]
      : [`${indent}${key}: ${JSON.stringify(v)}`]
  );
}

/** Block-style YAML for a config object (scalars JSON-quoted, which YAML reads as they are). */
export function toYaml(config: Record<string, unknown>): string {
  return `${yamlLines(config, "").join("\n")}\n`;
}

/** A config with one server on 127.0.0.1:0, one route `/` and one upstream group `app`. */
export function oneRouteConfig(
  servers: string[],
  options: {
    route?: Record<string, unknown>;
    upstream?: Record<string, unknown>;
    server?: Record<string, unknown>;
    top?: Record<string, unknown>;
  } = {},
): string {
  return toYaml({
    servers: [{
      listen: ["127.0.0.1:0"],
      routes: [{ path: "/", upstream: "app", ...options.route }],
      ...options.server,
    }],
    upstreams: { app: { servers, ...options.upstream } },
    ...options.top,
  });
}

/** Resident set size of a process in KiB, from /proc/PID/status. */
export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/** A temp dir removed on dispose: `await using tmp = await tempDir()`. */
export async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "wsgate-e2e-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}) };
}

/** Polls `check` (which may be async, e.g. a request) every 20 ms until it is true; throws after timeoutMs. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!await check()) {
    if (Date.now() > deadline) throw new TimeoutError(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Connects to 127.0.0.1:`port` under way (SYN sent, no answer yet): /proc/net/tcp state 02. */
export function synSentTo(port: number): number {
  const remote = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  return Deno.readTextFileSync("/proc/net/tcp").split("\n").filter((line) => {
    const fields = line.trim().split(/\s+/);
    return fields[2] === remote && fields[3] === "02";
  }).length;
}

/** Established TCP sockets matching an `ss` filter (e.g. `sport = :8080`), one line each with its
 * timer: the kernel's own view of a connection's options. */
export async function establishedSockets(filter: string): Promise<string[]> {
  const out = await new Deno.Command("ss", { args: ["-tnoH", "state", "established", filter] }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((line) => line.trim() !== "");
}

/** Waits until the one socket matching `filter` shows TCP keep-alive's timer. `ss` shows one timer per
 * socket: while sent bytes wait for their ACK (a TLS session ticket just written) it is the
 * retransmission timer, and without keep-alive there is none once they are acknowledged. */
export async function keepAliveOn(filter: string): Promise<void> {
  let last: string[] = [];
  await eventually(
    async () => {
      last = await establishedSockets(filter);
      return last.length === 1 && /timer:\(keepalive,/.test(last[0]!);
    },
    3_000,
    `TCP keep-alive on the one socket with ${filter}`,
  ).catch((err) => {
    throw new Error(`${err.message}; ss shows: ${JSON.stringify(last)}`);
  });
}
