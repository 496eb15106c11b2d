/**
 * A TLS listener with several certificates chosen by SNI, on `node:tls`. Bun.listen serves one
 * certificate per listener, but Bun's node:tls supports SNICallback on the same socket layer
 * (docs/runtime.md §3.2), so bun.ts uses this for multi-certificate listeners only.
 * Also a TLS client that presents a certificate, for Deno, whose Deno.startTls cannot
 * (connectNodeTls).
 */
import { isIP } from "node:net";
import tls from "node:tls";
import { NetError } from "../errors.ts";
import { socketError } from "./errno.ts";
import { Inbox } from "./inbox.ts";
import type { CancelSignal } from "../net/cancel.ts";
import { refusePlainHttp } from "./bun_plain_answer.ts";
import { certificateFor } from "../tls/sni.ts";
import { TLS_POLICY, tlsNotReady } from "./tls_server.ts";
import { clientCertificate } from "../tls/client_cert.ts";
import {
  type Addr,
  type ClientAuth,
  type ClientCertificate,
  type Conn,
  KEEPALIVE_MS,
  type Listener,
  type TlsCertificate,
  type TlsClientOptions,
} from "./types.ts";

const CLOSE_GRACE_MS = 1000;

/** A node:tls socket as a pull-style Conn (reads through an Inbox, like the Bun adapter). */
class NodeSocketConn implements Conn {
  readonly localAddr: Addr;
  readonly remoteAddr: Addr;
  #socket: tls.TLSSocket;
  #inbox: Inbox;
  /** Until `secureConnection`: nothing can be sent (see tls_server.ts). */
  #handshaking = true;
  #clientCertificate: ClientCertificate | undefined;

  constructor(socket: tls.TLSSocket) {
    this.#socket = socket;
    this.#inbox = new Inbox(socket);
    this.localAddr = { transport: "tcp", hostname: socket.localAddress ?? "", port: socket.localPort ?? 0 };
    this.remoteAddr = {
      transport: "tcp",
      hostname: socket.remoteAddress ?? "",
      port: socket.remotePort ?? 0,
    };
    socket.setNoDelay(true);
    // As on every other socket: a peer that vanished from an idle tunnel is found.
    socket.setKeepAlive(true, KEEPALIVE_MS);
    socket.on("data", (chunk: Uint8Array) => this.#inbox.push(chunk));
    socket.on("end", () => this.#inbox.end());
    socket.on(
      "error",
      (err: Error) => this.#inbox.end(socketError(err, "ECONNRESET")),
    );
    socket.on("close", () => this.#inbox.end());
  }

  read(): Promise<Uint8Array | null> {
    return this.#inbox.read();
  }

  peerGone(): Promise<void> {
    return this.#inbox.peerGone();
  }

  /** The TLS handshake completed; `auth`: the listener asked for a client certificate. A
   * certificate that does not chain to client_ca fails a `require` listener here (node:tls lets
   * such a handshake complete when rejectUnauthorized is off). */
  secured(auth?: ClientAuth): void {
    const socket = this.#socket;
    if (auth) {
      this.#clientCertificate = clientCertificate(socket.getPeerCertificate(), socket.authorized);
      if (auth.mode === "require" && !this.#clientCertificate.verified) {
        const why = socket.authorizationError ?? "none presented";
        this.#inbox.end(new NetError("TLS", `client certificate not verified: ${why}`));
        socket.destroy();
        return;
      }
    }
    this.#handshaking = false;
  }

  /** The TLS handshake failed (before the socket is destroyed): a plain HTTP client is answered
   * and refused (see bun_plain_answer.ts); any other failure is what the first read reports
   * (logged as tls_failed). */
  failed(err: Error): void {
    // Bun's node:tls keeps its native socket, and so the descriptor, in `_handle`.
    const fd = (this.#socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
    const refusal = refusePlainHttp(err, fd, this.localAddr, this.remoteAddr);
    this.#inbox.end(refusal ?? new NetError("TLS", `TLS handshake failed: ${err.message}`));
  }

  clientCertificate(): ClientCertificate | undefined {
    return this.#clientCertificate;
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.#handshaking) return Promise.reject(tlsNotReady());
    if (this.#socket.destroyed || this.#socket.writableEnded) {
      return Promise.reject(new NetError("EPIPE", "socket is closed"));
    }
    // Resolve when node:tls handed the bytes to the kernel, as the seam promises: so a
    // close() after the last awaited write cannot drop data buffered in user space.
    return new Promise((resolve, reject) => {
      this.#socket.write(
        bytes,
        (err) => err ? reject(new NetError("EPIPE", err.message, { cause: err })) : resolve(),
      );
    });
  }

  closeWrite(): Promise<void> {
    // With allowHalfOpen, end() sends close_notify + FIN and keeps the read side open.
    if (!this.#socket.writableEnded) this.#socket.end();
    return Promise.resolve();
  }

  close(): void {
    const socket = this.#socket;
    if (socket.writableEnded && !socket.writableFinished && !socket.destroyed) {
      // Let a FIN just requested by closeWrite() go out before tearing down.
      const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
      socket.once("finish", () => {
        clearTimeout(timer);
        socket.destroy();
      });
    } else socket.destroy();
    this.#inbox.end();
  }
}

class NodeTlsListener implements Listener {
  #addr: Addr;
  #server: tls.Server;
  #accepted: Conn[] = [];
  #waiter: ((conn: Conn | null) => void) | undefined;
  #closed = false;
  #handshaking = new WeakMap<tls.TLSSocket, NodeSocketConn>();
  #swap: (certs: TlsCertificate[]) => void;

  constructor(
    server: tls.Server,
    addr: Addr,
    swap: (certs: TlsCertificate[]) => void,
    clientAuth: ClientAuth | undefined,
  ) {
    this.#server = server;
    this.#addr = addr;
    this.#swap = swap;
    // Bun emits `connection` with the TLSSocket itself, before the handshake: the gateway gets
    // the connection at once, and handshake_timeout covers the TLS handshake too.
    server.on("connection", (socket: tls.TLSSocket) => {
      const conn = new NodeSocketConn(socket);
      this.#handshaking.set(socket, conn);
      this.#push(conn);
    });
    server.on("secureConnection", (socket: tls.TLSSocket) => {
      this.#handshaking.get(socket)?.secured(clientAuth);
      this.#handshaking.delete(socket);
    });
    // A failed TLS handshake concerns that client only. Bun leaves the socket open after some
    // failures (its own handshakeTimeout), so it is closed here.
    server.on("tlsClientError", (err: Error, socket: tls.TLSSocket) => {
      this.#handshaking.get(socket)?.failed(err);
      socket.destroy();
    });
  }

  get addr(): Addr {
    return this.#addr;
  }

  bound(port: number): void {
    if (this.#addr.transport === "tcp") this.#addr = { ...this.#addr, port };
  }

  #push(conn: Conn): void {
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter(conn);
    } else this.#accepted.push(conn);
  }

  accept(): Promise<Conn | null> {
    const conn = this.#accepted.shift();
    if (conn) return Promise.resolve(conn);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }

  setCertificates(certs: TlsCertificate[]): Promise<void> {
    try {
      this.#swap(certs);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(
        new NetError("TLS", `cannot use the new certificates: ${(err as Error).message}`),
      );
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.close();
    this.#waiter?.(null);
    this.#waiter = undefined;
  }
}

/** The options of one certificate's SecureContext. Every context carries the policy and, with
 * client auth, the client CA: a context chosen by SNI (or set for an ACME renewal) replaces the
 * server's, and one without `ca` verifies client certificates against the default roots. */
function contextOptions(cert: TlsCertificate, clientAuth: ClientAuth | undefined): tls.SecureContextOptions {
  return { cert: cert.cert, key: cert.key, ...TLS_POLICY, ...(clientAuth && { ca: clientAuth.ca }) };
}

function sniContexts(certs: TlsCertificate[], clientAuth: ClientAuth | undefined) {
  return certs.map((c) => ({
    serverNames: c.serverNames ?? [],
    context: tls.createSecureContext(contextOptions(c, clientAuth)),
  }));
}

const defaultCertificate = (certs: TlsCertificate[]) =>
  certs.find((c) => !c.serverNames?.length) ?? certs[0]!;

export function listenSniTls(
  addr: Extract<Addr, { transport: "tcp" }>,
  certs: TlsCertificate[],
  options: { reusePort: boolean; clientAuth?: ClientAuth | undefined },
): Promise<Listener> {
  const { clientAuth } = options;
  const fallback = defaultCertificate(certs);
  let contexts = sniContexts(certs, clientAuth);
  const server = tls.createServer({
    ...contextOptions(fallback, clientAuth),
    ALPNProtocols: ["http/1.1"],
    allowHalfOpen: true,
    ...(clientAuth && {
      requestCert: true,
      rejectUnauthorized: clientAuth.mode === "require",
    }),
    SNICallback(name, callback) {
      callback(null, certificateFor(contexts, name)?.context);
    },
  });
  // Both are read per handshake: the next one gets the new certificates, open connections keep
  // theirs (node:tls setSecureContext, which Bun implements).
  const swap = (next: TlsCertificate[]) => {
    const fresh = defaultCertificate(next);
    server.setSecureContext(contextOptions(fresh, clientAuth));
    contexts = sniContexts(next, clientAuth);
  };
  const listener = new NodeTlsListener(server, addr, swap, clientAuth);
  return new Promise((resolve, reject) => {
    server.once("error", (err: Error) => reject(socketError(err)));
    server.listen({ host: addr.hostname, port: addr.port, reusePort: options.reusePort }, () => {
      const bound = server.address();
      if (bound && typeof bound === "object") listener.bound(bound.port);
      resolve(listener);
    });
  });
}

/** A TLS connection to `hostname:port` presenting `tls.cert`, resolved once the handshake is done
 * (a server that refuses the certificate fails it: NetError "TLS"). */
export function connectNodeTls(
  addr: { hostname: string; port: number },
  options: TlsClientOptions,
  signal?: CancelSignal,
): Promise<Conn> {
  return new Promise((resolve, reject) => {
    // allowHalfOpen (a tunnel's half-close) is a net.Socket option node:tls passes on, untyped.
    const socket = tls.connect({
      host: addr.hostname,
      port: addr.port,
      // No SNI for an IP address (RFC 6066 §3; node:tls refuses one): the certificate is then
      // checked against the address.
      ...(isIP(options.serverName) ? {} : { servername: options.serverName }),
      rejectUnauthorized: options.verify,
      ALPNProtocols: ["http/1.1"],
      allowHalfOpen: true,
      ...(options.caCerts?.length ? { ca: options.caCerts } : {}),
      ...(options.cert ? { cert: options.cert.cert, key: options.cert.key } : {}),
    } as tls.ConnectionOptions);
    const conn = new NodeSocketConn(socket);
    const fail = (err: Error) => {
      socket.destroy();
      reject(new NetError("TLS", err.message, { cause: err }));
    };
    socket.once("error", fail);
    signal?.addEventListener("abort", () => fail(new Error("connect aborted")), { once: true });
    socket.once("secureConnect", () => {
      socket.off("error", fail);
      conn.secured();
      resolve(conn);
    });
  });
}
