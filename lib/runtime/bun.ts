/**
 * The runtime seam on Bun: Bun.listen/Bun.connect callbacks turned into pull-style Conns.
 *
 * Chunks handed to `data` are fresh, right-sized buffers that stay valid, so read() returns
 * them without copying and an idle connection holds no read buffer at all (~3–5 KiB per idle
 * tunnel, docs/runtime.md §1). Traps handled here: end() closes both directions, so
 * half-close is shutdown(); write() takes only what the kernel accepts, the rest waits for
 * `drain`; with a `handshake` handler, writes before the TLS handshake are silently dropped.
 */
import process from "node:process";
import { answerHeaders, NetError, toStatus } from "../errors.ts";
import { codeOf, osError, socketError } from "./errno.ts";
import { errorResponse } from "../http/responses.ts";
import { listenSniTls } from "./node_tls.ts";
import { raiseOpenFilesLimit, RLIMIT_NOFILE, type RlimitCalls } from "./rlimit.ts";
import { FdBudget } from "./fd_budget.ts";
import { capIfNear, forwarded, NOT_CAPPED } from "./bun_read_size.ts";
import { keepAliveAccepted } from "./bun_keepalive.ts";
import { Inbox, type ReadFailure } from "./inbox.ts";
import type { CancelSignal } from "../net/cancel.ts";
import { refusePlainHttp } from "./bun_plain_answer.ts";
import { TLS_POLICY, tlsNotReady } from "./tls_server.ts";
import { removeStaleSocket } from "./unix_socket.ts";
import { clientCertificate, type PeerCertificate } from "../tls/client_cert.ts";
import {
  type Addr,
  type ChildProcess,
  type ClientAuth,
  type ClientCertificate,
  type Conn,
  type ConnectOptions,
  KEEPALIVE_MS,
  type Listener,
  type ListenOptions,
  type Runtime,
  type SignalName,
  type SpliceReport,
} from "./types.ts";

/** The parts of Bun's socket API used here (Bun's own types are not visible to deno check). */
interface BunSocket {
  data: SocketEvents | undefined;
  write(data: Uint8Array): number;
  shutdown(): void;
  end(): void;
  /** Closes at once, without a graceful shutdown. */
  terminate(): void;
  pause(): void;
  resume(): void;
  setKeepAlive(on: boolean, initialDelayMs: number): boolean;
  /** TLS: what the peer presented (node:tls' shape; {} when nothing). */
  getPeerCertificate?(): PeerCertificate | undefined;
  /** The socket's file descriptor (-1 once closed). */
  readonly fd: number;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
}

interface BunHandlers {
  binaryType: "uint8array";
  open?(socket: BunSocket): void;
  data(socket: BunSocket, chunk: Uint8Array): void;
  drain(socket: BunSocket): void;
  end(socket: BunSocket): void;
  close(socket: BunSocket, error?: Error): void;
  error(socket: BunSocket, error: Error): void;
  /** `authorizationError`: on a listener, why the handshake failed. */
  handshake?(socket: BunSocket, success: boolean, authorizationError: Error | null): void;
}

/** Bun's verification error carries an OpenSSL code (UNABLE_TO_VERIFY_LEAF_SIGNATURE...). */
type AuthorizationError = (Error & { code?: string }) | null;

interface BunListener {
  /** The listening socket's descriptor. */
  readonly fd: number;
  readonly port: number;
  readonly hostname: string;
  stop(closeActiveConnections?: boolean): void;
}

interface BunTls {
  cert?: string;
  key?: string;
  ca?: string[];
  requestCert?: boolean;
  serverName?: string;
  rejectUnauthorized?: boolean;
  ALPNProtocols?: Uint8Array;
  ciphers?: string;
}

interface BunApi {
  listen(options: Record<string, unknown> & { socket: BunHandlers; tls?: BunTls }): BunListener;
  connect(options: Record<string, unknown> & { socket: BunHandlers; tls?: BunTls }): Promise<BunSocket>;
  file(path: string): { text(): Promise<string> };
  gc(force: boolean): void;
  spawn(options: {
    cmd: string[];
    env: Record<string, string | undefined>;
    stdio: ["ignore", "inherit", "inherit"];
  }): { pid: number; kill(signal: string): void; exited: Promise<number>; signalCode: string | null };
  readonly version: string;
}

const Bun = (globalThis as unknown as { Bun: BunApi }).Bun;

/** ALPN in wire format (length-prefixed): Bun ignores plain strings. */
const ALPN_HTTP11 = new Uint8Array([8, ...new TextEncoder().encode("http/1.1")]);

/** What the shared handlers (RELAY_HANDLERS) pass on to the object a socket carries in `data`. */
interface SocketEvents {
  onData(chunk: Uint8Array): void;
  onDrain(): void;
  onEnd(): void;
  onClose(error?: Error): void;
  onHandshake(success: boolean, error: AuthorizationError): void;
}

/** BunConn's flags: closed (by close() or Bun); it sent a FIN (closeWrite); it counts in the fd
 * budget until Bun reports the close (once, though `close` and `error` may both come). */
const CLOSED = 1;
const WROTE_EOF = 2;
const HOLDS_FD = 4;

/** A socket accepted on a TLS listener: until its handshake is done Bun would drop what is written
 * (see write()); with client certificates asked for, how, and what came. */
interface TlsServerSide {
  handshaking: boolean;
  auth: ClientAuth | undefined;
  certificate: ClientCertificate | undefined;
}

class BunConn implements Conn, SocketEvents {
  #socket: BunSocket;
  /** Filled on first use: each address is a syscall on Bun, and an upstream's are rarely asked for.
   * The local one is not kept (asked for by the PROXY protocol and the admin only). A unix
   * socket's, both its path, is set at once. */
  #remoteAddr: Addr | undefined;
  #inbox: Inbox;
  /** A socket error, which fails writes too. */
  #error: NetError | undefined;
  #pending: { bytes: Uint8Array; resolve(): void; reject(err: unknown): void } | undefined;
  /** CLOSED, WROTE_EOF, HOLDS_FD in one field: with at most 12 fields a BunConn is 112 bytes
   * instead of 160 (JSC's size classes), in both sockets of every idle tunnel. */
  #flags = HOLDS_FD;
  /** Set while this socket's data is spliced into another (see spliceTo), with whom to tell and
   * what the target could not take yet (this socket paused until it drains). Three fields rather
   * than an object: no object per direction of every idle tunnel. */
  #spliceTarget: BunConn | undefined;
  #spliceReport: SpliceReport | undefined;
  #backlog: Uint8Array | undefined;
  /** A splice into this socket waiting for it to drain; called with the error if it closes instead. */
  #drainWaiter: ((closed?: NetError) => void) | undefined;
  /** How much one read may bring, for a near peer: NOT_CAPPED, or how far the cap is from being
   * lifted (see bun_read_size.ts). */
  #keptUp: number;
  /** Accepted on a TLS listener (an object only there). */
  #tls: TlsServerSide | undefined;

  constructor(
    socket: BunSocket,
    unixPath: string | undefined,
    options: { tlsServer: boolean; keptUp: number; clientAuth?: ClientAuth | undefined },
  ) {
    this.#socket = socket;
    this.#keptUp = options.keptUp;
    this.#inbox = new Inbox(socket);
    if (unixPath !== undefined) this.#remoteAddr = { transport: "unix", path: unixPath };
    if (options.tlsServer) {
      this.#tls = { handshaking: true, auth: options.clientAuth, certificate: undefined };
    }
  }

  get localAddr(): Addr {
    const remote = this.#remoteAddr;
    if (remote?.transport === "unix") return remote;
    // A socket reset while it waited to be accepted has no addresses left (undefined).
    return { transport: "tcp", hostname: this.#socket.localAddress ?? "", port: this.#socket.localPort ?? 0 };
  }

  get remoteAddr(): Addr {
    return this.#remoteAddr ??= {
      transport: "tcp",
      hostname: this.#socket.remoteAddress ?? "",
      port: this.#socket.remotePort ?? 0,
    };
  }

  get #closed(): boolean {
    return (this.#flags & CLOSED) !== 0;
  }

  read(): Promise<Uint8Array | null> {
    return this.#inbox.read();
  }

  peerGone(): Promise<void> {
    return this.#inbox.peerGone();
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.#error) return Promise.reject(this.#error);
    if (this.#tls?.handshaking) return Promise.reject(tlsNotReady());
    const written = this.#socket.write(bytes);
    if (written === bytes.length) return Promise.resolve();
    if (written < 0 || this.#closed) return Promise.reject(new NetError("EPIPE", "socket is closed"));
    return new Promise((resolve, reject) => {
      this.#pending = { bytes: bytes.subarray(written), resolve, reject };
    });
  }

  closeWrite(): Promise<void> {
    if (!(this.#flags & WROTE_EOF) && !this.#closed) {
      this.#flags |= WROTE_EOF;
      this.#socket.shutdown();
    }
    return Promise.resolve();
  }

  close(): void {
    if (this.#closed) return;
    this.#flags |= CLOSED;
    this.#socket.end();
    this.#settle(null);
  }

  /**
   * The raw phase without a promise per chunk, the way the measurements in
   * docs/runtime.md §1 favour on Bun (~20 % less CPU per message than the pull
   * adapter, and no parked read per idle direction): `data` callbacks write straight into the
   * target socket; a partial write pauses this socket until the target drains.
   */
  spliceTo(target: Conn, report: SpliceReport): boolean {
    if (!(target instanceof BunConn)) return false;
    this.#inbox.unwatch();
    this.#spliceTarget = target;
    this.#spliceReport = report;
    // Chunks read before the switch go first, in order.
    this.#pumpSplice();
    return true;
  }

  /** Forwards queued chunks while the target takes them; ends the splice at EOF. */
  #pumpSplice(): void {
    if (!this.#spliceTarget) return;
    while (this.#backlog === undefined) {
      const chunk = this.#inbox.shift();
      if (!chunk) break;
      if (!this.#forward(chunk)) return;
    }
    if (this.#backlog !== undefined) return;
    this.#inbox.resume();
    if (this.#inbox.error) this.#endSplice(this.#inbox.error);
    else if (this.#inbox.ended) this.#endSplice(null);
  }

  /** Writes one chunk into the splice target; false when it had to wait (or failed). */
  #forward(chunk: Uint8Array): boolean {
    this.#spliceReport!.reading();
    return this.#offer(chunk);
  }

  /** Writes what the target takes; the rest waits, this socket paused, for the target's drain. */
  #offer(bytes: Uint8Array): boolean {
    const target = this.#spliceTarget!;
    const written = target.#tryWrite(bytes);
    if (written < 0) {
      this.#endSplice(new NetError("EPIPE", "socket is closed"));
      return false;
    }
    const done = written === bytes.length;
    this.#spliceReport!.wrote(written, done);
    if (done) {
      if (this.#keptUp !== NOT_CAPPED) {
        this.#keptUp = forwarded(this.#keptUp, written, this.#socket.fd, target.#socket.fd);
      }
      return true;
    }
    // The target did not take everything: the run toward lifting the cap starts over.
    if (this.#keptUp !== NOT_CAPPED) this.#keptUp = 0;
    this.#backlog = bytes.subarray(written);
    target.#drainWaiter = (closed) => this.#drained(closed);
    this.#inbox.pause();
    return false;
  }

  /** The splice target drained (or closed): write what waited, then go on reading. */
  #drained(closed?: NetError): void {
    const backlog = this.#backlog;
    if (!this.#spliceTarget || !backlog) return;
    if (closed) return this.#endSplice(closed);
    this.#backlog = undefined;
    if (this.#offer(backlog)) this.#pumpSplice();
  }

  /** A write of as much as the kernel takes now: the bytes written, -1 when closed. */
  #tryWrite(bytes: Uint8Array): number {
    return this.#closed ? -1 : this.#socket.write(bytes);
  }

  #endSplice(error: ReadFailure | null): void {
    const report = this.#spliceReport;
    if (!this.#spliceTarget || !report) return;
    this.#spliceTarget = this.#spliceReport = this.#backlog = undefined;
    report.ended(error);
  }

  // --- called from the socket handlers ---

  clientCertificate(): ClientCertificate | undefined {
    return this.#tls?.certificate;
  }

  /** A failed handshake: Bun closes the socket once this returns, and `close` follows. A plain HTTP
   * client is answered on the way and refused (see bun_plain_answer.ts); any other failure is the
   * reason the first read fails (logged as tls_failed). With client certificates, Bun reports a
   * certificate that does not chain to client_ca as a success with an error: `require` fails it here. */
  onHandshake(success: boolean, error: AuthorizationError): void {
    const why = error?.code ?? error?.message;
    if (!success) {
      // Reads end with the refusal, before `close` ends them with nothing.
      const refusal = refusePlainHttp(error, this.#socket.fd, this.localAddr, this.remoteAddr);
      if (refusal) this.#inbox.end(refusal);
      else this.#error ??= new NetError("TLS", `TLS handshake failed${why ? `: ${why}` : ""}`);
      return;
    }
    const tls = this.#tls;
    if (!tls) return; // a socket this gateway dialled: nothing to check here
    if (tls.auth) {
      const peer = this.#socket.getPeerCertificate?.();
      const certificate = tls.certificate = clientCertificate(peer, error === null);
      if (tls.auth.mode === "require" && !certificate.verified) {
        const failure = new NetError("TLS", `client certificate not verified: ${why ?? "none presented"}`);
        this.#error ??= failure;
        this.#settle(failure);
        this.#socket.terminate();
        return;
      }
    }
    tls.handshaking = false;
  }

  onData(chunk: Uint8Array): void {
    // Spliced: straight into the target, unless earlier chunks still wait for it.
    if (this.#spliceTarget && this.#backlog === undefined && this.#inbox.empty) this.#forward(chunk);
    else this.#inbox.push(chunk);
  }

  onDrain(): void {
    const waiter = this.#drainWaiter;
    this.#drainWaiter = undefined;
    waiter?.();
    const pending = this.#pending;
    if (!pending) return;
    const written = this.#socket.write(pending.bytes);
    if (written < 0) {
      this.#pending = undefined;
      pending.reject(new NetError("EPIPE", "socket is closed"));
    } else if (written === pending.bytes.length) {
      this.#pending = undefined;
      pending.resolve();
    } else {
      pending.bytes = pending.bytes.subarray(written);
    }
  }

  onEnd(): void {
    this.#inbox.end();
    if (this.#spliceTarget) this.#pumpSplice();
  }

  onClose(error?: Error): void {
    if (this.#flags & HOLDS_FD) {
      this.#flags &= ~HOLDS_FD;
      fds.closed();
    }
    if (error && !this.#error) this.#error = socketError(error, "ECONNRESET");
    this.#flags |= CLOSED;
    this.#settle(this.#error ?? null);
  }

  /** Once closed: ends reads, fails a parked write, and ends splices into or out of this socket. */
  #settle(outcome: NetError | null): void {
    this.#inbox.end(outcome ?? undefined);
    const waiter = this.#drainWaiter;
    this.#drainWaiter = undefined;
    waiter?.(outcome ?? new NetError("EPIPE", "socket is closed"));
    if (this.#spliceTarget) this.#endSplice(outcome);
    const pending = this.#pending;
    if (pending) {
      this.#pending = undefined;
      pending.reject(outcome ?? new NetError("EPIPE", "socket is closed"));
    }
  }
}

/** `keepAlive`: the listener that accepted the socket has set keep-alive for it already. Bun sets
 * TCP_NODELAY itself on every socket it accepts or connects (strace), so that is not asked again. */
function wrap(
  socket: BunSocket,
  unixPath: string | undefined,
  options: { tlsServer?: boolean; clientAuth?: ClientAuth | undefined; keepAlive?: boolean } = {},
): BunConn {
  let keptUp = NOT_CAPPED;
  if (unixPath === undefined) {
    if (!options.keepAlive) socket.setKeepAlive(true, KEEPALIVE_MS);
    // Else a reader that stalls holds up to one 512 KiB read per tunnel.
    keptUp = capIfNear(socket.fd);
  }
  const conn = new BunConn(socket, unixPath, {
    tlsServer: options.tlsServer ?? false,
    keptUp,
    clientAuth: options.clientAuth,
  });
  fds.opened();
  socket.data = conn;
  return conn;
}

/** The sockets this process holds, against the open-files limit (see fd_budget.ts). */
const fds = new FdBudget();

/** What a shed connection is told: the answer a gateway out of descriptors gives wherever it
 * finds out (toStatus: 503 + Retry-After), so a client sees the same on Deno and here. */
const OUT_OF_FDS = osError("EMFILE");
const SHED_ANSWER = errorResponse(toStatus(OUT_OF_FDS), answerHeaders(OUT_OF_FDS));
/** How long a shed connection may take to read its answer and leave. */
const SHED_LINGER_MS = 1_000;

/**
 * A connection shed for want of file descriptors that is answered before it closes: the 503 is
 * written (on a TLS listener once the handshake is done: Bun drops earlier writes), then FIN.
 * What the client sends meanwhile is read and dropped, since closing with unread bytes would
 * reset the connection and could destroy the answer before the client read it. It closes when
 * the client does, or after SHED_LINGER_MS.
 */
class ShedAnswer implements SocketEvents {
  #socket: BunSocket;
  #release: () => void;
  #timer: ReturnType<typeof setTimeout>;

  constructor(socket: BunSocket, release: () => void, tls: boolean) {
    this.#socket = socket;
    this.#release = release;
    this.#timer = setTimeout(() => this.#close(), SHED_LINGER_MS);
    if (!tls) this.#answer();
  }

  #answer(): void {
    this.#socket.write(SHED_ANSWER);
    this.#socket.shutdown();
  }

  #close(): void {
    this.#socket.terminate();
    this.onClose();
  }

  onHandshake(success: boolean, authorizationError: AuthorizationError): void {
    if (success && authorizationError === null) this.#answer();
  }

  onData(): void {}

  onDrain(): void {}

  onEnd(): void {
    this.#socket.end();
  }

  onClose(): void {
    clearTimeout(this.#timer);
    this.#release();
  }
}

/** Handlers shared by every socket: they only forward to the socket's BunConn. One object for
 * all dials, so a dialled socket does not keep five closures of its own. */
const RELAY_HANDLERS: Omit<BunHandlers, "open"> = {
  binaryType: "uint8array",
  data: (socket, chunk) => socket.data?.onData(chunk),
  drain: (socket) => socket.data?.onDrain(),
  end: (socket) => socket.data?.onEnd(),
  close: (socket, error) => socket.data?.onClose(error),
  error: (socket, error) => socket.data?.onClose(error),
};

class BunListenerAdapter implements Listener {
  #addr: Addr;
  #listener: BunListener | undefined;
  #accepted: Conn[] = [];
  #waiter: { resolve(conn: Conn | null): void; reject(err: NetError): void } | undefined;
  /** Connections were shed for want of file descriptors; accept() reports it once. */
  #shedding: NetError | undefined;
  #closed = false;

  constructor(addr: Addr) {
    this.#addr = addr;
  }

  get addr(): Addr {
    return this.#addr;
  }

  /** Attaches the running listener and learns the real port (when 0 was asked for). */
  bind(listener: BunListener): void {
    this.#listener = listener;
    if (this.#addr.transport === "tcp") {
      this.#addr = { transport: "tcp", hostname: listener.hostname, port: listener.port };
    }
  }

  push(conn: Conn): void {
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter.resolve(conn);
    } else this.#accepted.push(conn);
  }

  /** Sheds a connection the process has no file descriptors to serve: answered 503 while there
   * is room for that (see ShedAnswer), closed at once otherwise. */
  shed(socket: BunSocket, tls: boolean): void {
    const slot = fds.answerSlot();
    if (slot) socket.data = new ShedAnswer(socket, slot, tls);
    else socket.terminate();
    const err = new NetError("EMFILE", `out of file descriptors (${fds.open} sockets): connections shed`);
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter.reject(err);
    } else this.#shedding ??= err;
  }

  accept(): Promise<Conn | null> {
    const shedding = this.#shedding;
    if (shedding) {
      this.#shedding = undefined;
      return Promise.reject(shedding);
    }
    const conn = this.#accepted.shift();
    if (conn) return Promise.resolve(conn);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // false: stop accepting, but leave established connections to the gateway.
    this.#listener?.stop(false);
    this.#waiter?.resolve(null);
    this.#waiter = undefined;
    for (const conn of this.#accepted.splice(0)) conn.close();
  }
}

async function listen(options: ListenOptions): Promise<Listener> {
  const { addr, clientAuth } = options;
  const certs = options.tls ?? [];
  // Bun.listen serves one certificate, and keeps it (its reload() takes handlers only); several,
  // chosen by SNI, or ones that change (ACME), go through node:tls.
  if ((certs.length > 1 || options.swappable) && addr.transport === "tcp") {
    return await listenSniTls(addr, certs, { reusePort: options.reusePort ?? false, clientAuth });
  }
  const tls: BunTls | undefined = certs[0] && {
    cert: certs[0].cert,
    key: certs[0].key,
    ALPNProtocols: ALPN_HTTP11,
    ciphers: TLS_POLICY.ciphers,
    ...(clientAuth && {
      ca: [clientAuth.ca],
      requestCert: true,
      // require: no certificate at all fails the handshake in BoringSSL already.
      rejectUnauthorized: clientAuth.mode === "require",
    }),
  };
  const unixPath = addr.transport === "unix" ? addr.path : undefined;
  // Sockets arrive through `open` only on a later turn of the event loop, after bind().
  const adapter = new BunListenerAdapter(addr);
  const accepted = { tlsServer: tls !== undefined, clientAuth, keepAlive: false };
  const start = () =>
    Bun.listen({
      ...(addr.transport === "unix"
        ? { unix: addr.path }
        : { hostname: addr.hostname, port: addr.port, reusePort: options.reusePort ?? false }),
      allowHalfOpen: true,
      ...(tls ? { tls } : {}),
      socket: {
        ...RELAY_HANDLERS,
        // With a `handshake` handler, `open` comes at the TCP accept: the gateway gets the
        // connection at once, and handshake_timeout covers the TLS handshake too.
        open: (socket) =>
          fds.full ? adapter.shed(socket, tls !== undefined) : adapter.push(wrap(socket, unixPath, accepted)),
        ...(tls
          ? {
            handshake: (socket: BunSocket, success: boolean, error: AuthorizationError) =>
              socket.data?.onHandshake(success, error),
          }
          : {}),
      },
    });
  try {
    let listener: BunListener;
    try {
      listener = start();
    } catch (err) {
      if (unixPath === undefined || !await removeStaleSocket(unixPath)) throw err;
      listener = start();
    }
    adapter.bind(listener);
    accepted.keepAlive = unixPath === undefined && keepAliveAccepted(listener.fd);
    return adapter;
  } catch (err) {
    // Bun names the cause in `code` only (an address in use, but also running out of descriptors).
    throw socketError(err);
  }
}

function connect(options: ConnectOptions): Promise<Conn> {
  // Past the budget the dial could hit the real limit, which Bun reports as ECONNREFUSED: a
  // healthy server would be blamed for the gateway's own shortage.
  if (fds.dialFull) {
    return Promise.reject(osError("EMFILE"));
  }
  // The dial's socket counts from now, not from wrap(): Bun.connect cannot be abandoned, so a
  // connect to a server that never answers (a blackhole) keeps its socket past connect_timeout,
  // until the kernel gives up (about two minutes); uncounted, such sockets reach the real limit.
  fds.opened();
  return connectSocket(options).finally(() => fds.closed());
}

function connectSocket(options: ConnectOptions): Promise<Conn> {
  const { addr, tls, signal } = options;
  const unixPath = addr.transport === "unix" ? addr.path : undefined;
  const target = addr.transport === "unix"
    ? { unix: addr.path }
    : { hostname: addr.hostname, port: addr.port };
  if (!tls) {
    return Bun.connect({ ...target, allowHalfOpen: true, socket: RELAY_HANDLERS })
      .then((socket) => wrap(socket, unixPath), (err) => Promise.reject(socketError(err)));
  }
  // TLS: resolve only after the handshake, since earlier writes would be dropped.
  return new Promise<Conn>((resolve, reject) => {
    Bun.connect({
      ...target,
      allowHalfOpen: true,
      tls: {
        serverName: tls.serverName,
        rejectUnauthorized: tls.verify,
        ALPNProtocols: ALPN_HTTP11,
        ...(tls.caCerts?.length ? { ca: tls.caCerts } : {}),
        ...(tls.cert ? { cert: tls.cert.cert, key: tls.cert.key } : {}),
      },
      socket: {
        ...RELAY_HANDLERS,
        handshake(socket, success, authorizationError) {
          if (success || !tls.verify) resolve(wrap(socket, unixPath));
          else {
            socket.end();
            reject(new NetError("TLS", authorizationError?.message ?? "TLS handshake failed"));
          }
        },
        close(socket, error) {
          if (socket.data) socket.data.onClose(error);
          else reject(socketError(error ?? new Error("closed during the TLS handshake"), "TLS"));
        },
      },
    }).then((socket) => abandonHandshake(socket, signal), (err) => reject(socketError(err)));
  });
}

/** A TLS handshake still under way when `signal` aborts (connect_timeout, a health check's
 * timeout) is given up: a backend that accepts TCP and never answers would keep the socket open
 * for good, one per probe of a health check. (A plain connect cannot be: Bun.connect gives no
 * socket before it completes.) */
function abandonHandshake(socket: BunSocket, signal: CancelSignal | undefined): void {
  const abandon = () => {
    // wrap() gave it its data once the handshake completed: then it is the dialer's to close.
    if (socket.data === undefined) socket.terminate();
  };
  if (signal?.aborted) abandon();
  else signal?.addEventListener("abort", abandon, { once: true });
}

export const runtime: Runtime = {
  description: `bun ${Bun.version}`,
  args: process.argv.slice(2),
  listen,
  connect,
  onSignal(signal: SignalName, handler: () => void): void {
    process.on(signal, handler);
  },
  onInternalError(handler: (error: unknown) => void): void {
    process.on("unhandledRejection", handler);
    process.on("uncaughtException", handler);
  },
  async readTextFile(path: string): Promise<string> {
    try {
      return await Bun.file(path).text();
    } catch (err) {
      // Bun's own message names the file, as Deno's does.
      throw new NetError(codeOf(err), err instanceof Error ? err.message : String(err), { cause: err });
    }
  },
  env: (name: string) => process.env[name],
  cpuCount: () => navigator.hardwareConcurrency,
  spawnSelf(args: string[], env: Record<string, string>): ChildProcess {
    // From source, argv[1] is the script; in a compiled binary it lives in Bun's virtual /$bunfs.
    const script = process.argv[1];
    const fromSource = script !== undefined && !script.startsWith("/$bunfs/") && /\.[cm]?[jt]s$/.test(script);
    const child = Bun.spawn({
      cmd: [process.execPath, ...(fromSource ? [script] : []), ...args],
      env: { ...process.env, ...env },
      stdio: ["ignore", "inherit", "inherit"],
    });
    return {
      pid: child.pid,
      kill: (signal) => child.kill(signal),
      exited: child.exited,
    };
  },
  memoryRss: () => process.memoryUsage().rss,
  raiseOpenFilesLimit() {
    const limit = raiseOpenFilesLimit(process.platform, bindRlimit);
    if ("soft" in limit) fds.setLimit(limit.soft);
    return limit;
  },
  collectGarbage(): number {
    Bun.gc(true);
    return process.memoryUsage().heapUsed;
  },
  exit: (code: number) => process.exit(code),
};

interface BunFfi {
  dlopen(path: string, symbols: Record<string, { args: string[]; returns: string }>): {
    symbols: Record<"getrlimit" | "setrlimit", (resource: number, limits: BigUint64Array) => number>;
    close(): void;
  };
}

/** getrlimit/setrlimit from libc through bun:ffi, loaded synchronously with Bun's import.meta.require. */
function bindRlimit(): RlimitCalls {
  const ffi = (import.meta as unknown as { require(id: string): BunFfi }).require("bun:ffi");
  const signature = { args: ["i32", "ptr"], returns: "i32" };
  const libc = ffi.dlopen("libc.so.6", { getrlimit: signature, setrlimit: signature });
  return {
    get: (limits) => libc.symbols.getrlimit(RLIMIT_NOFILE, limits),
    set: (limits) => libc.symbols.setrlimit(RLIMIT_NOFILE, limits),
    close: () => libc.close(),
  };
}
