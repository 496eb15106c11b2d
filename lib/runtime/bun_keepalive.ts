/**
 * TCP keep-alive set once on a listening socket instead of on every socket it accepts: Linux
 * copies SO_KEEPALIVE and the TCP_KEEP* settings into each accepted socket, and Bun's per-socket
 * setKeepAlive() costs four setsockopt calls (~4 µs) on every handshake. The values are the ones
 * setKeepAlive(true, KEEPALIVE_MS) sets (strace: idle 60 s, then probes 1 s apart, 10 of them), so
 * a client's socket and an upstream's behave alike.
 */
import { IPPROTO_TCP, setIntOption, socketCalls, SOL_SOCKET } from "./bun_libc.ts";
import { KEEPALIVE_MS } from "./types.ts";

const SO_KEEPALIVE = 9;
const TCP_KEEPIDLE = 4;
const TCP_KEEPINTVL = 5;
const TCP_KEEPCNT = 6;

/** Turns keep-alive on for the sockets the TCP listener `fd` accepts from now on; false when it
 * could not (no bun:ffi, a failed call): then each accepted socket needs setKeepAlive(). */
export function keepAliveAccepted(fd: number): boolean {
  const calls = socketCalls();
  if (!calls || fd < 0) return false;
  return setIntOption(calls, fd, SOL_SOCKET, SO_KEEPALIVE, 1) &&
    setIntOption(calls, fd, IPPROTO_TCP, TCP_KEEPIDLE, KEEPALIVE_MS / 1000) &&
    setIntOption(calls, fd, IPPROTO_TCP, TCP_KEEPINTVL, 1) &&
    setIntOption(calls, fd, IPPROTO_TCP, TCP_KEEPCNT, 10);
}
