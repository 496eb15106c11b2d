/**
 * Message body framing (RFC 9112 §6.3) and an incremental scanner that finds where a chunked
 * body ends. A relayed body is forwarded byte for byte; wsgate only needs to know where it stops,
 * and must stop exactly where a strict peer would, or the next bytes could be read as a new
 * message (request smuggling).
 */
import { HeadParseError } from "../errors.ts";
import type { Header, RequestHead, ResponseHead } from "./head.ts";
import { getHeader } from "./headers.ts";

export type BodyFraming =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  | { kind: "close" };

/** none | length | chunked; relies on parseRequestHead having rejected conflicting framing. */
export function requestBodyFraming(head: RequestHead): BodyFraming {
  return declaredFraming(head.headers) ?? { kind: "none" };
}

/** A response to HEAD, a 1xx, 204 or 304 has no body whatever it declares; no declaration = until close. */
export function responseBodyFraming(head: ResponseHead, requestMethod: string): BodyFraming {
  if (requestMethod === "HEAD" || head.status < 200 || head.status === 204 || head.status === 304) {
    return { kind: "none" };
  }
  return declaredFraming(head.headers) ?? { kind: "close" };
}

function declaredFraming(headers: Header[]): BodyFraming | undefined {
  if (getHeader(headers, "transfer-encoding") !== undefined) return { kind: "chunked" };
  const length = getHeader(headers, "content-length");
  return length === undefined ? undefined : { kind: "length", length: Number(length) };
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const SEMICOLON = 0x3b;

// Scanner states, in the order the grammar visits them:
// chunk = chunk-size [ BWS ";" chunk-ext ] CRLF chunk-data CRLF; last-chunk; trailer-section; CRLF
const SIZE_START = 0; // expecting the first hex digit of a chunk-size
const SIZE = 1; // more hex digits, BWS, ";" or CR
const BWS = 2; // whitespace after the size: only ";" may follow
const EXTENSION = 3; // chunk-ext up to CR
const SIZE_LF = 4; // LF ending the size line
const DATA = 5; // chunk-data, skipped without looking
const DATA_CR = 6; // CRLF after chunk-data
const DATA_LF = 7;
const LINE_START = 8; // after the last chunk: a trailer field or the final CRLF
const TRAILER = 9; // inside a trailer field line
const TRAILER_LF = 10;
const FINAL_LF = 11;
const DONE = 12;

/** Incremental scanner that finds where a chunked body (incl. trailers and the final CRLF) ends, without copying. */
export class ChunkedScanner {
  #state = SIZE_START;
  /** The chunk-size being read, then the chunk-data bytes still to skip. */
  #size = 0;

  /**
   * Feed the next bytes; returns -1 if the body has not ended yet, else the offset in `chunk` just
   * past its end (0 for any push after the end). Throws HeadParseError on malformed framing.
   */
  push(chunk: Uint8Array): number {
    if (this.#state === DONE) return 0;
    let i = 0;
    while (i < chunk.length) {
      if (this.#state === DATA) {
        const skip = Math.min(this.#size, chunk.length - i);
        i += skip;
        this.#size -= skip;
        if (this.#size === 0) this.#state = DATA_CR;
        continue;
      }
      this.#state = this.#next(this.#state, chunk[i++] ?? 0);
      if (this.#state === DONE) return i;
    }
    return -1;
  }

  #next(state: number, byte: number): number {
    switch (state) {
      case SIZE_START:
      case SIZE: {
        const digit = hexValue(byte);
        if (digit !== -1) {
          this.#size = state === SIZE_START ? digit : this.#size * 16 + digit;
          // Past 2^53 - 1 sizes stop being exact, and no real body gets near it.
          if (this.#size > Number.MAX_SAFE_INTEGER) fail("chunk-size too large (>= 2^53)");
          return SIZE;
        }
        if (state === SIZE_START) fail(`expected a hex digit in chunk-size, got ${describe(byte)}`);
        if (byte === CR) return SIZE_LF;
        if (byte === SEMICOLON) return EXTENSION;
        if (byte === SP || byte === HTAB) return BWS;
        return fail(`invalid ${describe(byte)} after chunk-size`);
      }
      case BWS:
        if (byte === SP || byte === HTAB) return BWS;
        if (byte === SEMICOLON) return EXTENSION;
        return fail(`expected ";" after whitespace in chunk-size line, got ${describe(byte)}`);
      case EXTENSION:
        if (byte === CR) return SIZE_LF;
        if (byte === LF) fail("bare LF in chunk extension");
        if (isControl(byte)) fail(`${describe(byte)} in chunk extension`);
        return EXTENSION;
      case SIZE_LF:
        if (byte !== LF) fail(`bare CR in chunk-size line, followed by ${describe(byte)}`);
        return this.#size === 0 ? LINE_START : DATA;
      case DATA_CR:
        if (byte !== CR) fail(`expected CRLF after chunk-data, got ${describe(byte)}`);
        return DATA_LF;
      case DATA_LF:
        if (byte !== LF) fail(`expected LF after chunk-data CR, got ${describe(byte)}`);
        return SIZE_START;
      case LINE_START:
        if (byte === CR) return FINAL_LF;
        if (byte === SP || byte === HTAB) fail("obs-fold in trailer section");
        return this.#trailerByte(byte);
      case TRAILER:
        if (byte === CR) return TRAILER_LF;
        return this.#trailerByte(byte);
      case TRAILER_LF:
        if (byte !== LF) fail(`bare CR in trailer field, followed by ${describe(byte)}`);
        return LINE_START;
      case FINAL_LF:
        if (byte !== LF) fail(`bare CR at the end of the chunked body, followed by ${describe(byte)}`);
        return DONE;
      default:
        return state;
    }
  }

  #trailerByte(byte: number): number {
    if (byte === LF) fail("bare LF in trailer section");
    if (isControl(byte)) fail(`${describe(byte)} in trailer section`);
    return TRAILER;
  }
}

function fail(reason: string): never {
  throw new HeadParseError(`Invalid chunked body: ${reason}`);
}

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  const lower = byte | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x57 : -1;
}

/** CTLs other than HTAB; obs-text (0x80-0xFF) is allowed like in header values. */
function isControl(byte: number): boolean {
  return (byte < SP && byte !== HTAB) || byte === 0x7f;
}

function describe(byte: number): string {
  return `byte 0x${byte.toString(16).padStart(2, "0")}`;
}
