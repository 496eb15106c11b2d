/**
 * The runtime seam on Deno: Deno.listen/listenTls, Deno.connect + Deno.startTls.
 * Never uses conn.readable/writable: reading `readable` to EOF closes the whole resource,
 * which breaks half-close (docs/runtime.md §2.1).
 */
import { NetError, type NetErrorCode } from "../errors.ts";
import { raiseOpenFilesLimit, RLIMIT_NOFILE, type RlimitCalls } from "./rlimit.ts";
import { giveLarge, giveSmall, SMALL_BUFFER, takeLarge, takeSmall } from "./buffers.ts";
import { tlsNotReady } from "./tls_server.ts";
import { TlsHandshakeReaper } from "./deno_tls_reaper.ts";
import { setListenerOptions } from "./deno_socket_fds.ts";
import { removeStaleSocket } from "./unix_socket.ts";
import { certificateFor } from "../tls/sni.ts";
import { isNotTlsHandshakeError, notTlsRefusal } from "../tls/plain_http.ts";
import { connectNodeTls } from "./node_tls.ts";
import type { CancelSignal } from "../net/cancel.ts";
import type {
  Addr,
  ChildProcess,
  Conn,
  ConnectOptions,
  Listener,
  ListenOptions,
  Runtime,
  SignalName,
  SpliceReport,
  TlsCertificate,
} from "./types.ts";

const ERROR_CODES: [new (...args: never[]) => Error, NetErrorCode][] = [
  [Deno.errors.ConnectionRefused, "ECONNREFUSED"],
  [Deno.errors.NotFound, "ENOENT"],
  [Deno.errors.ConnectionReset, "ECONNRESET"],
  [Deno.errors.ConnectionAborted, "ECONNRESET"],
  [Deno.errors.BrokenPipe, "EPIPE"],
  [Deno.errors.NotConnected, "EPIPE"],
  [Deno.errors.BadResource, "EPIPE"],
  [Deno.errors.Interrupted, "EPIPE"],
  [Deno.errors.TimedOut, "ETIMEDOUT"],
  [Deno.errors.AddrInUse, "EADDRINUSE"],
  [Deno.errors.PermissionDenied, "EACCES"],
  [Deno.errors.NotCapable, "EACCES"],
  [Deno.errors.InvalidData, "TLS"],
];

/** Failures Deno reports as a plain Error whose `code` names the errno (no class of their own). */
const OS_CODES: NetErrorCode[] = ["EMFILE", "ENFILE", "ENOMEM", "ENOBUFS"];

function toNetError(err: unknown): NetError {
  if (err instanceof NetError) return err;
  const osCode = (err as { code?: unknown } | null)?.code;
  const code = ERROR_CODES.find(([type]) => err instanceof type)?.[1] ??
    OS_CODES.find((known) => known === osCode) ?? "EOTHER";
  const message = err instanceof Error ? err.message : String(err);
  return new NetError(code, message, { cause: err });
}

function toAddr(addr: Deno.Addr): Addr {
  if (addr.transport === "unix" || addr.transport === "unixpacket") {
    return { transport: "unix", path: addr.path };
  }
  if (addr.transport === "tcp" || addr.transport === "udp") {
    return { transport: "tcp", hostname: addr.hostname, port: addr.port };
  }
  return { transport: "unix", path: "" };
}

function tune(conn: Deno.Conn): void {
  const tcp = conn as Deno.TcpConn;
  // TlsConn has no socket options, only plain TCP does: an accepted TLS connection inherits its
  // listener's (listenTls), a dialled one gets them here before startTls.
  if (typeof tcp.setNoDelay === "function") {
    tcp.setNoDelay(true);
    // Deno cannot set the keepalive idle time: the OS default (2 h on Linux) applies.
    tcp.setKeepAlive(true);
  }
}

/** Reads into a small per-connection buffer while idle and a pooled 64 KiB one while data
 * flows (see buffers.ts); a returned view stays valid until the next read(). */
class DenoConn implements Conn {
  readonly localAddr: Addr;
  readonly remoteAddr: Addr;
  #conn: Deno.Conn;
  #small: Uint8Array | null = takeSmall();
  #large: Uint8Array | null = null;
  #releaseLarge = false;
  #reading = false;
  #closed = false;
  #wroteEof = false;
  /** A read started by peerGone(), handed to the next read(). */
  #prefetched: Promise<Uint8Array | null> | undefined;
  /** Accepted on a TLS listener and its handshake not done yet (see write()). */
  #handshaking = false;

  constructor(conn: Deno.Conn, options: { tlsServer?: boolean } = {}) {
    this.#conn = conn;
    this.localAddr = toAddr(conn.localAddr);
    this.remoteAddr = toAddr(conn.remoteAddr);
    if (options.tlsServer) {
      this.#handshaking = true;
      // Started now so that write() knows when it is done; a failure shows in read() too.
      (conn as Deno.TlsConn).handshake().then(() => this.#handshaking = false, () => {});
    }
  }

  // read() and spliceTo() chain promises instead of being async functions: an idle tunnel parks
  // one read per direction for days, and every suspended async frame around it costs ~0.5 KiB
  // (generator, registers, await closures; measured in heap snapshots).
  read(): Promise<Uint8Array | null> {
    const prefetched = this.#prefetched;
    if (prefetched) {
      this.#prefetched = undefined;
      return prefetched;
    }
    if (this.#releaseLarge) this.#dropLarge();
    const buffer = this.#large ?? this.#small;
    if (buffer === null) return Promise.resolve(null);
    this.#reading = true;
    return this.#conn.read(buffer).then((n) => this.#filled(buffer, n), (err) => this.#failed(err));
  }

  #filled(buffer: Uint8Array, n: number | null): Uint8Array | null {
    this.#reading = false;
    // Bytes (or a clean EOF) came through TLS: the handshake is done, whichever promise settles first.
    this.#handshaking = false;
    if (this.#closed) this.#freeBuffers();
    if (n === null || this.#closed) return null;
    if (buffer === this.#small) {
      // A full small buffer means more is queued: switch to a large one for the next reads.
      if (n === SMALL_BUFFER) this.#large = takeLarge();
    } else if (n < buffer.length) {
      // Keep the large buffer until the caller is done with this view (the next read()).
      this.#releaseLarge = true;
    }
    return buffer.subarray(0, n);
  }

  #failed(err: unknown): null {
    this.#reading = false;
    if (!this.#closed) {
      // Not TLS (plain HTTP?) on a TLS port: rustls has sent an alert and closed; the refusal is logged.
      throw this.#handshaking && isNotTlsHandshakeError(err) ? notTlsRefusal() : toNetError(err);
    }
    this.#freeBuffers();
    return null;
  }

  /** Deno cannot wait for readability without reading, so this starts the next read() early;
   * only its failure (a reset) counts: data and EOF wait there for the next read(). */
  peerGone(): Promise<void> {
    this.#prefetched ??= this.read();
    return this.#prefetched.then(() => new Promise(() => {}), () => undefined);
  }

  /** The raw phase: read, write, repeat, as callbacks (see read()); backpressure as the loop. */
  spliceTo(target: Conn, report: SpliceReport): boolean {
    let length = 0;
    const failed = (err: unknown) => report.ended(err);
    const written = () => {
      report.wrote(length, true);
      next();
    };
    const forward = (chunk: Uint8Array | null) => {
      if (chunk === null) return report.ended(null);
      report.reading();
      length = chunk.length;
      target.write(chunk).then(written, failed);
    };
    const next = () => void this.read().then(forward, failed);
    next();
    return true;
  }

  async write(bytes: Uint8Array): Promise<void> {
    // Deno would hold the write until the handshake completes: forever, for a client that never
    // finishes it (see tls_server.ts).
    if (this.#handshaking) throw tlsNotReady();
    let offset = 0;
    try {
      while (offset < bytes.length) {
        offset += await this.#conn.write(offset === 0 ? bytes : bytes.subarray(offset));
      }
    } catch (err) {
      throw toNetError(err);
    }
  }

  async closeWrite(): Promise<void> {
    if (this.#wroteEof || this.#closed) return;
    this.#wroteEof = true;
    try {
      await this.#conn.closeWrite();
    } catch {
      // The peer is already gone: nothing left to signal.
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Deno throws BadResource when the socket already failed; closing is best effort.
    }
    // Deno keeps the socket of an unfinished TLS handshake open past close() (see the reaper).
    if (this.#handshaking) reaper.reap(this.localAddr, this.remoteAddr);
    // A pending read still owns its buffer; read() frees them when it settles.
    if (!this.#reading) this.#freeBuffers();
  }

  #dropLarge(): void {
    if (this.#large) giveLarge(this.#large);
    this.#large = null;
    this.#releaseLarge = false;
  }

  #freeBuffers(): void {
    this.#dropLarge();
    if (this.#small) giveSmall(this.#small);
    this.#small = null;
  }
}

const reaper = new TlsHandshakeReaper();

const DEAD_IN_QUEUE = [Deno.errors.NotConnected, Deno.errors.ConnectionAborted, Deno.errors.ConnectionReset];

class DenoListener implements Listener {
  readonly addr: Addr;
  #listener: Deno.Listener;
  #tls: boolean;
  #closed = false;
  /** Opens the same address again with other certificates (see setCertificates). */
  #relisten: ((certs: TlsCertificate[]) => Deno.Listener) | undefined;

  constructor(
    listener: Deno.Listener,
    options: { tls?: boolean; relisten?: (certs: TlsCertificate[]) => Deno.Listener } = {},
  ) {
    this.#listener = listener;
    this.#tls = options.tls ?? false;
    this.#relisten = options.relisten;
    this.addr = toAddr(listener.addr);
  }

  /**
   * Deno keeps a listener's certificates (its SNI resolver caches each name's answer for the
   * listener's life), so a new one is opened beside it on the same port (SO_REUSEPORT) and the
   * old one closed. Accepted connections are not the listener's: they stay open. A client whose
   * SYN sat in the old socket's queue at that instant is reset (the accept loop keeps it empty).
   */
  setCertificates(certs: TlsCertificate[]): Promise<void> {
    if (!this.#relisten || this.#closed) return Promise.resolve();
    const old = this.#listener;
    try {
      this.#listener = this.#relisten(certs);
    } catch (err) {
      return Promise.reject(toNetError(err));
    }
    try {
      old.close();
    } catch {
      // already closed
    }
    return Promise.resolve();
  }

  async accept(): Promise<Conn | null> {
    while (!this.#closed) {
      let conn: Deno.Conn;
      const listener = this.#listener;
      try {
        conn = await listener.accept();
      } catch (err) {
        // Its certificates were replaced: accept from the new socket.
        if (!this.#closed && listener !== this.#listener) continue;
        if (this.#closed || err instanceof Deno.errors.BadResource) return null;
        // A client that reset its connection while it waited in the queue (Deno reports ENOTCONN
        // or ECONNABORTED): that one is gone, the next is fine. Backing off here would let
        // anyone stall accepting by sending resets.
        if (DEAD_IN_QUEUE.some((type) => err instanceof type)) continue;
        throw toNetError(err);
      }
      tune(conn);
      return new DenoConn(conn, { tlsServer: this.#tls });
    }
    return null;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
  }
}

const SNI_RESOLVER = Symbol.for("unstableSniResolver");

function listenTls(options: ListenOptions, addr: Extract<Addr, { transport: "tcp" }>): Deno.Listener {
  const certs = options.tls ?? [];
  const fallback = certs.find((c) => !c.serverNames?.length) ?? certs[0];
  if (!fallback) throw new NetError("TLS", "no TLS certificate");
  const tlsOptions: Deno.ListenTlsOptions & Deno.TlsCertifiedKeyPem & { [SNI_RESOLVER]?: unknown } = {
    hostname: addr.hostname,
    port: addr.port,
    cert: fallback.cert,
    key: fallback.key,
    alpnProtocols: ["http/1.1"],
    // A swappable listener is replaced by a twin on its port (DenoListener.setCertificates).
    ...(options.reusePort || options.swappable ? { reusePort: true } : {}),
  };
  if (certs.length > 1) {
    // Deno serves one certificate per listener unless its (unstable) SNI resolver is used.
    tlsOptions[SNI_RESOLVER] = (name: string) => certificateFor(certs, name) ?? fallback;
  }
  const listener = Deno.listenTls(tlsOptions);
  // Its connections (TlsConn) have no setNoDelay: Nagle's algorithm would hold back each small
  // TLS write for ~40 ms. Linux copies the listener's options to every socket it accepts.
  setListenerOptions(toAddr(listener.addr));
  return listener;
}

async function listenUnix(path: string): Promise<Deno.Listener> {
  try {
    return Deno.listen({ transport: "unix", path });
  } catch (err) {
    if (!(err instanceof Deno.errors.AddrInUse) || !await removeStaleSocket(path)) throw err;
  }
  return Deno.listen({ transport: "unix", path });
}

/** Why a TLS listener here cannot ask for client certificates (config key client_ca). */
const NO_CLIENT_AUTH = "client certificates cannot be verified on Deno 2.9: Deno.listenTls cannot ask for " +
  "them, and its node:tls server rejects valid ones (require) or reports them unverified (optional); " +
  "run the compiled binary (Bun), which verifies them";

async function listen(options: ListenOptions): Promise<Listener> {
  const { addr } = options;
  if (options.clientAuth) throw new NetError("TLS", NO_CLIENT_AUTH);
  try {
    if (addr.transport === "unix") return new DenoListener(await listenUnix(addr.path));
    if (options.tls?.length) {
      const listener = listenTls(options, addr);
      // The twin binds the port the first one got (port 0 = any).
      const bound = { ...addr, port: (listener.addr as Deno.NetAddr).port };
      return new DenoListener(listener, {
        tls: true,
        ...(options.swappable &&
          { relisten: (tls: TlsCertificate[]) => listenTls({ ...options, tls }, bound) }),
      });
    }
    return new DenoListener(
      Deno.listen({ hostname: addr.hostname, port: addr.port, reusePort: options.reusePort ?? false }),
    );
  } catch (err) {
    throw toNetError(err);
  }
}

async function connect(options: ConnectOptions): Promise<Conn> {
  const { addr, tls, signal } = options;
  // Deno.startTls cannot present a client certificate (Deno.connectTls can, but takes no server
  // name apart from the address): node:tls does both.
  if (tls?.cert && addr.transport === "tcp") return await connectNodeTls(addr, tls, signal);
  let conn: Deno.Conn;
  try {
    conn = addr.transport === "unix"
      ? await Deno.connect({ transport: "unix", path: addr.path })
      : await Deno.connect({
        hostname: addr.hostname,
        port: addr.port,
        ...(signal && { signal: abortSignal(signal) }),
      });
  } catch (err) {
    throw toNetError(err);
  }
  if (signal?.aborted) {
    conn.close();
    throw new NetError("ETIMEDOUT", "connect aborted");
  }
  tune(conn);
  if (!tls) return new DenoConn(conn);
  try {
    const tlsConn = await Deno.startTls(conn as Deno.TcpConn, {
      hostname: tls.serverName,
      alpnProtocols: ["http/1.1"],
      ...(tls.caCerts?.length ? { caCerts: tls.caCerts } : {}),
      // Deno can only skip the name check per connection; the chain is still verified.
      unsafelyDisableHostnameVerification: !tls.verify,
    });
    // Handshake now so certificate problems surface as a TLS error, before any bytes are sent.
    await handshake(conn, tlsConn, signal);
    return new DenoConn(tlsConn);
  } catch (err) {
    try {
      conn.close();
    } catch {
      // startTls consumed it
    }
    const netErr = toNetError(err);
    throw new NetError("TLS", netErr.message, { cause: err });
  }
}

/** Deno.connect gives up a pending connect on an AbortSignal only: wsgate's own cancellation (a
 * dial's, net/cancel.ts) gets one linked to it. */
function abortSignal(signal: CancelSignal): AbortSignal {
  if (signal instanceof AbortSignal) return signal;
  const controller = new AbortController();
  if (signal.aborted) controller.abort(signal.reason);
  else signal.addEventListener("abort", () => controller.abort(signal.reason));
  return controller.signal;
}

/** The client's TLS handshake over `tcp`, given up when `signal` aborts (connect_timeout, a health
 * check's timeout): a backend that accepts TCP and never answers would keep the socket open for
 * good, one per probe of a health check. */
async function handshake(
  tcp: Deno.Conn,
  tlsConn: Deno.TlsConn,
  signal: CancelSignal | undefined,
): Promise<void> {
  const abandon = () => {
    try {
      tlsConn.close();
    } catch {
      // Already failed: nothing to close (and an abort listener must not throw).
    }
    // Deno keeps the socket of an unfinished TLS handshake open past close() (see the reaper).
    reaper.reap(toAddr(tcp.localAddr), toAddr(tcp.remoteAddr));
  };
  if (signal?.aborted) abandon();
  signal?.addEventListener("abort", abandon);
  try {
    await tlsConn.handshake();
  } finally {
    signal?.removeEventListener("abort", abandon);
  }
}

/** Flags for a worker started from source: they are not inherited, so they are spelled out
 * here, matching the `start` task in deno.json. A 4 MiB young generation (V8's default grows to
 * 32 MiB) keeps a burst of handshakes from leaving ~10 KiB of heap slack per idle tunnel. */
const RUN_FLAGS = [
  "run",
  "--v8-flags=--max-semi-space-size=4",
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
  "--allow-sys",
  "--allow-ffi",
  "--unstable-net",
];

function spawnSelf(args: string[], env: Record<string, string>): ChildProcess {
  const exec = Deno.execPath();
  // From source, execPath is the deno CLI and the script must be named; compiled, it is the program.
  const fromSource = /(^|\/)deno$/.test(exec);
  const child = new Deno.Command(exec, {
    args: fromSource ? [...RUN_FLAGS, Deno.mainModule, ...args] : args,
    env,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  return {
    pid: child.pid,
    kill(signal) {
      try {
        child.kill(signal);
      } catch {
        // already exited
      }
    },
    exited: child.status.then((status) =>
      status.signal ? 128 + (SIGNAL_NUMBERS[status.signal] ?? 0) : status.code
    ),
  };
}

const SIGNAL_NUMBERS: Partial<Record<Deno.Signal, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGKILL: 9,
  SIGTERM: 15,
};

export const runtime: Runtime = {
  description: `deno ${Deno.version.deno}`,
  tlsSkipVerifyCaveat: "on Deno, verify: false only skips the host name check; the certificate chain is " +
    "still verified (add the issuing CA with tls.ca, or run deno with --unsafely-ignore-certificate-errors)",
  noClientAuth: NO_CLIENT_AUTH,
  args: Deno.args,
  listen,
  connect,
  onSignal(signal: SignalName, handler: () => void): void {
    Deno.addSignalListener(signal, handler);
  },
  onInternalError(handler: (error: unknown) => void): void {
    globalThis.addEventListener("unhandledrejection", (event) => {
      event.preventDefault();
      handler(event.reason);
    });
    globalThis.addEventListener("error", (event) => {
      event.preventDefault();
      handler(event.error);
    });
  },
  async readTextFile(path: string): Promise<string> {
    try {
      return await Deno.readTextFile(path);
    } catch (err) {
      throw toNetError(err);
    }
  },
  env: (name: string) => Deno.env.get(name),
  cpuCount: () => navigator.hardwareConcurrency,
  spawnSelf,
  memoryRss: () => Deno.memoryUsage().rss,
  raiseOpenFilesLimit: () => raiseOpenFilesLimit(Deno.build.os, bindRlimit),
  collectGarbage(): number | undefined {
    // Present only with --v8-flags=--expose-gc (or DENO_V8_FLAGS). "last-resort" also hands
    // V8's pooled pages back to the OS, which a plain gc() keeps.
    const gc = (globalThis as { gc?: (options?: Record<string, string>) => void }).gc;
    if (gc === undefined) return undefined;
    gc({ type: "major", execution: "sync", flavor: "last-resort" });
    trimMalloc();
    return Deno.memoryUsage().heapUsed;
  },
  exit: (code: number) => Deno.exit(code),
};

/** glibc keeps freed memory (here: read buffers past the pool) for reuse; give it back, so that
 * RSS after a GC shows what is live. Without FFI the cache simply stays. */
function trimMalloc(): void {
  try {
    const libc = Deno.dlopen("libc.so.6", { malloc_trim: { parameters: ["usize"], result: "i32" } });
    libc.symbols.malloc_trim(0n);
    libc.close();
  } catch {
    // no FFI permission, or not glibc
  }
}

/** getrlimit/setrlimit from libc (needs --allow-ffi). */
function bindRlimit(): RlimitCalls {
  const signature = { parameters: ["i32", "buffer"], result: "i32" } as const;
  const libc = Deno.dlopen("libc.so.6", { getrlimit: signature, setrlimit: signature });
  return {
    get: (limits) => libc.symbols.getrlimit(RLIMIT_NOFILE, limits),
    set: (limits) => libc.symbols.setrlimit(RLIMIT_NOFILE, limits),
    close: () => libc.close(),
  };
}
