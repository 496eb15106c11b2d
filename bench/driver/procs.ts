/**
 * Every process the benchmark starts goes through here, so that all of them are stopped by PID
 * on every exit path (normal end, error, Ctrl-C). Output goes to a log file, never the terminal.
 */
import { commOf } from "../procfs.ts";

export interface Proc {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** Resolves with the exit code. */
  readonly exited: Promise<number>;
}

interface Entry {
  proc: Proc;
  child: Deno.ChildProcess;
  done: boolean;
  /** Processes it forked (nginx workers) with their command names, stopped with it. */
  children: { pid: number; comm: string }[];
}

const STOP_GRACE_MS = 5_000;

// Raise the soft fd limit to the hard one (idle tunnels need ~2 fds each), then exec so the PID
// we hold is the program's own.
const WRAPPER = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@" >"$BENCH_LOG" 2>&1';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class Processes {
  #live = new Set<Entry>();

  spawn(name: string, argv: string[], options: { logPath: string; cwd?: string }): Proc {
    const child = new Deno.Command("sh", {
      args: ["-c", WRAPPER, "sh", ...argv],
      env: { BENCH_LOG: options.logPath },
      ...(options.cwd !== undefined && { cwd: options.cwd }),
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const entry: Entry = {
      child,
      done: false,
      children: [],
      proc: {
        name,
        pid: child.pid,
        logPath: options.logPath,
        exited: child.status.then((s) => {
          entry.done = true;
          return s.code;
        }),
      },
    };
    this.#live.add(entry);
    return entry.proc;
  }

  /** Records processes `proc` forked, so that stop() also makes sure they are gone. */
  adopt(proc: Proc, pids: number[]): void {
    const entry = this.#entry(proc);
    for (const pid of pids) {
      const comm = commOf(pid);
      if (entry && comm !== undefined) entry.children.push({ pid, comm });
    }
  }

  /** SIGTERM, then SIGKILL after a grace period; forked children too. */
  async stop(proc: Proc): Promise<void> {
    const entry = this.#entry(proc);
    if (!entry) return;
    if (!entry.done) {
      signal(entry.child, "SIGTERM");
      if (await exitWithin(proc, STOP_GRACE_MS) === undefined) {
        signal(entry.child, "SIGKILL");
        await proc.exited;
      }
    }
    for (const { pid, comm } of entry.children) killIfSame(pid, comm);
    this.#live.delete(entry);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.#live].map((e) => this.stop(e.proc)));
  }

  /** false once the process has exited (e.g. a proxy that crashed under load). */
  isRunning(proc: Proc): boolean {
    return this.#entry(proc)?.done === false;
  }

  #entry(proc: Proc): Entry | undefined {
    return [...this.#live].find((e) => e.proc === proc);
  }
}

function signal(child: Deno.ChildProcess, sig: Deno.Signal): void {
  try {
    child.kill(sig);
  } catch {
    // already exited
  }
}

/** Kills a forked child only if the PID still belongs to the same program (PIDs get reused). */
function killIfSame(pid: number, comm: string): void {
  if (commOf(pid) !== comm) return;
  try {
    Deno.kill(pid, "SIGKILL");
  } catch {
    // gone meanwhile
  }
}

/** Waits until something accepts TCP connections on 127.0.0.1:port; fails early if `proc` exits. */
export async function waitForPort(port: number, proc: Proc | undefined, timeoutMs: number): Promise<void> {
  let exited = false;
  proc?.exited.then(() => (exited = true));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${proc?.name} exited during start-up; see ${proc?.logPath}`);
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error(
    `nothing listening on 127.0.0.1:${port} after ${timeoutMs} ms${proc ? `; see ${proc.logPath}` : ""}`,
  );
}

/** Waits (bounded) until the port can be bound, e.g. after the previous target stopped. */
export async function waitPortFree(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`127.0.0.1:${port} is in use: ${err}`);
      await sleep(100);
    }
  }
}

/** Runs a short command to completion and returns its exit code and combined output. */
export async function capture(argv: string[]): Promise<{ code: number; text: string }> {
  try {
    const out = await new Deno.Command(argv[0]!, { args: argv.slice(1), stdin: "null" }).output();
    const dec = new TextDecoder();
    return { code: out.code, text: (dec.decode(out.stdout) + dec.decode(out.stderr)).trim() };
  } catch (err) {
    return { code: 127, text: String(err) };
  }
}

/** The exit code if `proc` exits within `ms`, else undefined (the timer is always cleared). */
export async function exitWithin(proc: Proc, ms: number): Promise<number | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([proc.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
