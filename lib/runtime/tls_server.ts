/**
 * What every TLS listener has in common, whichever runtime and library serves it.
 */
import { NetError } from "../errors.ts";

/**
 * What write() rejects with on an accepted TLS connection whose handshake is not done. Listeners
 * hand out connections at the TCP accept, so that handshake_timeout covers the handshake too;
 * nothing can be answered to a client that has not completed it, and waiting for it would keep
 * the connection (and its slot) for as long as the client likes.
 */
export function tlsNotReady(): NetError {
  return new NetError("TLS", "TLS handshake not complete: nothing can be sent");
}
