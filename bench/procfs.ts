/**
 * What a process costs, read from /proc (Linux only). Used by the driver (Deno) and the load
 * client (Bun), hence node:fs. CPU is utime+stime of the whole thread group in clock ticks.
 */
import { readdirSync, readFileSync } from "node:fs";

/** Fields of /proc/PID/stat after the ")" that closes the command name (which may hold spaces). */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined; // the process is gone
  }
}

/** utime + stime summed over the processes, in clock ticks (getconf CLK_TCK per second). */
export function cpuTicks(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) {
    const f = statFields(pid);
    // Fields 14 and 15 of stat(5); index 0 here is field 3 (state).
    if (f) sum += Number(f[11]) + Number(f[12]);
  }
  return sum;
}

/** Resident set size summed over the processes, in KiB. */
export function rssKiB(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      if (m) sum += Number(m[1]);
    } catch {
      // gone: counts as 0
    }
  }
  return sum;
}

/** Direct children of a process (e.g. nginx's workers under its master). */
export function childPids(parent: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (f && Number(f[1]) === parent) out.push(Number(name));
  }
  return out;
}

/** The command name of a live process, or undefined. */
export function commOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return undefined;
  }
}
