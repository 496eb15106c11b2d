/**
 * The runtime seam: the only interface through which the gateway touches sockets, files,
 * signals and the process. `deno.ts` and `bun.ts` implement it; nothing outside
 * `lib/runtime/` names Deno or Bun.
 *
 * It is pull-style (read/write loops) because that is what both runtimes do fast, and
 * because Deno's `readable` stream closes the whole socket at EOF, which breaks half-close
 * (see docs/runtime.md).
 */

import type { Addr } from "../net/address.ts";
import type { CancelSignal } from "../net/cancel.ts";
import type { ClientCertificate } from "../net/placeholders.ts";

export type { Addr, ClientCertificate };

/** A byte stream (TCP, TLS or unix) on either side of the proxy. */
export interface Conn {
  /**
   * The next chunk, or null at EOF (the peer sent FIN). Rejects on reset; on a TLS listener, with
   * a 400 HttpError when the client spoke plain HTTP (the adapter answered it if it could).
   * LEASE: the returned view is valid only until the next read(); copy it to keep it.
   */
  read(): Promise<Uint8Array | null>;
  /** Resolves once every byte was accepted by the kernel (or TLS layer): at most one write in flight.
   * On a connection accepted by a TLS listener, rejects (NetError "TLS") until its handshake is done. */
  write(bytes: Uint8Array): Promise<void>;
  /** shutdown(SHUT_WR): sends FIN; reading continues. Idempotent, never throws. */
  closeWrite(): Promise<void>;
  /** Full close. Idempotent, never throws. */
  close(): void;
  readonly localAddr: Addr;
  readonly remoteAddr: Addr;
  /**
   * Optional native forwarding for the raw tunnel phase: moves everything this connection
   * receives into `target` until EOF or a socket error, with the same backpressure as a
   * read/write loop, telling `report` as bytes move and once when it ends (report.ended). No
   * promise: an idle tunnel holds no promise, resolver or reaction for its days. Returns false
   * when the runtime cannot do it for this pair; the caller then runs a read/write loop.
   */
  spliceTo?(target: Conn, report: SpliceReport): boolean;
  /**
   * Resolves if the connection fails (reset) before anything more arrives: a client that gave up
   * while its upstream is still being asked. A FIN is not that (a half-close: the peer may still
   * read), and bytes or a FIN that arrive first are kept for the next read(); the promise then
   * never resolves. Only while nothing else reads.
   */
  peerGone?(): Promise<void>;
  /**
   * On a listener with client certificates (ListenOptions.clientAuth), once the TLS handshake is
   * done: what the client presented ({ subject: "", fingerprint: "", verified: false } when it
   * presented none, in `optional` mode). Undefined on every other connection.
   */
  clientCertificate?(): ClientCertificate | undefined;
}

/** Client certificates on a TLS listener (server `tls.client_ca`, `tls.client_auth`). */
export interface ClientAuth {
  /** PEM bundle of the CAs client certificates must chain to. */
  ca: string;
  /** require: the handshake fails without a verified certificate; optional: it goes on. */
  mode: "require" | "optional";
}

/** What a native splice tells its tunnel direction as bytes move (its counters and timeouts). */
export interface SpliceReport {
  /** A chunk arrived and its write into the target starts. */
  reading(): void;
  /** `bytes` more of it were written; `done`: nothing of the chunk waits any more. */
  wrote(bytes: number, done: boolean): void;
  /** The splice is over, once: null at the source's EOF, else the socket error that ended it.
   * May be called from within spliceTo() when the source has already ended. */
  ended(error: unknown): void;
}

export interface TlsCertificate {
  cert: string;
  key: string;
  /** SNI names this certificate serves; omitted = the default certificate. */
  serverNames?: string[];
}

export interface ListenOptions {
  addr: Addr;
  /** PEM certificates; the first one without serverNames (or the first one) is the default. */
  tls?: TlsCertificate[];
  /** Ask TLS clients for a certificate (only with `tls`). */
  clientAuth?: ClientAuth;
  reusePort?: boolean;
  /** TLS: its certificates will be replaced while it runs (ACME), see Listener.setCertificates. */
  swappable?: boolean;
}

export interface TlsClientOptions {
  /** SNI and the name verified in the certificate. */
  serverName: string;
  /** Extra trusted CA certificates (PEM). */
  caCerts?: string[];
  /** false = do not verify (see the runtime adapter for what it can honour). */
  verify: boolean;
  /** A client certificate (PEM) to present (upstream `tls: { cert, key }`). */
  cert?: { cert: string; key: string };
}

export interface ConnectOptions {
  addr: Addr;
  tls?: TlsClientOptions;
  /** Abort the dial (connect timeout, shutdown). */
  signal?: CancelSignal;
}

export interface Listener {
  /** The bound address (the real port when 0 was asked for). */
  readonly addr: Addr;
  /** The next connection; null once the listener is closed. Rejects (NetError) on a transient
   * accept failure such as running out of file descriptors: the caller backs off and retries.
   * TLS: the connection comes at the TCP accept and the first read() waits for the handshake, so
   * the caller's timeouts cover a client that never completes it; close() then frees it too. */
  accept(): Promise<Conn | null>;
  close(): void;
  /** A TLS listener opened `swappable`: new handshakes get these certificates from now on;
   * connections already accepted keep theirs and are not touched. */
  setCertificates?(certs: TlsCertificate[]): Promise<void>;
}

export type SignalName = "SIGHUP" | "SIGTERM" | "SIGINT" | "SIGUSR2";

/** TCP keep-alive's idle time before its first probe, on the sockets whose adapter can set it
 * (Bun's sockets, node:tls ones; Deno's setKeepAlive takes no time and keeps the system's). */
export const KEEPALIVE_MS = 60_000;

/** The open-files limit in effect, or why it could not be read or raised. */
export type OpenFilesLimit = { soft: number; hard: number } | { error: string };

/** A worker process started by spawnSelf(). */
export interface ChildProcess {
  readonly pid: number;
  kill(signal: "SIGTERM" | "SIGHUP" | "SIGKILL"): void;
  /** Resolves with the exit code (128 + signal number when killed). */
  readonly exited: Promise<number>;
}

/** The data path's view of the runtime: sockets and nothing else. */
export interface Net {
  listen(options: ListenOptions): Promise<Listener>;
  connect(options: ConnectOptions): Promise<Conn>;
  /** Set when `verify: false` cannot be fully honoured here: printed as a startup warning. */
  readonly tlsSkipVerifyCaveat?: string;
  /** Set when this runtime cannot request and verify client certificates on a TLS listener: why.
   * A configuration with `client_ca` is then refused at start (never silently unverified). */
  readonly noClientAuth?: string;
}

/** The process's view of the runtime: signals, environment, files, child processes, limits. */
export interface Host {
  /** "deno 2.9.6" or "bun 1.4.5". */
  readonly description: string;
  /** Command-line arguments after the program (and script) name. */
  readonly args: string[];
  onSignal(signal: SignalName, handler: () => void): void;
  /** Last line of defence: a bug in one connection must not end the process. `handler` gets what
   * nothing caught, a rejected promise or a throw in a callback (a timer, a socket event), and the
   * process goes on; without it a throw in a callback ends the process, with every tunnel and the
   * log lines still buffered. */
  onInternalError(handler: (error: unknown) => void): void;
  readTextFile(path: string): Promise<string>;
  env(name: string): string | undefined;
  /** Number of CPU cores, for `workers: auto`. */
  cpuCount(): number;
  /** Starts this same program again (source or compiled binary) with `args`, stdout/stderr
   * shared, plus the given environment variables. */
  spawnSelf(args: string[], env: Record<string, string>): ChildProcess;
  /** Resident set size of this process in bytes. */
  memoryRss(): number;
  /** Raises the soft open-files limit to the hard limit (setrlimit through FFI); the result. */
  raiseOpenFilesLimit(): OpenFilesLimit;
  /** A full garbage collection (and free memory handed back to the OS), where the runtime offers
   * one (Bun; Deno with --v8-flags=--expose-gc): the JS heap in use after it, in bytes;
   * undefined when there is none. */
  collectGarbage(): number | undefined;
  exit(code: number): never;
}

/** What an adapter (deno.ts, bun.ts) provides: both views. */
export interface Runtime extends Net, Host {}
