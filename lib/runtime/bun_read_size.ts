/**
 * Keeps Bun's reads small until the other side of a tunnel proves it keeps up, so that a reader
 * that is slow from the start holds about one 64 KiB read per tunnel, as on Deno. Bun reads up to
 * 512 KiB per `data` event (one read buffer per event loop), whatever the socket's receive queue
 * holds; when the other side stops taking bytes, the unwritten rest of that read stays in memory
 * until it drains (measured: ~0.5 MiB per stalled tunnel, docs/runtime.md §3.1). Pausing sooner
 * cannot help: the read has already happened. Only the kernel's receive queue bounds a read, so
 * the receive buffer starts capped (SO_RCVBUF SMALL_RCVBUF: the kernel doubles it, and reads stay
 * within 64 KiB).
 *
 * Small reads cost CPU on bulk transfers (measured: ~1.1 s/GB instead of ~0.7), so the cap is
 * lifted (LARGE_RCVBUF) once the tunnel has forwarded LIFT_AFTER bytes that its target sent on at
 * once (its unsent queue, SIOCOUTQNSD, within UNSENT_LIMIT). It is never put back: shrinking the
 * receive buffer of a busy socket makes the kernel drop arriving segments, and the sender then
 * waits for retransmission timeouts (measured: 1 GB/s fell to 0.2). So a reader that stalls in the
 * middle of a full-speed bulk transfer can still hold one large read.
 *
 * Near peers only (handshake round trip within NEAR_RTT_US): a fixed receive buffer turns off the
 * kernel's autotuning, and a 64 KiB window carries at most 64 KiB per round trip: 640 MB/s at
 * 0.1 ms, 1.3 MB/s at 50 ms. Far peers keep autotuning, and a reader stalled behind one may hold
 * up to one 512 KiB read. Needs bun:ffi (libc); without it nothing changes.
 */

import { IPPROTO_TCP, setIntOption, type SocketCalls, socketCalls, SOL_SOCKET } from "./bun_libc.ts";

const SO_RCVBUF = 8;
const TCP_INFO = 11;
/** Bytes in a TCP socket's send queue not sent yet (linux/sockios.h). */
const SIOCOUTQNSD = 0x894b;
/** struct tcp_info: tcpi_rtt (u32, microseconds) follows 8 bytes of flags and 15 u32 fields. */
const TCPI_RTT_OFFSET = 68;

export const NEAR_RTT_US = 1_000;
const SMALL_RCVBUF = 32 * 1024;
/** The kernel caps it at net.core.rmem_max. */
const LARGE_RCVBUF = 4 * 1024 * 1024;
/** Chunks below this say nothing about the source's speed (messages): not probed. */
const PROBE_BYTES = 16 * 1024;
const UNSENT_LIMIT = 64 * 1024;
const LIFT_AFTER = 1024 * 1024;

const info = new Uint8Array(256);
const infoView = new DataView(info.buffer);
const infoLength = new Uint32Array(1);
const unsent = new Int32Array(1);

/** Round trip of the TCP socket `fd` in microseconds (the kernel's estimate, from the handshake
 * on), or undefined when it cannot be read. */
function roundTripUs(calls: SocketCalls, fd: number): number | undefined {
  infoLength[0] = info.length;
  if (calls.getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, infoLength) !== 0) return undefined;
  if (infoLength[0]! < TCPI_RTT_OFFSET + 4) return undefined;
  return infoView.getUint32(TCPI_RTT_OFFSET, true);
}

function setReceiveBuffer(calls: SocketCalls, fd: number, bytes: number): boolean {
  return setIntOption(calls, fd, SOL_SOCKET, SO_RCVBUF, bytes);
}

/**
 * The read size of one socket, as one number its connection keeps (no object per socket: memory
 * per idle tunnel): NOT_CAPPED, or the bytes forwarded since reads were capped that the target
 * sent on at once.
 */
export const NOT_CAPPED = -1;

/** Caps the reads of the TCP socket `fd` if its peer is near: 0 (capped, nothing forwarded yet),
 * else NOT_CAPPED. */
export function capIfNear(fd: number): number {
  const calls = socketCalls();
  if (!calls || fd < 0) return NOT_CAPPED;
  const rtt = roundTripUs(calls, fd);
  if (rtt === undefined || rtt > NEAR_RTT_US || !setReceiveBuffer(calls, fd, SMALL_RCVBUF)) return NOT_CAPPED;
  return 0;
}

/** `length` bytes read from `fd` (state `keptUp`, capped) went whole into the socket `targetFd`:
 * the new state, NOT_CAPPED once the cap is lifted. */
export function forwarded(keptUp: number, length: number, fd: number, targetFd: number): number {
  if (length < PROBE_BYTES) return keptUp;
  const calls = socketCalls()!;
  unsent[0] = 0;
  if (calls.ioctl(targetFd, SIOCOUTQNSD, unsent) !== 0) return keptUp;
  // The target sends slower than it is fed: the run starts over.
  if (unsent[0]! > UNSENT_LIMIT) return 0;
  keptUp += length;
  if (keptUp < LIFT_AFTER) return keptUp;
  return setReceiveBuffer(calls, fd, LARGE_RCVBUF) ? NOT_CAPPED : keptUp;
}
