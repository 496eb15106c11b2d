/**
 * ANSWER: the upstream's final answer to a reissued request. 1xx interim answers (100 Continue,
 * 103 Early Hints) are handed on to the client, a bounded number of them, and the final answer
 * read after them; a 101 is checked against the request (RFC 6455 §4.2.2) before anyone relays it.
 */
import { NetError, UpstreamError } from "../errors.ts";
import { parseResponseHead, type ResponseHead, serializeResponseHead } from "../http/head.ts";
import { checkUpgradeResponse } from "../http/upgrade.ts";
import { concat } from "../net/bytes.ts";
import { findHeadEnd, readHead } from "../http/read_head.ts";
import type { LimitsConfig } from "../config/schema.ts";
import type { Conn } from "../runtime/types.ts";

export interface Answer {
  response: ResponseHead;
  /** The head as received. */
  head: Uint8Array;
  /** Bytes after the head. */
  rest: Uint8Array;
}

/** A 1xx other than 101: the final answer is still to come. */
export function isInterim(status: number): boolean {
  return status >= 100 && status < 200 && status !== 101;
}

/**
 * Interim answers relayed before the final one at most (a 100 Continue and a few 103 Early Hints
 * are all a real exchange has); together they may not exceed max_head_bytes either. Without a
 * bound a backend could stream 1xx heads at a client for as long as it likes.
 */
export const MAX_INTERIM_ANSWERS = 16;

/** Hands 1xx answers other than 101 to `relay` (the client); returns the final answer. */
export async function skipInterim(
  upstream: Conn,
  first: Answer,
  options: { limits: LimitsConfig; address: string; relay(head: Uint8Array): Promise<void> },
): Promise<Answer> {
  let answer = first;
  let count = 0;
  let bytes = 0;
  while (isInterim(answer.response.status)) {
    count++;
    bytes += answer.head.length;
    if (count > MAX_INTERIM_ANSWERS || bytes > options.limits.max_head_bytes) {
      throw new UpstreamError(
        "response",
        options.address,
        `too many interim responses (${count}, ${bytes} bytes of heads)`,
      );
    }
    await options.relay(serializeResponseHead({ ...answer.response, version: "HTTP/1.1" }));
    answer = await nextAnswer(upstream, answer.rest, options);
  }
  return answer;
}

async function nextAnswer(
  conn: Conn,
  buffered: Uint8Array,
  options: { limits: LimitsConfig; address: string },
) {
  const parse = (head: Uint8Array) => {
    try {
      return parseResponseHead(head, { maxHeaders: options.limits.max_headers });
    } catch (err) {
      throw new UpstreamError(
        "response",
        options.address,
        `malformed response head: ${(err as Error).message}`,
      );
    }
  };
  const end = findHeadEnd(buffered, 0);
  if (end !== -1) {
    const head = buffered.slice(0, end);
    return { response: parse(head), head, rest: buffered.slice(end) };
  }
  const more = await readHead(conn, {
    maxBytes: options.limits.max_head_bytes,
    maxLineBytes: options.limits.max_head_bytes,
    timeoutMs: options.limits.handshake_timeout,
  }).catch((err) => {
    const timedOut = err instanceof NetError && err.code === "ETIMEDOUT";
    throw new UpstreamError("response", options.address, `no final response: ${(err as Error).message}`, {
      timedOut,
    });
  });
  if (!more) throw new UpstreamError("response", options.address, "closed after an interim response");
  const head = concat(buffered, more.head);
  return { response: parse(head), head, rest: more.rest };
}

/** What the request asked for: a WebSocket upgrade (with the client's key and offered subprotocols), or plain HTTP. */
export type Expect = { upgrade: { key: string; offeredProtocols: string[] } } | { upgrade?: undefined };

/** Throws UpstreamError("upgrade") when a 101 does not answer the request (a 502 for the client). */
export function checkFinalAnswer(answer: Answer, expect: Expect, address: string): void {
  if (answer.response.status !== 101) return;
  if (!expect.upgrade) throw new UpstreamError("upgrade", address, "101 to a request without Upgrade");
  const problem = checkUpgradeResponse(answer.response, expect.upgrade);
  if (problem) throw new UpstreamError("upgrade", address, `invalid 101: ${problem}`);
}
