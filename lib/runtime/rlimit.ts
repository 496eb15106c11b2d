/**
 * Raising the open-files limit: every connection is a file descriptor (two, once proxied), and
 * the usual soft limit of 1024 is far below what one process can serve. Neither Deno nor Bun
 * exposes setrlimit(2), so each adapter binds getrlimit/setrlimit from libc through its FFI and
 * hands them to raiseOpenFilesLimit(), which holds the logic shared by both.
 */
import type { OpenFilesLimit } from "./types.ts";

/** RLIMIT_NOFILE on Linux. */
export const RLIMIT_NOFILE = 7;
const RLIM_INFINITY = 0xffff_ffff_ffff_ffffn;

/** getrlimit/setrlimit for RLIMIT_NOFILE over a struct rlimit { cur, max } as two u64. */
export interface RlimitCalls {
  get(limits: BigUint64Array): number;
  set(limits: BigUint64Array): number;
  close(): void;
}

function toNumber(value: bigint): number {
  return value === RLIM_INFINITY ? Infinity : Number(value);
}

/** `bind` loads libc; any failure (no FFI permission, another libc) is reported, never thrown. */
export function raiseOpenFilesLimit(platform: string, bind: () => RlimitCalls): OpenFilesLimit {
  if (platform !== "linux") return { error: `not supported on ${platform}` };
  let calls: RlimitCalls;
  try {
    calls = bind();
  } catch (err) {
    return { error: `FFI unavailable: ${err instanceof Error ? err.message : String(err)}` };
  }
  try {
    const limits = new BigUint64Array(2);
    if (calls.get(limits) !== 0) return { error: "getrlimit(RLIMIT_NOFILE) failed" };
    const [soft = 0n, hard = 0n] = limits;
    if (soft < hard) {
      limits[0] = hard;
      // On failure (EPERM in a locked-down container) the limit stays as it was: report that.
      calls.set(limits);
      calls.get(limits);
    }
    return { soft: toNumber(limits[0]!), hard: toNumber(limits[1]!) };
  } finally {
    calls.close();
  }
}
