/**
 * A TCP socket's identity as a string, from the gateway's view (Addr) or from the C library's
 * (sockaddr_in / sockaddr_in6 as getsockname/getpeername fill it): used to find, or to check, the
 * descriptor behind a connection (deno_socket_fds.ts, bun_plain_answer.ts). Linux's layout.
 */
import { parseIp } from "../net/cidr.ts";
import type { Addr } from "./types.ts";

const AF_INET = 2;
const AF_INET6 = 10;

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

/** The key a socket is found by: its own address and its peer's (none for a listener). */
export function socketKey(local: Addr, remote?: Addr): string | undefined {
  const localKey = addrKey(local);
  const remoteKey = remote === undefined ? "-" : addrKey(remote);
  return localKey === undefined || remoteKey === undefined ? undefined : `${localKey}|${remoteKey}`;
}

/** getsockname or getpeername as either runtime's FFI binds it (buffer, length in/out). */
export type NameCall = (fd: number, sockaddr: Uint8Array, length: Uint32Array) => number;

const sockaddr = new Uint8Array(128);
const length = new Uint32Array(1);

function nameOf(call: NameCall, fd: number): string | undefined {
  length[0] = sockaddr.length;
  if (call(fd, sockaddr, length) !== 0) return undefined;
  return sockaddrKey(sockaddr);
}

/** The key (as socketKey makes it) of the socket behind a descriptor; undefined if it is none. */
export function keyOfFd(
  calls: { getsockname: NameCall; getpeername: NameCall },
  fd: number,
): string | undefined {
  const local = nameOf(calls.getsockname, fd);
  return local === undefined ? undefined : `${local}|${nameOf(calls.getpeername, fd) ?? "-"}`;
}
