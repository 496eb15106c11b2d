/**
 * A view of a connection that reports other addresses (a PROXY header's), reads some bytes first
 * (taken off the socket already), or watches what is read, and otherwise IS the connection:
 * writes, closes and the adapter's optional fast paths (native splice, early reset detection) go
 * straight to it. Wrappers that dropped those paths silently turned the Bun splice and the early
 * 499 off behind `proxy_protocol: true`.
 */
import type { Addr, ClientCertificate, Conn, SpliceReport } from "../runtime/types.ts";

export interface ViewOptions {
  remoteAddr?: Addr;
  localAddr?: Addr;
  /** Bytes already read from `conn` that belong before anything it reads next. */
  unread?: Uint8Array;
  /** Sees each chunk read (the view's own unread bytes included). */
  onRead?(chunk: Uint8Array): void;
}

export function connView(conn: Conn, options: ViewOptions): Conn {
  return new ConnView(conn, options);
}

/**
 * The connection that writes into `conn` reach: the one a view wraps (however deep), else `conn`.
 * An adapter's native splice only writes into its own kind of connection: handed a view as the
 * target, the Bun splice refused, and behind `proxy_protocol: true` the upstream-to-client
 * direction fell back to a read/write loop.
 */
export function writeTarget(conn: Conn): Conn {
  return ConnView.unwrap(conn);
}

class ConnView implements Conn {
  readonly #remoteAddr: Addr | undefined;
  readonly #localAddr: Addr | undefined;
  readonly #conn: Conn;

  static unwrap(conn: Conn): Conn {
    let target = conn;
    while (target instanceof ConnView) target = target.#conn;
    return target;
  }
  #unread: Uint8Array | undefined;
  readonly #onRead: ((chunk: Uint8Array) => void) | undefined;

  constructor(conn: Conn, options: ViewOptions) {
    this.#conn = conn;
    this.#remoteAddr = options.remoteAddr;
    this.#localAddr = options.localAddr;
    this.#unread = options.unread?.length ? options.unread : undefined;
    this.#onRead = options.onRead;
  }

  // Read through, not copied: a socket's addresses may cost a syscall each (Bun), and most are never asked for.
  get remoteAddr(): Addr {
    return this.#remoteAddr ?? this.#conn.remoteAddr;
  }

  get localAddr(): Addr {
    return this.#localAddr ?? this.#conn.localAddr;
  }

  read(): Promise<Uint8Array | null> {
    const unread = this.#unread;
    if (unread !== undefined) {
      this.#unread = undefined;
      this.#onRead?.(unread);
      return Promise.resolve(unread);
    }
    if (!this.#onRead) return this.#conn.read();
    return this.#conn.read().then((chunk) => {
      if (chunk !== null) this.#onRead!(chunk);
      return chunk;
    });
  }

  write(bytes: Uint8Array): Promise<void> {
    return this.#conn.write(bytes);
  }

  closeWrite(): Promise<void> {
    return this.#conn.closeWrite();
  }

  close(): void {
    this.#conn.close();
  }

  /** Native forwarding once the view's own bytes are read (before: the caller's loop reads them). */
  spliceTo(target: Conn, report: SpliceReport): boolean {
    if (this.#unread !== undefined || this.#onRead || !this.#conn.spliceTo) return false;
    // Writing into a view is writing into its connection: the adapter sees its own kind.
    return this.#conn.spliceTo(writeTarget(target), report);
  }

  clientCertificate(): ClientCertificate | undefined {
    return this.#conn.clientCertificate?.();
  }

  /** Bytes waiting to be read mean the peer did not leave first: then it never resolves. */
  peerGone(): Promise<void> {
    if (this.#unread !== undefined || !this.#conn.peerGone) return new Promise(() => {});
    return this.#conn.peerGone();
  }
}
