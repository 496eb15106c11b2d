/**
 * The plain-text 400 for a plain HTTP client on a Bun TLS port (Bun.listen and node:tls alike).
 * BoringSSL stops at a first record that starts with an HTTP method without sending an alert, and
 * Bun reports the failed handshake (`handshake` callback, node:tls `tlsClientError`) while the
 * socket is still open. A TLS socket writes only through TLS, so the answer goes to the descriptor
 * itself (send(2) through bun:ffi), once getsockname/getpeername show that the descriptor is still
 * that connection. Only a failed handshake comes here: a TLS client costs nothing more.
 */
import { isPlainHttpHandshakeError, PLAIN_HTTP_ANSWER, plainHttpRefusal } from "../tls/plain_http.ts";
import { keyOfFd, type NameCall, socketKey } from "./sockaddr.ts";
import type { HttpError } from "../errors.ts";
import type { Addr } from "./types.ts";

const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;

interface Libc {
  getsockname: NameCall;
  getpeername: NameCall;
  send(fd: number, bytes: Uint8Array, length: number, flags: number): number;
}

interface BunFfi {
  dlopen(path: string, symbols: Record<keyof Libc, { args: string[]; returns: string }>): { symbols: Libc };
}

let libc: Libc | null | undefined;

/** undefined: not loaded yet; null: unavailable (not glibc). */
function load(): Libc | null {
  if (libc === undefined) {
    try {
      const ffi = (import.meta as unknown as { require(id: string): BunFfi }).require("bun:ffi");
      const name = { args: ["i32", "ptr", "ptr"], returns: "i32" };
      libc = ffi.dlopen("libc.so.6", {
        getsockname: name,
        getpeername: name,
        // A short answer into a fresh socket's empty send buffer: all of it or nothing, never blocking.
        send: { args: ["i32", "ptr", "u64", "i32"], returns: "i32" },
      }).symbols;
    } catch {
      libc = null;
    }
  }
  return libc;
}

/**
 * For a failed TLS handshake: when BoringSSL found a plain HTTP request, answers it
 * PLAIN_HTTP_ANSWER on `fd` (if that is still the connection between `local` and `remote`) and
 * returns the refusal the connection's reads end with; undefined for any other failure.
 */
export function refusePlainHttp(err: unknown, fd: number, local: Addr, remote: Addr): HttpError | undefined {
  if (!isPlainHttpHandshakeError(err)) return undefined;
  const calls = load();
  const key = socketKey(local, remote);
  if (calls && fd >= 0 && key !== undefined && keyOfFd(calls, fd) === key) {
    calls.send(fd, PLAIN_HTTP_ANSWER, PLAIN_HTTP_ANSWER.length, MSG_DONTWAIT | MSG_NOSIGNAL);
  }
  return plainHttpRefusal();
}
