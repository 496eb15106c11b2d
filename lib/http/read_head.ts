/**
 * READ HEAD: read from a connection until the blank line that ends an HTTP head, within a
 * size and a time limit. Whatever arrived after the head is returned as `rest`, so no byte
 * the peer sent is ever lost.
 */
import { HeadParseError, NetError } from "../errors.ts";
import type { Conn } from "../runtime/types.ts";
import { EMPTY, transientCopy } from "../net/bytes.ts";
import { type Deadline, deadlines } from "../net/deadlines.ts";

export interface ReadHeadOptions {
  /** The whole head may not exceed this many bytes (431). */
  maxBytes: number;
  /** The first line may not exceed this many bytes (414 on requests). */
  maxLineBytes: number;
  /** Milliseconds for the whole head; then NetError("ETIMEDOUT"). */
  timeoutMs: number;
}

export interface ReadHead {
  /** The head up to and including its terminating blank line: a copy to parse or write, then drop
   * (transientBytes: not to keep for long). */
  head: Uint8Array;
  /** Bytes read past the head (copied, safe to keep). */
  rest: Uint8Array;
}

const LF = 10;
const CR = 13;

/**
 * Offset just past the blank line ending a head, or -1. Bare-LF endings ("\n\n", "\r\n\n")
 * also end it, so the strict parser can reject them at once instead of waiting for a CRLF
 * that never comes.
 */
export function findHeadEnd(bytes: Uint8Array, from: number): number {
  for (let i = bytes.indexOf(LF, from); i !== -1; i = bytes.indexOf(LF, i + 1)) {
    if (bytes[i + 1] === LF) return i + 2;
    if (bytes[i + 1] === CR && bytes[i + 2] === LF) return i + 3;
  }
  return -1;
}

/** Returns null when the peer closed before sending anything. One async function, not two: this
 * runs twice per handshake (the client's head, the upstream's answer). */
export async function readHead(conn: Conn, options: ReadHeadOptions): Promise<ReadHead | null> {
  let deadline: Deadline | undefined;
  const timeout = new Promise<never>((_, reject) => {
    deadline = deadlines.add(
      options.timeoutMs,
      () => reject(new NetError("ETIMEDOUT", "head not complete in time")),
    );
  });
  let buffer = EMPTY;
  let length = 0;
  try {
    while (true) {
      const read = conn.read();
      // If the timeout wins, this read settles later, when the caller closes the connection.
      read.catch(() => {});
      const chunk = await Promise.race([read, timeout]);
      if (chunk === null) {
        if (length === 0) return null;
        throw new HeadParseError("connection closed before the head was complete");
      }
      if (length === 0 && buffer.length === 0) {
        // Fast path: the whole head in the first chunk, as almost always.
        const end = findHeadEnd(chunk, 0);
        if (end !== -1 && end <= options.maxBytes) {
          return { head: transientCopy(chunk, end), rest: rest(chunk, end, chunk.length) };
        }
      }
      if (length + chunk.length > buffer.length) {
        const grown = new Uint8Array(Math.max(buffer.length * 2, length + chunk.length, 4096));
        grown.set(buffer.subarray(0, length));
        buffer = grown;
      }
      const scanFrom = Math.max(0, length - 2);
      buffer.set(chunk, length);
      length += chunk.length;
      const end = findHeadEnd(buffer.subarray(0, length), scanFrom);
      if (end !== -1) {
        if (end > options.maxBytes) throw tooLarge(buffer.subarray(0, length), options);
        return { head: transientCopy(buffer, end), rest: rest(buffer, end, length) };
      }
      if (length > options.maxBytes) throw tooLarge(buffer.subarray(0, length), options);
      const firstLf = buffer.subarray(0, length).indexOf(LF);
      if (firstLf === -1 && length > options.maxLineBytes) {
        throw new HeadParseError("request line too long", 414);
      }
    }
  } finally {
    deadlines.cancel(deadline);
  }
}

/** A copy of what came after the head: nothing, in a handshake, whose client waits for the 101. */
function rest(bytes: Uint8Array, from: number, to: number): Uint8Array {
  return from === to ? EMPTY : bytes.slice(from, to);
}

function tooLarge(bytes: Uint8Array, options: ReadHeadOptions): HeadParseError {
  const firstLf = bytes.indexOf(LF);
  if (firstLf === -1 || firstLf > options.maxLineBytes) {
    return new HeadParseError("request line too long", 414);
  }
  return new HeadParseError(`head larger than ${options.maxBytes} bytes`, 431);
}
