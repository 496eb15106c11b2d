/**
 * Socket options Deno does not offer, set through libc (Deno.dlopen). Deno never shows a socket's
 * descriptor, so the descriptor is found among /proc/self/fd by the socket's own and peer
 * addresses (getsockname/getpeername). Used for a TLS connection stuck in its handshake
 * (deno_tls_reaper.ts) and for a TLS listener's TCP options (setListenerOptions below). The search
 * runs synchronously on the thread that opens and closes sockets, so a descriptor found here
 * cannot be reused by another socket before it is acted on. Needs --allow-ffi and --allow-read
 * (/proc/self/fd), like the open-files limit; without them nothing is found.
 */
import { keyOfFd, socketKey } from "./sockaddr.ts";
import type { Addr } from "./types.ts";

const SOL_SOCKET = 1;
const SO_KEEPALIVE = 9;
const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;

const SYMBOLS = {
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
} as const;

export type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let libc: Libc | null | undefined;

/** undefined: not loaded yet; null: unavailable (no FFI permission, no glibc). */
function load(): Libc | null {
  if (libc === undefined) {
    try {
      libc = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
    } catch {
      libc = null;
    }
  }
  return libc;
}

/** Calls `act` with the descriptor of each socket whose key (socketKey) is in `wanted`, removing
 * it from `wanted`; one pass over the process's descriptors, which stops once all are found. */
export function forEachSocket(wanted: Set<string>, act: (fd: number, libc: Libc) => void): void {
  const calls = load();
  if (!calls || wanted.size === 0) return;
  try {
    for (const entry of Deno.readDirSync("/proc/self/fd")) {
      const fd = Number(entry.name);
      const key = keyOfFd(calls, fd);
      if (key === undefined || !wanted.delete(key)) continue;
      act(fd, calls);
      if (wanted.size === 0) return;
    }
  } catch {
    // No /proc or no read permission: nothing is found.
  }
}

/** An int 1, the value of a boolean socket option. */
const ON = new Uint8Array(new Int32Array([1]).buffer);

/**
 * TCP_NODELAY and SO_KEEPALIVE on a TCP listener, which Linux copies to every socket it accepts.
 * For Deno.listenTls: a TlsConn has neither setNoDelay nor setKeepAlive, so without this Nagle's
 * algorithm holds back a TLS server's small writes until the peer's delayed ACK (~40 ms: the
 * TLS 1.2 handshake, the 101 after a TLS 1.3 handshake; docs/runtime.md §2.3). False when the
 * listener could not be found (no FFI permission).
 */
export function setListenerOptions(addr: Addr): boolean {
  const key = socketKey(addr);
  if (key === undefined) return false;
  let found = false;
  forEachSocket(new Set([key]), (fd, calls) => {
    found = calls.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, ON, ON.length) === 0 &&
      calls.setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, ON, ON.length) === 0;
  });
  return found;
}
