/**
 * A small HTTP/1.1 GET over the runtime's Net (http://, https:// with extra CAs, unix:), for the
 * auth service and JWKS URLs: the answer's head and body bounded in size, everything within one
 * deadline. A peer that answers huge, slow or never-ending bodies costs at most maxBody bytes and
 * `timeoutMs`. Without a pool, one request per connection (`Connection: close`); with one, a
 * connection whose answer had an exact Content-Length is kept for the next request, and a kept
 * connection the peer closed meanwhile is replaced by a new one (a GET may be sent again).
 */
import { describeError, HeadParseError, NetError } from "../../errors.ts";
import { parseResponseHead, serializeRequestHead } from "../../http/head.ts";
import { hasToken, type Header } from "../../http/headers.ts";
import { responseBodyFraming } from "../../http/chunked.ts";
import { readHead } from "../../http/read_head.ts";
import { BodyCutter } from "../../passthrough/body.ts";
import type { Addr, Conn, Net, TlsClientOptions } from "../../runtime/types.ts";

export interface HttpGetRequest {
  addr: Addr;
  tls?: TlsClientOptions;
  /** The Host header. */
  host: string;
  target: string;
  headers: readonly Header[];
  timeoutMs: number;
  maxHeadBytes: number;
  /** A longer body is an error ("too_big"). */
  maxBodyBytes: number;
}

export interface HttpAnswer {
  status: number;
  reason: string;
  headers: Header[];
  body: Uint8Array;
}

/** unreachable: no connection (or TLS failed); timeout: no whole answer in time; bad_answer:
 * not HTTP, cut short, or over the size limits. */
export type HttpGetFailure = "unreachable" | "timeout" | "bad_answer";

export class HttpGetError extends Error {
  constructor(readonly kind: HttpGetFailure, message: string) {
    super(message);
    this.name = "HttpGetError";
  }
}

/** Connections kept between requests to one service, each closed after IDLE_MS unused. */
export class IdleConnections {
  static readonly IDLE_MS = 4_000;
  static readonly MAX = 16;
  readonly #idle: { conn: Conn; timer: ReturnType<typeof setTimeout> }[] = [];

  take(): Conn | undefined {
    const entry = this.#idle.pop();
    if (!entry) return undefined;
    clearTimeout(entry.timer);
    return entry.conn;
  }

  give(conn: Conn): void {
    if (this.#idle.length >= IdleConnections.MAX) return conn.close();
    const entry = {
      conn,
      timer: setTimeout(() => {
        this.#idle.splice(this.#idle.indexOf(entry), 1);
        conn.close();
      }, IdleConnections.IDLE_MS),
    };
    this.#idle.push(entry);
  }
}

/** A kept connection the peer had closed: nothing of the answer came, send the GET again. */
class StaleConnection extends Error {}

export async function httpGet(
  net: Net,
  request: HttpGetRequest,
  pool?: IdleConnections,
): Promise<HttpAnswer> {
  const controller = new AbortController();
  let conn: Conn | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      conn?.close();
      reject(new HttpGetError("timeout", `no answer within ${request.timeoutMs} ms`));
    }, request.timeoutMs);
  });
  const exchange = (async () => {
    conn = pool?.take();
    if (conn) {
      try {
        return await ask(conn, request, { keepAlive: true, reused: true });
      } catch (err) {
        if (!(err instanceof StaleConnection)) throw err;
        conn.close();
      }
    }
    try {
      conn = await net.connect({
        addr: request.addr,
        signal: controller.signal,
        ...(request.tls ? { tls: request.tls } : {}),
      });
    } catch (err) {
      throw new HttpGetError("unreachable", `cannot connect: ${describeError(err)}`);
    }
    if (controller.signal.aborted) conn.close();
    return await ask(conn, request, { keepAlive: pool !== undefined, reused: false });
  })();
  try {
    const { answer, reusable } = await Promise.race([exchange, deadline]);
    if (reusable && pool && conn) {
      pool.give(conn);
      conn = undefined;
    }
    return answer;
  } finally {
    clearTimeout(timer);
    exchange.catch(() => {});
    conn?.close();
  }
}

async function ask(
  conn: Conn,
  request: HttpGetRequest,
  options: { keepAlive: boolean; reused: boolean },
): Promise<{ answer: HttpAnswer; reusable: boolean }> {
  const head = serializeRequestHead({
    method: "GET",
    target: request.target,
    version: "HTTP/1.1",
    headers: [
      { name: "Host", value: request.host },
      ...request.headers,
      ...(options.keepAlive ? [] : [{ name: "Connection", value: "close" }]),
    ],
  });
  const answer = await readAnswer(conn, head, request).catch((err) => {
    if (err instanceof HttpGetError) throw err;
    if (options.reused && err instanceof NetError && (err.code === "ECONNRESET" || err.code === "EPIPE")) {
      throw new StaleConnection();
    }
    if (err instanceof NetError && err.code === "ETIMEDOUT") throw new HttpGetError("timeout", err.message);
    // The parser quotes the offending line; what a peer wrote is not for the log.
    if (err instanceof HeadParseError) {
      throw new HttpGetError("bad_answer", "malformed answer (not strict HTTP/1.1)");
    }
    throw new HttpGetError("bad_answer", describeError(err));
  });
  // A 408 on a kept connection is the peer giving up on it while idle, not an answer (Go's
  // transport reads it the same way).
  if (answer === null || (options.reused && answer.answer.status === 408)) {
    if (options.reused) throw new StaleConnection();
    throw new HttpGetError("bad_answer", "closed without an answer");
  }
  return { answer: answer.answer, reusable: options.keepAlive && answer.reusable };
}

async function readAnswer(
  conn: Conn,
  head: Uint8Array,
  request: HttpGetRequest,
): Promise<{ answer: HttpAnswer; reusable: boolean } | null> {
  await conn.write(head);
  const read = await readHead(conn, {
    maxBytes: request.maxHeadBytes,
    maxLineBytes: request.maxHeadBytes,
    timeoutMs: request.timeoutMs,
  });
  if (read === null) return null;
  const response = parseResponseHead(read.head);
  if (response.status < 200) throw new HttpGetError("bad_answer", `unexpected ${response.status} answer`);
  const framing = responseBodyFraming(response, "GET");
  const cutter = new BodyCutter(framing);
  const parts: Uint8Array[] = [];
  let size = 0;
  let received = read.rest.length;
  let chunk: Uint8Array | null = read.rest;
  while (!cutter.done) {
    if (chunk === null) {
      if (cutter.framing.kind === "close") break;
      throw new HttpGetError("bad_answer", "closed in the middle of the body");
    }
    const body = cutter.cut(chunk);
    size += body.length;
    if (size > request.maxBodyBytes) {
      throw new HttpGetError("bad_answer", `body over ${request.maxBodyBytes} bytes`);
    }
    if (body.length > 0) parts.push(body.slice());
    // Not read once the body is complete: a kept connection has nothing more to say.
    if (!cutter.done) {
      chunk = await conn.read();
      received += chunk?.length ?? 0;
    }
  }
  const raw = joinParts(parts, size);
  const body = cutter.framing.kind === "chunked" ? dechunk(raw) : raw;
  // Kept only when the answer ended exactly where its Content-Length said and nothing followed.
  const exact = framing.kind === "length"
    ? received === framing.length
    : framing.kind === "none" && received === 0;
  const reusable = exact && response.version === "HTTP/1.1" &&
    !hasToken(response.headers, "connection", "close");
  return {
    answer: { status: response.status, reason: response.reason, headers: response.headers, body },
    reusable,
  };
}

/** The data of a chunked body that ChunkedScanner already found well-formed and complete. */
export function dechunk(raw: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let size = 0;
  let at = 0;
  while (at < raw.length) {
    const lineEnd = raw.indexOf(0x0a, at);
    const line = new TextDecoder().decode(raw.subarray(at, lineEnd));
    const length = parseInt(line, 16);
    if (!(length > 0)) break;
    parts.push(raw.subarray(lineEnd + 1, lineEnd + 1 + length));
    size += length;
    at = lineEnd + 1 + length + 2;
  }
  return joinParts(parts, size);
}

function joinParts(parts: Uint8Array[], size: number): Uint8Array {
  const body = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    body.set(part, at);
    at += part.length;
  }
  return body;
}
