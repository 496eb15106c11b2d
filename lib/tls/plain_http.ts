/**
 * Plain HTTP sent to a TLS port (pure): how each TLS library reports it, what the client is told
 * and what the gateway logs. nginx peeks at the first byte before it starts TLS and answers
 * "400 The plain HTTP request was sent to HTTPS port"; wsgate answers the same where its TLS library
 * stops without an alert (BoringSSL, on Bun), and logs the same refusal on both runtimes
 * (docs/runtime.md §2.3, §3.2).
 */
import { HttpError } from "../errors.ts";
import { errorResponse } from "../http/responses.ts";

/** What a plain HTTP client reads on a TLS port before the connection closes. */
export const PLAIN_HTTP_ANSWER = errorResponse(
  400,
  [],
  "400 Bad Request: the plain HTTP request was sent to an HTTPS port (use https:// or wss://)\n",
);

/** BoringSSL's errors for a first record that starts with "GET ", "POST ", "HEAD ", "PUT " or
 * "CONNECT": it stops there without sending an alert, so the socket is still clean for a plain answer.
 * Bun.listen names it only in the message ("...:OPENSSL_internal:HTTP_REQUEST"), node:tls in `code`. */
const BORINGSSL_PLAIN_HTTP = /:OPENSSL_internal:HTTPS?_(?:PROXY_)?REQUEST$/;
const NODE_PLAIN_HTTP_CODES: ReadonlySet<unknown> = new Set([
  "ERR_SSL_HTTP_REQUEST",
  "ERR_SSL_HTTPS_PROXY_REQUEST",
]);

/** Whether a failed server-side TLS handshake (BoringSSL) was a plain HTTP request. */
export function isPlainHttpHandshakeError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return NODE_PLAIN_HTTP_CODES.has((err as { code?: unknown }).code) ||
    BORINGSSL_PLAIN_HTTP.test(err.message);
}

/** rustls (Deno) on a first record whose type byte is no TLS record type: plain HTTP, or any
 * other protocol. It has already sent a decode_error alert and closed by the time anyone hears. */
const RUSTLS_NOT_TLS = /\bInvalidContentType\b/;

/** Whether a failed server-side TLS handshake (rustls) was not TLS at all. */
export function isNotTlsHandshakeError(err: unknown): boolean {
  return err instanceof Error && RUSTLS_NOT_TLS.test(err.message);
}

/** The refusal logged for a plain HTTP client that was answered PLAIN_HTTP_ANSWER. */
export function plainHttpRefusal(): HttpError {
  return new HttpError(400, "plain HTTP request on a TLS port");
}

/** The refusal logged where the TLS library answered a plain (non-TLS) client with an alert. */
export function notTlsRefusal(): HttpError {
  return new HttpError(400, "not TLS on a TLS port (plain HTTP?): the TLS library answered with an alert");
}
