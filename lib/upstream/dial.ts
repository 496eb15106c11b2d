/**
 * CONNECT/TLS: open a connection to one upstream server within the group's connect_timeout.
 * Every failure here happens before any byte of the request left, so it is retryable, unless it
 * is the gateway's own (out of descriptors: UpstreamError.own), which another server cannot fix.
 */
import { describeError, NetError, UpstreamError } from "../errors.ts";
import type { UpstreamConfig, UpstreamServerConfig } from "../config/schema.ts";
import type { Conn, ConnectOptions, Net, TlsClientOptions } from "../runtime/types.ts";
import { deadlines } from "../net/deadlines.ts";
import { Cancel, type CancelSignal } from "../net/cancel.ts";

function tlsOptions(server: UpstreamServerConfig, group: UpstreamConfig): TlsClientOptions | undefined {
  if (!server.tls) return undefined;
  return {
    serverName: group.tls.server_name ?? server.hostname,
    verify: group.tls.verify,
    ...(group.tls.ca ? { caCerts: [group.tls.ca] } : {}),
    ...(group.tls.client_cert ? { cert: group.tls.client_cert } : {}),
  };
}

/** `signal` (a health check's timeout, a client that left) abandons the dial at once, like the
 * timeout does. Callbacks rather than a race of promises: a dial is on every handshake's path, and
 * this makes half the garbage. */
export function dialUpstream(
  net: Net,
  server: UpstreamServerConfig,
  group: UpstreamConfig,
  options: { signal?: CancelSignal } = {},
): Promise<Conn> {
  const tls = tlsOptions(server, group);
  const controller = new Cancel();
  const outer = options.signal;
  return new Promise<Conn>((resolve, reject) => {
    let settled = false;
    const settle = () => {
      settled = true;
      deadlines.cancel(timeout);
      outer?.removeEventListener("abort", abandon);
    };
    const fail = (err: unknown) => {
      if (settled) return;
      settle();
      reject(dialError(server, err));
    };
    // Failed here, not when the connect rejects: Bun's cannot be aborted, and would hold the
    // dialer (a client gone, a health check past its timeout) until connect_timeout.
    const abandon = () => {
      controller.abort(outer!.reason);
      fail(outer!.reason);
    };
    const timeout = deadlines.add(group.connect_timeout, () => {
      const err = new NetError("ETIMEDOUT", `no connection within ${group.connect_timeout} ms`);
      controller.abort(err);
      fail(err);
    });
    if (outer?.aborted) return abandon();
    outer?.addEventListener("abort", abandon);
    const connect: ConnectOptions = { addr: server.addr, signal: controller };
    if (tls) connect.tls = tls;
    net.connect(connect).then((conn) => {
      // A connection that completes after the timeout must not leak.
      if (settled) return conn.close();
      settle();
      resolve(conn);
    }, fail);
  });
}

function dialError(server: UpstreamServerConfig, err: unknown): UpstreamError {
  const timedOut = err instanceof NetError && err.code === "ETIMEDOUT";
  const phase = err instanceof NetError && err.code === "TLS" ? "tls" : "connect";
  return new UpstreamError(phase, server.address, `${phase} failed: ${describeError(err)}`, {
    timedOut,
    retryable: true,
    cause: err,
  });
}
