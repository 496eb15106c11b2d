/**
 * Lets go of TLS connections that Deno itself cannot close: a connection accepted by
 * Deno.listenTls runs its handshake in a task of its own (rustls-tokio-stream) that holds the TCP
 * socket until the handshake completes or fails, and close() only waits for it. A client that
 * never finishes the handshake (sends nothing, or half a ClientHello) would keep its descriptor for
 * as long as it likes, whatever the gateway decided.
 *
 * So a connection closed before its handshake completed is reaped here: its socket is found among
 * this process's descriptors by its addresses (deno_socket_fds.ts) and shut down, which fails the
 * handshake and lets Deno drop the socket; the peer sees EOF. The search runs once per batch of
 * reaped connections, so a flood of them costs one pass over the descriptors per event-loop turn.
 * Without FFI permission the socket stays until the client leaves.
 */
import { forEachSocket } from "./deno_socket_fds.ts";
import { socketKey } from "./sockaddr.ts";
import type { Addr } from "./types.ts";

const SHUT_RDWR = 2;

export class TlsHandshakeReaper {
  /** Keys (socketKey) of the sockets to shut down at the next pass. */
  #wanted = new Set<string>();
  #scheduled = false;

  /** Shuts down the socket with these addresses, soon. */
  reap(local: Addr, remote: Addr): void {
    const key = socketKey(local, remote);
    if (key === undefined) return;
    this.#wanted.add(key);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setTimeout(() => this.#pass(), 0);
  }

  #pass(): void {
    this.#scheduled = false;
    const wanted = this.#wanted;
    this.#wanted = new Set();
    forEachSocket(wanted, (fd, libc) => libc.shutdown(fd, SHUT_RDWR));
  }
}
