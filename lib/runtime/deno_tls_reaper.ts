/**
 * Lets go of TLS connections that Deno itself cannot close: a connection accepted by
 * Deno.listenTls runs its handshake in a task of its own (rustls-tokio-stream) that holds the TCP
 * socket until the handshake completes or fails, and close() only waits for it. A client that
 * never finishes the handshake (sends nothing, or half a ClientHello) would keep its descriptor for
 * as long as it likes, whatever the gateway decided.
 *
 * So a connection closed before its handshake completed is reaped here: its socket is found among
 * this process's descriptors by its addresses (getsockname/getpeername through libc) and shut
 * down, which fails the handshake and lets Deno drop the socket; the peer sees EOF. The search
 * runs once per batch of reaped connections, so a flood of them costs one pass over the
 * descriptors per event-loop turn. It runs synchronously on the thread that accepts and closes
 * sockets, so no descriptor found here can be reused by another socket before it is shut down.
 * Needs --allow-ffi and --allow-read (/proc/self/fd), like the open-files limit; without them the
 * socket stays until the client leaves.
 */
import { parseIp } from "../net/cidr.ts";
import type { Addr } from "./types.ts";

const SHUT_RDWR = 2;
const AF_INET = 2;
const AF_INET6 = 10;

const SYMBOLS = {
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** sockaddr_in / sockaddr_in6 as "ip-bytes port", the IP as 16 bytes (IPv4 mapped, like parseIp). */
function sockaddrKey(sockaddr: Uint8Array): string | undefined {
  const view = new DataView(sockaddr.buffer, sockaddr.byteOffset, sockaddr.byteLength);
  const family = view.getUint16(0, true);
  const port = view.getUint16(2, false);
  if (family === AF_INET) return `::ffff:${sockaddr.subarray(4, 8).join(".")} ${port}`;
  if (family === AF_INET6) return `${ipKey(sockaddr.subarray(8, 24))} ${port}`;
  return undefined;
}

function ipKey(ip: Uint8Array): string {
  const mapped = ip.subarray(0, 12).every((b, i) => b === (i < 10 ? 0 : 0xff));
  return mapped ? `::ffff:${ip.subarray(12).join(".")}` : [...ip].join(",");
}

function addrKey(addr: Addr): string | undefined {
  if (addr.transport !== "tcp") return undefined;
  const ip = parseIp(addr.hostname);
  return ip && `${ipKey(ip)} ${addr.port}`;
}

export class TlsHandshakeReaper {
  /** "local|remote" keys of the sockets to shut down at the next pass. */
  #wanted = new Set<string>();
  #scheduled = false;
  /** undefined: not loaded yet; null: unavailable (no FFI permission, no glibc). */
  #libc: Libc | null | undefined;
  #sockaddr = new Uint8Array(128);
  #length = new Uint32Array(1);

  /** Shuts down the socket with these addresses, soon. */
  reap(local: Addr, remote: Addr): void {
    const localKey = addrKey(local);
    const remoteKey = addrKey(remote);
    if (localKey === undefined || remoteKey === undefined) return;
    this.#wanted.add(`${localKey}|${remoteKey}`);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setTimeout(() => this.#pass(), 0);
  }

  #pass(): void {
    this.#scheduled = false;
    const wanted = this.#wanted;
    this.#wanted = new Set();
    const libc = this.#load();
    if (!libc) return;
    try {
      for (const entry of Deno.readDirSync("/proc/self/fd")) {
        const fd = Number(entry.name);
        const remote = this.#name(libc.getpeername, fd);
        if (remote === undefined) continue;
        const key = `${this.#name(libc.getsockname, fd)}|${remote}`;
        if (!wanted.delete(key)) continue;
        libc.shutdown(fd, SHUT_RDWR);
        if (wanted.size === 0) return;
      }
    } catch {
      // No /proc or no read permission: the sockets stay until their clients leave.
    }
  }

  #name(call: Libc["getpeername"], fd: number): string | undefined {
    this.#length[0] = this.#sockaddr.length;
    if (call(fd, this.#sockaddr, this.#length) !== 0) return undefined;
    return sockaddrKey(this.#sockaddr);
  }

  #load(): Libc | null {
    if (this.#libc === undefined) {
      try {
        this.#libc = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
      } catch {
        this.#libc = null;
      }
    }
    return this.#libc;
  }
}
