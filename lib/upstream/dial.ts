/**
 * CONNECT/TLS: open a connection to one upstream server within the group's connect_timeout.
 * Every failure here happens before any byte of the request left, so it is retryable, unless it
 * is the gateway's own (out of descriptors: UpstreamError.own), which another server cannot fix.
 */
import { describeError, NetError, UpstreamError } from "../errors.ts";
import type { UpstreamConfig, UpstreamServerConfig } from "../config/schema.ts";
import type { Conn, Net, TlsClientOptions } from "../runtime/types.ts";

function tlsOptions(server: UpstreamServerConfig, group: UpstreamConfig): TlsClientOptions | undefined {
  if (!server.tls) return undefined;
  return {
    serverName: group.tls.server_name ?? server.hostname,
    verify: group.tls.verify,
    ...(group.tls.ca ? { caCerts: [group.tls.ca] } : {}),
    ...(group.tls.client_cert ? { cert: group.tls.client_cert } : {}),
  };
}

/** `signal` (health checks) abandons the dial early, like the timeout does. */
export async function dialUpstream(
  net: Net,
  server: UpstreamServerConfig,
  group: UpstreamConfig,
  options: { signal?: AbortSignal } = {},
): Promise<Conn> {
  const tls = tlsOptions(server, group);
  const controller = new AbortController();
  const abort = () => controller.abort();
  if (options.signal?.aborted) abort();
  options.signal?.addEventListener("abort", abort);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new NetError("ETIMEDOUT", `no connection within ${group.connect_timeout} ms`));
    }, group.connect_timeout);
  });
  const connecting = net.connect({
    addr: server.addr,
    signal: controller.signal,
    ...(tls ? { tls } : {}),
  });
  try {
    return await Promise.race([connecting, timeout]);
  } catch (err) {
    // A connection that completes after the timeout must not leak.
    connecting.then((conn) => conn.close(), () => {});
    const timedOut = err instanceof NetError && err.code === "ETIMEDOUT";
    const phase = err instanceof NetError && err.code === "TLS" ? "tls" : "connect";
    throw new UpstreamError(phase, server.address, `${phase} failed: ${describeError(err)}`, {
      timedOut,
      retryable: true,
      cause: err,
    });
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", abort);
  }
}
