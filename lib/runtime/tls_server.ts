/**
 * What every TLS listener has in common, whichever runtime and library serves it.
 *
 * One policy: TLS 1.3, or TLS 1.2 with ECDHE key exchange (forward secrecy) and an AEAD cipher.
 * That is what Deno (rustls) allows anyway; Bun's BoringSSL would also accept RSA key exchange and
 * CBC suites (AES128-SHA, AES256-SHA, AES128-GCM-SHA256...), so the Bun listeners pass these
 * options. The list only names TLS 1.2 suites (TLS 1.3 suites are all AEAD and not configurable),
 * so nothing older than TLS 1.2 can be agreed either, whatever the library's minimum.
 */
import { NetError } from "../errors.ts";

export const TLS_POLICY = {
  minVersion: "TLSv1.2",
  ciphers: [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
  ].join(":"),
} as const;

/**
 * What write() rejects with on an accepted TLS connection whose handshake is not done. Listeners
 * hand out connections at the TCP accept, so that handshake_timeout covers the handshake too;
 * nothing can be answered to a client that has not completed it, and waiting for it would keep
 * the connection (and its slot) for as long as the client likes.
 */
export function tlsNotReady(): NetError {
  return new NetError("TLS", "TLS handshake not complete: nothing can be sent");
}
