/**
 * EXCHANGE: pick a server, connect, write the rebuilt request head (with the start of a plain
 * request's body in the same write), read the upstream's answer, hand interim answers on, and
 * check the final one against the request (a 101 only for an upgrade, and a valid one).
 * A dial or TLS failure, or an upstream that closes before sending any byte, moves on to the
 * next untried server, up to the group's `retries`; once the upstream has sent a byte, never.
 * Every failed attempt counts toward that server's max_fails, except the gateway's own failures
 * (out of descriptors or memory: isOwnFailure), which end the exchange with a 503.
 * Plain HTTP on a group with `keepalive` first tries a kept connection to the chosen server (pool.ts);
 * if that one ends before any byte of an answer, the request goes once more on a new connection to
 * the same server when it is idempotent, and is not counted against the server; otherwise it fails.
 */
import { describeError, HeadParseError, NetError, UpstreamError } from "../errors.ts";
import { parseResponseHead, type ResponseHead } from "../http/head.ts";
import { dialUpstream } from "./dial.ts";
import { PoolableConn } from "./pool.ts";
import { concat, EMPTY } from "../net/bytes.ts";
import { connView } from "../net/conn_view.ts";
import { readHead } from "../http/read_head.ts";
import { encodeProxyHeader } from "../net/proxy_protocol.ts";
import { type Answer, checkFinalAnswer, type Expect, isInterim, skipInterim } from "./answer.ts";
import type { LimitsConfig } from "../config/schema.ts";
import type { PickContext } from "../balance/balancer.ts";
import type { Addr, Conn, Net } from "../runtime/types.ts";
import type { CancelSignal } from "../net/cancel.ts";
import type { Lease, NoServer, UpstreamGroup } from "./group.ts";

/** The upstream's final answer (head as received, to relay a 101 byte for byte) and the
 * connection and lease it came on. */
export interface UpstreamAnswer extends Answer {
  conn: Conn;
  lease: Lease;
}

export interface ExchangeOptions {
  limits: LimitsConfig;
  /** What the request asked for, to check a 101 against. */
  expect: Expect;
  /** Hands an interim (1xx) answer head to the client. */
  relayInterim(head: Uint8Array): Promise<void>;
  /** What the balancing policy may know about this request (client address, hash key). */
  pick: PickContext;
  /** The client connection's addresses, for the PROXY header of `send_proxy_protocol`. */
  addrs(): { source: Addr; dest: Addr };
  /** False when the request body is streamed after the head: then an upstream that closed
   * without answering may have consumed part of it, and the request cannot be replayed. */
  replayable: boolean;
  /** Runs once the request head is written, before the answer is awaited: a plain request's
   * body must stream now, since many servers read it all before they answer. */
  afterSend?(conn: Conn): void;
  /** Each failed attempt, for the error log. */
  onAttemptFailed(err: UpstreamError): void;
  /** Plain HTTP on a group with `keepalive`: a parked connection may carry it, and a fresh one
   * is made parkable (never for upgrades). */
  reuse?: boolean;
  /** The request may be sent twice (an idempotent method, whole in the first write): a reused
   * connection that fails before any byte of the answer is then retried once on a new one. */
  idempotent?: boolean;
  /** Aborted when the client gave up: the attempt in progress is closed and nothing is retried
   * (nor counted against the server); the promise rejects with the signal's reason. */
  signal?: CancelSignal;
}

/** The caller owns the returned lease and connection and must release and close them (the
 * connection record does, when it finishes); on a throw nothing is left to release. */
export async function exchangeWithUpstream(
  net: Net,
  group: UpstreamGroup,
  request: { head: Uint8Array; rest: Uint8Array },
  options: ExchangeOptions,
): Promise<UpstreamAnswer> {
  const first = await firstAnswer(net, group, request, options);
  const address = first.lease.server.config.address;
  try {
    // A 101 or a final answer first, as almost always: no interim loop to enter.
    const final = !isInterim(first.response.status) ? first : await skipInterim(first.conn, first, {
      limits: options.limits,
      address,
      relay: options.relayInterim,
    });
    checkFinalAnswer(final, options.expect, address);
    return final === first ? first : { ...final, conn: first.conn, lease: first.lease };
  } catch (err) {
    // The server answered: what it answered is not counted against it (as before an exchange).
    first.conn.close();
    first.lease.release();
    throw err;
  }
}

/** The attempts: each untried server in turn, until one sends the head of an answer. */
async function firstAnswer(
  net: Net,
  group: UpstreamGroup,
  request: { head: Uint8Array; rest: Uint8Array },
  options: ExchangeOptions,
): Promise<UpstreamAnswer> {
  const tried = new Set<string>();
  // The PROXY header goes first, in the same write as the request head.
  const version = group.config.send_proxy_protocol;
  const proxyHeader = version ? encodeProxyHeader(version, options.addrs()) : EMPTY;
  const bytes = concat(proxyHeader, concat(request.head, request.rest));
  let lastError: UpstreamError | undefined;
  for (let attempts = 0; attempts <= group.retries; attempts++) {
    options.signal?.throwIfAborted();
    const { lease, none } = group.acquire(tried, options.pick);
    if (!lease) throw noServer(none, group.config.name, lastError);
    tried.add(lease.server.address);
    try {
      return await attempt(net, group, lease, bytes, options);
    } catch (err) {
      if (options.signal?.aborted) {
        lease.release();
        throw options.signal.reason;
      }
      const failure = err instanceof UpstreamError
        ? err
        : new UpstreamError("response", lease.server.config.address, describeError(err), { cause: err });
      if (failure.own) {
        // Out of descriptors or memory: the server is not to blame (nor to be logged as failing),
        // and the next one would fail the same way. The client gets 503 + Retry-After.
        lease.release();
        throw failure;
      }
      lease.release({ failed: true });
      options.onAttemptFailed(failure);
      if (!failure.retryable) throw failure;
      lastError = failure;
    }
  }
  // Only reached after a failed attempt, so lastError is set.
  throw lastError!;
}

/** The error for a connection no server can take: 503 when they are full, else the last failure or 502. */
function noServer(why: NoServer, name: string, lastError: UpstreamError | undefined): Error {
  if (why === "full") {
    return new UpstreamError("pick", name, `every available server of upstream "${name}" is at max_conns`, {
      full: true,
    });
  }
  return lastError ??
    new UpstreamError(
      "connect",
      name,
      `no available server in upstream "${name}" (down, failing or unhealthy)`,
    );
}

async function attempt(
  net: Net,
  group: UpstreamGroup,
  lease: Lease,
  bytes: Uint8Array,
  options: ExchangeOptions,
): Promise<UpstreamAnswer> {
  const address = lease.server.config.address;
  const pool = options.reuse ? group.pool : undefined;
  const reused = pool?.take(address);
  if (reused) {
    try {
      return await exchangeOn(reused, address, lease, bytes, options);
    } catch (err) {
      // A kept connection the server closed meanwhile: the request never reached it, if no byte
      // of an answer came back; once more on a new connection, when sending it twice is safe.
      if (!(err instanceof UpstreamError && err.unanswered)) throw err;
      if (!options.idempotent) {
        // It may have been processed: never sent again, here or to another server.
        throw new UpstreamError(
          err.phase,
          address,
          `${err.message} (a kept connection; not retried: ${
            options.replayable ? "method not idempotent" : "body streamed"
          })`,
          { cause: err },
        );
      }
    }
  }
  // A client that leaves meanwhile (options.signal) is let go at once, not at connect_timeout.
  const fresh = await dialUpstream(net, lease.server.config, group.config, options);
  return await exchangeOn(pool ? new PoolableConn(fresh) : fresh, address, lease, bytes, options);
}

async function exchangeOn(
  conn: Conn,
  address: string,
  lease: Lease,
  bytes: Uint8Array,
  options: ExchangeOptions,
): Promise<UpstreamAnswer> {
  const abandon = () => conn.close();
  options.signal?.addEventListener("abort", abandon, { once: true });
  try {
    options.signal?.throwIfAborted();
    await conn.write(bytes).catch((err) => {
      throw new UpstreamError("send", address, `send failed: ${describeError(err)}`, {
        retryable: options.replayable,
        unanswered: true,
        cause: err,
      });
    });
    options.afterSend?.(conn);
    // Once a byte of the answer arrived, a retry could hand the client a second server's answer
    // glued to part of the first.
    let received = false;
    const watched = connView(conn, { onRead: (chunk) => received ||= chunk.length > 0 });
    const answer = await readHead(watched, {
      maxBytes: options.limits.max_head_bytes,
      maxLineBytes: options.limits.max_head_bytes,
      timeoutMs: options.limits.handshake_timeout,
    }).catch((err) => {
      if (err instanceof NetError && err.code === "ETIMEDOUT") {
        throw new UpstreamError("response", address, "no response in time", { timedOut: true, cause: err });
      }
      const closedEarly = err instanceof NetError && (err.code === "ECONNRESET" || err.code === "EPIPE");
      throw new UpstreamError("response", address, `bad response: ${describeError(err)}`, {
        retryable: closedEarly && !received && options.replayable,
        unanswered: closedEarly && !received,
        cause: err,
      });
    });
    if (answer === null) {
      throw new UpstreamError("response", address, "closed the connection without answering", {
        retryable: options.replayable,
        unanswered: true,
      });
    }
    let response: ResponseHead;
    try {
      response = parseResponseHead(answer.head, { maxHeaders: options.limits.max_headers });
    } catch (err) {
      const reason = err instanceof HeadParseError ? err.message : describeError(err);
      throw new UpstreamError("response", address, `malformed response head: ${reason}`, { cause: err });
    }
    return { conn, lease, response, head: answer.head, rest: answer.rest };
  } catch (err) {
    conn.close();
    throw err;
  } finally {
    options.signal?.removeEventListener("abort", abandon);
  }
}
