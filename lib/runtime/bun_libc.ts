/**
 * The socket calls of libc that Bun does not offer, through bun:ffi: receive-buffer size and
 * round trip (bun_read_size.ts), keep-alive on a listener (bun_keepalive.ts). Loaded on first use.
 */

export const SOL_SOCKET = 1;
export const IPPROTO_TCP = 6;

export interface SocketCalls {
  getsockopt(fd: number, level: number, name: number, value: Uint8Array, length: Uint32Array): number;
  setsockopt(fd: number, level: number, name: number, value: Int32Array, length: number): number;
  ioctl(fd: number, request: number, value: Int32Array): number;
}

interface BunFfi {
  dlopen(
    path: string,
    symbols: Record<string, { args: string[]; returns: string }>,
  ): { symbols: SocketCalls };
}

/** undefined: not loaded yet; null: unavailable (not Bun, no glibc). */
let calls: SocketCalls | null | undefined;

export function socketCalls(): SocketCalls | null {
  if (calls !== undefined) return calls;
  try {
    // Bun's synchronous require, as in bun.ts (bun:ffi is no module deno check can see).
    const ffi = (import.meta as unknown as { require(id: string): BunFfi }).require("bun:ffi");
    calls = ffi.dlopen("libc.so.6", {
      getsockopt: { args: ["i32", "i32", "i32", "ptr", "ptr"], returns: "i32" },
      setsockopt: { args: ["i32", "i32", "i32", "ptr", "u32"], returns: "i32" },
      ioctl: { args: ["i32", "u64", "ptr"], returns: "i32" },
    }).symbols;
  } catch {
    calls = null;
  }
  return calls;
}

const option = new Int32Array(1);

/** setsockopt with one int; true when it took. */
export function setIntOption(
  calls: SocketCalls,
  fd: number,
  level: number,
  name: number,
  value: number,
): boolean {
  option[0] = value;
  return calls.setsockopt(fd, level, name, option, option.byteLength) === 0;
}
