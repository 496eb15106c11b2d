/**
 * A small HTTP/1.1 GET over the runtime's Net (http://, https:// with extra CAs, unix:), for the
 * auth service and JWKS URLs: one request per connection (`Connection: close`), the answer's
 * head and body bounded in size, everything within one deadline. A peer that answers huge, slow
 * or never-ending bodies costs at most maxBody bytes and `timeoutMs`.
 */
import { describeError, HeadParseError, NetError } from "../../errors.ts";
import { parseResponseHead, serializeRequestHead } from "../../http/head.ts";
import type { Header } from "../../http/headers.ts";
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

export async function httpGet(net: Net, request: HttpGetRequest): Promise<HttpAnswer> {
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
    return await ask(conn, request);
  })();
  try {
    return await Promise.race([exchange, deadline]);
  } finally {
    clearTimeout(timer);
    exchange.catch(() => {});
    conn?.close();
  }
}

async function ask(conn: Conn, request: HttpGetRequest): Promise<HttpAnswer> {
  const head = serializeRequestHead({
    method: "GET",
    target: request.target,
    version: "HTTP/1.1",
    headers: [{ name: "Host", value: request.host }, ...request.headers, {
      name: "Connection",
      value: "close",
    }],
  });
  const answer = await readAnswer(conn, head, request).catch((err) => {
    if (err instanceof HttpGetError) throw err;
    if (err instanceof NetError && err.code === "ETIMEDOUT") throw new HttpGetError("timeout", err.message);
    // The parser quotes the offending line; what a peer wrote is not for the log.
    if (err instanceof HeadParseError) {
      throw new HttpGetError("bad_answer", "malformed answer (not strict HTTP/1.1)");
    }
    throw new HttpGetError("bad_answer", describeError(err));
  });
  if (answer === null) throw new HttpGetError("bad_answer", "closed without an answer");
  return answer;
}

async function readAnswer(conn: Conn, head: Uint8Array, request: HttpGetRequest): Promise<HttpAnswer | null> {
  await conn.write(head);
  const read = await readHead(conn, {
    maxBytes: request.maxHeadBytes,
    maxLineBytes: request.maxHeadBytes,
    timeoutMs: request.timeoutMs,
  });
  if (read === null) return null;
  const response = parseResponseHead(read.head);
  if (response.status < 200) throw new HttpGetError("bad_answer", `unexpected ${response.status} answer`);
  const cutter = new BodyCutter(responseBodyFraming(response, "GET"));
  const parts: Uint8Array[] = [];
  let size = 0;
  for (let chunk: Uint8Array | null = read.rest; !cutter.done; chunk = await conn.read()) {
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
  }
  const raw = joinParts(parts, size);
  const body = cutter.framing.kind === "chunked" ? dechunk(raw) : raw;
  return { status: response.status, reason: response.reason, headers: response.headers, body };
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
