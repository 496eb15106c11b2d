/**
 * ACCEPT, behind a load balancer: on a listener with `proxy_protocol: true`, read the PROXY
 * header (v1 or v2) that the balancer sends before the client's first byte, and hand on a
 * connection whose addresses are the client's. From then on the real client address is what
 * logs, limits, access lists, balancing and X-Forwarded-For see.
 * Only peers in trusted_proxies may send one: anyone else could claim any address.
 */
import { type Cidr, matchesAny } from "../net/cidr.ts";
import { parseProxyHeader } from "../net/proxy_protocol.ts";
import { concat } from "../net/bytes.ts";
import { connView } from "../net/conn_view.ts";
import type { Conn } from "../runtime/types.ts";

export interface ProxyInOptions {
  trusted: readonly Cidr[];
  /** The header must be complete within this many ms. */
  timeoutMs: number;
}

/** The connection with the addresses the header states, or why it must be closed. */
export async function receiveProxyHeader(
  conn: Conn,
  options: ProxyInOptions,
): Promise<Conn | { rejected: string }> {
  const peer = conn.remoteAddr;
  // A unix-socket peer is local: a sidecar balancer on the same host, trusted by the file's permissions.
  if (peer.transport === "tcp" && !matchesAny(options.trusted, peer.hostname)) {
    return { rejected: `PROXY protocol peer ${peer.hostname} is not in trusted_proxies` };
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), options.timeoutMs);
  });
  try {
    let received: Uint8Array = new Uint8Array(0);
    while (true) {
      const read = conn.read();
      read.catch(() => {});
      const chunk = await Promise.race([read, timeout]).catch(() => null);
      if (chunk === "timeout") return { rejected: `no complete PROXY header within ${options.timeoutMs} ms` };
      if (chunk === null) return { rejected: "closed or failed before a complete PROXY header" };
      // read() lends its chunk until the next read: keep a copy.
      received = received.length === 0 ? chunk.slice() : concat(received, chunk);
      const parsed = parseProxyHeader(received);
      if (parsed.state === "invalid") return { rejected: `malformed PROXY header: ${parsed.error}` };
      if (parsed.state === "done") {
        // No addresses (v1 UNKNOWN, v2 LOCAL/UNSPEC): the balancer speaking for itself.
        const { source, dest } = parsed.header;
        return connView(conn, {
          unread: parsed.rest,
          ...(source && { remoteAddr: source }),
          ...(dest && { localAddr: dest }),
        });
      }
    }
  } finally {
    clearTimeout(timer);
  }
}
