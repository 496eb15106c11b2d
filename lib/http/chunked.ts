/**
 * Message body framing (RFC 9112 §6.3) and an incremental scanner that finds where a chunked
 * body ends. A relayed body is forwarded byte for byte, up to its trailer section; wsgate needs to
 * know where it stops, and must stop exactly where a strict peer would, or the next bytes could be
 * read as a new message (request smuggling). Trailer fields that frame, route or authenticate a
 * message are dropped on the way (see TRAILER_DROPPED).
 */
import { HeadParseError } from "../errors.ts";
import type { RequestHead, ResponseHead } from "./head.ts";
import { getHeader, type Header } from "./headers.ts";
import { HOP_BY_HOP_HEADERS } from "./hop_headers.ts";

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
const COLON = 0x3a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

// Scanner states, in the order the grammar visits them:
// chunk = chunk-size [ BWS ";" chunk-ext ] CRLF chunk-data CRLF; last-chunk; trailer-section; CRLF
const SIZE_START = 0; // expecting the first hex digit of a chunk-size
const SIZE = 1; // more hex digits, BWS, ";" or CR
const BWS = 2; // whitespace after the size: only ";" may follow
const EXTENSION = 3; // chunk-ext up to CR
const QUOTED = 4; // inside a quoted-string chunk-ext-val
const QUOTED_PAIR = 5; // after a backslash in it
const SIZE_LF = 6; // LF ending the size line
const DATA = 7; // chunk-data, skipped without looking
const DATA_CR = 8; // CRLF after chunk-data
const DATA_LF = 9;
const LINE_START = 10; // after the last chunk: a trailer field or the final CRLF (states from here on: the trailer section)
const TRAILER = 11; // inside a trailer field line
const TRAILER_LF = 12;
const FINAL_LF = 13;
const DONE = 14;

/**
 * Fields dropped from trailer sections, both ways. RFC 9110 §6.5.1 forbids trailers that frame,
 * route or authenticate a message or describe a hop, since they are needed before the content; a
 * recipient that merges trailers into the header section (many do) would act on them past every
 * check wsgate made on the head.
 */
const TRAILER_DROPPED = new Set<string>([
  ...HOP_BY_HOP_HEADERS, // Connection, Transfer-Encoding, Trailer, Upgrade, ...
  "content-length",
  "host",
  "forwarded", // with X-Real-IP and X-Forwarded-*: what wsgate tells the upstream about the client
  "x-real-ip",
  "authorization", // credentials are checked on the head (DESIGN §3b)
  "cookie",
]);

function droppedInTrailers(name: string): boolean {
  // Names with "_" are dropped from heads too: CGI-style stacks read X_Forwarded_For as X-Forwarded-For.
  return TRAILER_DROPPED.has(name) || name.startsWith("x-forwarded-") || name.startsWith("sec-websocket-") ||
    name.includes("_");
}

/** The trailer section is held until it is complete, so it is bounded (the default max_head_bytes). */
export const MAX_TRAILER_BYTES = 16 * 1024;

const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Incremental scanner that finds where a chunked body (incl. trailers and the final CRLF) ends.
 * Bytes up to the trailer section are never copied; the section itself is held back (heldFrom)
 * and comes out without the fields a proxy must not pass on (trailers).
 */
export class ChunkedScanner {
  #state = SIZE_START;
  /** The chunk-size being read, then the chunk-data bytes still to skip. */
  #size = 0;
  #heldFrom = 0;
  /** Trailer bytes from earlier chunks (copies: a runtime may reuse its read buffers). */
  #held: Uint8Array[] = [];
  #heldBytes = 0;
  #trailers: Uint8Array | undefined;

  /** Offset in the last pushed chunk where the bytes held back begin (its length when none are). */
  get heldFrom(): number {
    return this.#heldFrom;
  }

  /**
   * Once the body ended: what replaces the last chunk's bytes from heldFrom to the end, i.e. the
   * trailer section as forwarded. Undefined when those bytes go out as they are.
   */
  get trailers(): Uint8Array | undefined {
    return this.#trailers;
  }

  /**
   * Feed the next bytes; returns -1 if the body has not ended yet, else the offset in `chunk` just
   * past its end (0 for any push after the end). Throws HeadParseError on malformed framing.
   */
  push(chunk: Uint8Array): number {
    this.#heldFrom = this.#state >= LINE_START ? 0 : chunk.length;
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
      const state = this.#next(this.#state, chunk[i++] ?? 0);
      // The last-chunk line ends: the trailer section starts.
      if (state === LINE_START && this.#state === SIZE_LF) this.#heldFrom = i;
      this.#state = state;
      if (state === DONE) {
        this.#endTrailers(chunk.subarray(this.#heldFrom, i));
        return i;
      }
    }
    if (this.#state >= LINE_START) this.#hold(chunk.subarray(this.#heldFrom));
    return -1;
  }

  #hold(bytes: Uint8Array): void {
    this.#count(bytes.length);
    if (bytes.length > 0) this.#held.push(bytes.slice());
  }

  #count(bytes: number): void {
    this.#heldBytes += bytes;
    if (this.#heldBytes > MAX_TRAILER_BYTES) fail(`trailer section over ${MAX_TRAILER_BYTES} bytes`);
  }

  /** `tail`: the section's bytes in the last chunk. */
  #endTrailers(tail: Uint8Array): void {
    this.#count(tail.length);
    const section = this.#held.length === 0 ? tail : join([...this.#held, tail]);
    this.#held = [];
    this.#trailers = keptTrailers(section) ?? (section === tail ? undefined : section);
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
        return byte === QUOTE ? QUOTED : EXTENSION;
      case QUOTED:
        // A quoted-string ends on its own line (RFC 9110 §5.6.4): a parser that let it run on
        // past the CRLF would put the chunk data somewhere else than wsgate does.
        if (byte === CR || byte === LF) fail("unterminated quoted string in chunk extension");
        if (isControl(byte)) fail(`${describe(byte)} in chunk extension`);
        return byte === QUOTE ? EXTENSION : byte === BACKSLASH ? QUOTED_PAIR : QUOTED;
      case QUOTED_PAIR:
        if (isControl(byte) || byte === CR || byte === LF) fail(`${describe(byte)} in chunk extension`);
        return QUOTED;
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

/**
 * A trailer section (field lines, each CRLF-terminated as the scanner checked, then the final
 * CRLF) without the dropped fields; undefined when none is dropped.
 */
function keptTrailers(section: Uint8Array): Uint8Array | undefined {
  const kept: Uint8Array[] = [];
  let dropped = false;
  const last = section.length - 2; // the final CRLF
  for (let at = 0; at < last;) {
    const cr = section.indexOf(CR, at);
    const colon = section.indexOf(COLON, at);
    const nameEnd = colon === -1 || colon > cr ? cr : colon;
    const name = String.fromCharCode(...section.subarray(at, nameEnd));
    if (nameEnd === cr || !FIELD_NAME.test(name)) {
      fail(`invalid trailer field name ${JSON.stringify(name.slice(0, 40))}`);
    }
    if (droppedInTrailers(name.toLowerCase())) dropped = true;
    else kept.push(section.subarray(at, cr + 2));
    at = cr + 2;
  }
  if (!dropped) return undefined;
  kept.push(section.subarray(last));
  return join(kept);
}

function join(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
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
