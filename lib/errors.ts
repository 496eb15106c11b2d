/**
 * Error types whose fields decide what happens next: the status a client gets, whether the
 * next upstream server may be tried. `toStatus()` is the one place that maps errors to HTTP.
 */

/** A request we refuse before proxying: the status and the reason for the log line. */
export class HttpError extends Error {
  readonly status: number;
  /** Extra response headers, e.g. `Sec-WebSocket-Version: 13` on a 426. */
  readonly headers: [string, string][];
  /** The whole answer, when it is not wsgate's own (an auth service's denial, relayed). */
  readonly response: Uint8Array | undefined;
  constructor(
    status: number,
    message: string,
    options: { headers?: [string, string][]; response?: Uint8Array; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "HttpError";
    this.status = status;
    this.headers = options.headers ?? [];
    this.response = options.response;
  }
}

/** A head that is not valid HTTP/1.1. `status` is 400, or 414/431 for size limits. */
export class HeadParseError extends SyntaxError {
  readonly status: number;
  constructor(message: string, status = 400) {
    super(message);
    this.name = "HeadParseError";
    this.status = status;
  }
}

/** Socket-level failure, mapped from the runtime's own error types by the adapter. */
export type NetErrorCode =
  | "ECONNREFUSED"
  | "ENOENT"
  | "ECONNRESET"
  | "EPIPE"
  | "ETIMEDOUT"
  | "EADDRINUSE"
  | "EACCES"
  | "EMFILE"
  | "ENFILE"
  | "ENOMEM"
  | "ENOBUFS"
  | "TLS"
  | "EOTHER";

/** The gateway's own resources ran out (descriptors, memory): not the peer's fault. */
const OWN_FAILURES: ReadonlySet<NetErrorCode> = new Set(["EMFILE", "ENFILE", "ENOMEM", "ENOBUFS"]);

export class NetError extends Error {
  readonly code: NetErrorCode;
  constructor(code: NetErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = "NetError";
    this.code = code;
  }
}

/**
 * A failure that is the gateway's own, whoever it happened to be talking to: out of file
 * descriptors (EMFILE, ENFILE) or memory (ENOMEM, ENOBUFS, or V8 failing to allocate a buffer).
 * Counted against a server, it would take healthy backends out of rotation (each retry failing
 * the same way) until fail_timeout passed, long after the gateway recovered.
 */
export function isOwnFailure(err: unknown): boolean {
  if (err instanceof NetError) return OWN_FAILURES.has(err.code);
  if (err instanceof UpstreamError) return err.own;
  return err instanceof RangeError && /allocation failed/i.test(err.message);
}

/** Where an upstream attempt failed; `retryable` = nothing reached the client yet and the
 * request may be replayed on another server. */
export type UpstreamPhase = "pick" | "connect" | "tls" | "send" | "response" | "upgrade";

export class UpstreamError extends Error {
  readonly phase: UpstreamPhase;
  readonly upstream: string;
  readonly timedOut: boolean;
  readonly retryable: boolean;
  /** No server could take the connection because every available one is at max_conns. */
  readonly full: boolean;
  /** Caused by the gateway's own failure (isOwnFailure): never counted against the server, never
   * retried on another (it would fail the same way), answered 503 + Retry-After. */
  readonly own: boolean;
  /** The connection ended before any byte of an answer came back (the request may not have
   * reached the server). */
  readonly unanswered: boolean;
  constructor(
    phase: UpstreamPhase,
    upstream: string,
    message: string,
    options: {
      timedOut?: boolean;
      retryable?: boolean;
      full?: boolean;
      unanswered?: boolean;
      cause?: unknown;
    } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "UpstreamError";
    this.phase = phase;
    this.upstream = upstream;
    this.own = isOwnFailure(options.cause);
    this.timedOut = options.timedOut ?? false;
    this.retryable = !this.own && (options.retryable ?? false);
    this.full = options.full ?? false;
    this.unanswered = options.unanswered ?? false;
  }
}

/**
 * The one place that decides the status a client gets (or, for 499, is logged as getting) for an
 * error raised before the tunnel is established.
 */
export function toStatus(err: unknown): number {
  if (err instanceof HttpError || err instanceof HeadParseError) return err.status;
  // Out of descriptors or memory: the gateway is busy, not broken, and will recover.
  if (isOwnFailure(err)) return 503;
  if (err instanceof UpstreamError) return err.full ? 503 : err.timedOut ? 504 : 502;
  // The client's own socket failed (reset, broken pipe): nobody to answer; nginx logs 499.
  if (err instanceof NetError) return 499;
  return 500;
}

/** Headers that go with the answer to `err` (Retry-After for a limit, a full group or a busy
 * gateway, the 426 hints). */
export function answerHeaders(err: unknown): readonly [string, string][] {
  if (err instanceof HttpError) return err.headers;
  if ((err instanceof UpstreamError && err.full) || isOwnFailure(err)) return [["Retry-After", "1"]];
  return [];
}

/** A short one-line description of any thrown value, for log lines. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    // Runtimes often repeat the cause's text in the message already.
    const detail = err.cause instanceof Error ? err.cause.message : "";
    const cause = detail && !err.message.includes(detail) ? `: ${detail}` : "";
    return `${err.message}${cause}`;
  }
  return String(err);
}
