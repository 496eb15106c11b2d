/** The machine and its tools: installs nginx/haproxy when missing, and describes the setup. */
import { readFileSync } from "node:fs";
import { capture } from "./procs.ts";

async function has(bin: string): Promise<boolean> {
  return (await capture(["sh", "-c", `command -v ${bin}`])).code === 0;
}

/** apt-get installs the packages whose binaries are missing; says so on stdout. */
export async function ensureInstalled(packages: string[]): Promise<void> {
  const missing: string[] = [];
  for (const p of packages) if (!(await has(p))) missing.push(p);
  if (missing.length === 0) return;
  const sudo = Deno.uid() === 0 ? [] : ["sudo", "-n"];
  console.log(`bench: ${missing.join(", ")} not found; installing with apt-get (apt-get update first)`);
  for (const step of [["apt-get", "-q", "update"], ["apt-get", "install", "-y", "-q", ...missing]]) {
    const { code, text } = await capture([...sudo, ...step]);
    if (code !== 0) throw new Error(`${step.join(" ")} failed (exit ${code}):\n${text.slice(-2000)}`);
  }
  for (const p of missing) {
    if (!(await has(p))) throw new Error(`${p} is still missing after apt-get install`);
  }
  console.log(`bench: installed ${missing.join(", ")}`);
}

function firstLine(text: string): string {
  return text.split("\n")[0]?.trim() ?? "";
}

export async function clockTicks(): Promise<number> {
  const n = Number((await capture(["getconf", "CLK_TCK"])).text);
  return Number.isInteger(n) && n > 0 ? n : 100;
}

export async function machine(): Promise<Record<string, string>> {
  const meminfo = readFileSync("/proc/meminfo", "utf8");
  const memKiB = Number(/MemTotal:\s+(\d+)/.exec(meminfo)?.[1] ?? NaN);
  const cpu = /model name\s*:\s*(.+)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "unknown";
  return {
    nproc: (await capture(["nproc"])).text,
    memory: `${(memKiB / 1024 / 1024).toFixed(1)} GiB`,
    kernel: Deno.osRelease(),
    cpu: cpu.trim(),
    "load average at start": loadAverage(),
  };
}

/** 1-, 5- and 15-minute load averages: other work on the machine skews throughput, not CPU/op. */
export function loadAverage(): string {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}

/** First 12 hex digits of the file's SHA-256: tells two builds apart when their --version agrees. */
async function shortHash(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return [...new Uint8Array(digest).slice(0, 6)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export async function versions(
  targets: string[],
  binaries: Record<string, string | undefined>,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {
    deno: Deno.version.deno,
    bun: (await capture(["bun", "--version"])).text,
  };
  if (targets.includes("nginx")) {
    out["nginx"] = firstLine((await capture(["nginx", "-v"])).text).replace(/^.*\//, "");
  }
  if (targets.includes("haproxy")) {
    out["haproxy"] = /version (\S+)/.exec((await capture(["haproxy", "-v"])).text)?.[1] ?? "unknown";
  }
  // The compiled wsgate targets: version, file and a hash of it (wsgate-baseline is an earlier build).
  for (const [name, bin] of Object.entries(binaries)) {
    if (!bin || !targets.includes(name)) continue;
    out[name] = `${firstLine((await capture([bin, "--version"])).text)}, ${bin} sha256:${await shortHash(
      bin,
    )}`;
  }
  return out;
}
