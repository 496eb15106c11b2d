/**
 * The `http` scenario: plain HTTP GETs through the proxy with `wrk` (Debian's), `conns`
 * connections on one thread, each kept alive or, with --close, sending `Connection: close` so every
 * request costs a new connection (what keep-alive saves). A warm-up run first, then the measured
 * one, bracketed by the proxy's CPU counters.
 */
import { spawn } from "node:child_process";
import { cpuTicks } from "../procfs.ts";

export interface HttpOptions {
  port: number;
  conns: number;
  close: boolean;
  warmupMs: number;
  durationMs: number;
  pids: number[];
}

export interface HttpResult {
  requests: number;
  /** Socket errors (connect, read, write, timeout) and non-2xx/3xx answers. */
  failures: number;
  seconds: number;
  cpuTicks: number;
  errors: string[];
}

/** wrk's summary -> requests, seconds, failures. Pure (exported for its test). */
export function parseWrk(output: string): { requests: number; seconds: number; failures: number } {
  const done = /(\d+) requests in ([\d.]+)(ms|s|m)\b/.exec(output);
  if (!done) throw new Error(`no wrk summary in: ${output.slice(-400)}`);
  const unit = { ms: 0.001, s: 1, m: 60 }[done[3] as "ms" | "s" | "m"];
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
  const socketErrors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return { requests: Number(done[1]), seconds: Number(done[2]) * unit, failures: socketErrors + non2xx };
}

function wrk(o: HttpOptions, ms: number): Promise<string> {
  const args = ["-t1", `-c${o.conns}`, `-d${Math.max(1, Math.round(ms / 1000))}s`];
  if (o.close) args.push("-H", "Connection: close");
  args.push(`http://127.0.0.1:${o.port}/`);
  return new Promise((resolve, reject) => {
    const child = spawn("wrk", args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (chunk) => out += chunk);
    child.stderr.on("data", (chunk) => out += chunk);
    child.on("error", reject);
    child.on("close", (code) => code === 0 ? resolve(out) : reject(new Error(`wrk exit ${code}: ${out}`)));
  });
}

export async function runHttp(o: HttpOptions): Promise<HttpResult> {
  if (o.warmupMs > 0) await wrk(o, o.warmupMs);
  const cpu0 = cpuTicks(o.pids);
  const summary = parseWrk(await wrk(o, o.durationMs));
  const cpu = cpuTicks(o.pids) - cpu0;
  return {
    ...summary,
    cpuTicks: cpu,
    errors: summary.failures > 0 ? [`${summary.failures} socket errors or non-2xx answers`] : [],
  };
}
