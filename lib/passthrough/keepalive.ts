/**
 * Client keep-alive decisions (pure): whether a plain HTTP answer may leave the client connection
 * open for the next request. It may only when both ends agree to persistence (RFC 9112 §9.3) and
 * the answer has exact framing: an answer delimited by closing the connection (and one whose
 * framing wsgate did not check) ends it, so no byte of one answer can be read as the next one's.
 */
import { hasToken } from "../http/headers.ts";
import type { BodyFraming } from "../http/chunked.ts";
import type { RequestHead, ResponseHead } from "../http/head.ts";

export interface KeepAliveState {
  /** keepalive_timeout of the server: 0 = one request per connection. */
  timeoutMs: number;
  /** max_requests_per_connection. */
  maxRequests: number;
  /** Requests answered on this connection before the current one. */
  served: number;
  /** The gateway stops taking requests on it (reload, drain). */
  retired: boolean;
}

/** The client allows another request after this one: HTTP/1.1 without `Connection: close`. HTTP/1.0
 * clients get one request per connection (their keep-alive extension is not offered). */
export function clientAllowsReuse(request: RequestHead): boolean {
  return request.version === "HTTP/1.1" && !hasToken(request.headers, "connection", "close");
}

/** Decided before the answer's head goes out: false = it says `Connection: close` and the
 * connection ends after it. */
export function keepClientAlive(request: RequestHead, answer: BodyFraming, state: KeepAliveState): boolean {
  return state.timeoutMs > 0 &&
    !state.retired &&
    state.served + 1 < state.maxRequests &&
    answer.kind !== "close" &&
    clientAllowsReuse(request);
}

/** The backend lets its connection be reused after this answer: HTTP/1.1 without
 * `Connection: close` (the framing was checked while relaying). */
export function reusableUpstream(response: ResponseHead): boolean {
  return response.version === "HTTP/1.1" && !hasToken(response.headers, "connection", "close");
}

/** RFC 9110 §9.2.2: a request that may be sent twice with the effect of once. */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method);
}
