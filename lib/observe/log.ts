/**
 * LOG: one record per line on stdout, as text (`<time> <level> <event> key=value ...`) or JSON.
 * Access records are written once per connection, when it ends; rejections get a `reject` line.
 */
import { writeSync } from "node:fs";
import type { LogFormat } from "../config/schema.ts";

export type Level = "info" | "warn" | "error";
export type Fields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  log(level: Level, event: string, fields?: Fields): void;
  /** Writes out buffered lines now; call before the process exits. */
  flush(): void;
}

/** Chars a text value may have and still go unquoted: `[\w.:/[\]@*+,-]`, by char code. */
const SAFE_CHAR = new Uint8Array(128);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:/[]@*+,-") {
  SAFE_CHAR[c.charCodeAt(0)] = 1;
}

function isSafeValue(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 128 || SAFE_CHAR[code] === 0) return false;
  }
  return true;
}

/**
 * What must not reach a log raw: C0 and DEL, C1 (U+0085 NEL ends a line for many readers, U+009B
 * is a terminal's CSI), U+2028/U+2029 (line breaks to JavaScript and editors). JSON.stringify
 * escapes only C0; header values decoded one char per byte bring the rest.
 */
// deno-lint-ignore no-control-regex
const UNSAFE_CHAR = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const UNSAFE_CHARS = new RegExp(UNSAFE_CHAR.source, "g");

/** \uXXXX for each unsafe char: valid inside JSON strings, and only ever inside them (keys and
 * events are ours, plain ASCII). */
function escapeControls(line: string): string {
  // Testing first is ~25 % cheaper than replace() on the usual line, which has none.
  if (!UNSAFE_CHAR.test(line)) return line;
  return line.replace(UNSAFE_CHARS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const SPACE = 0x20;
const EQUALS = 0x3d;
const NEWLINE = 0x0a;

/**
 * Log lines as UTF-8 bytes, written straight into one growing buffer: a text record costs no
 * string per field, no rope to flatten and no second copy to encode (~1.3 KB of garbage per line
 * on Bun before, two lines per connection).
 */
class LineBytes {
  bytes: Uint8Array;
  length = 0;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
  }

  #room(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  byte(b: number): void {
    this.#room(1);
    this.bytes[this.length++] = b;
  }

  /** Printable ASCII is copied as it is; anything else goes through utf8() escaped. */
  ascii(text: string): void {
    this.#room(text.length);
    const start = this.length;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code < 0x20 || code > 0x7e) {
        this.length = start;
        return this.utf8(escapeControls(text));
      }
      this.bytes[this.length++] = code;
    }
  }

  utf8(text: string): void {
    this.#room(text.length * 3);
    this.length += encoder.encodeInto(text, this.bytes.subarray(this.length)).written;
  }
}

function appendText(out: LineBytes, time: string, level: Level, event: string, fields: Fields): void {
  out.ascii(time);
  out.byte(SPACE);
  out.ascii(level);
  out.byte(SPACE);
  out.ascii(event);
  // for-in, not Object.entries(): no array per field on a line written twice per connection.
  for (const key in fields) {
    const value = fields[key];
    if (value === undefined) continue;
    out.byte(SPACE);
    out.ascii(key);
    out.byte(EQUALS);
    const text = typeof value === "string" ? value : String(value);
    if (typeof value === "number" || isSafeValue(text)) out.ascii(text);
    else out.utf8(escapeControls(JSON.stringify(text)));
  }
}

export function formatText(time: string, level: Level, event: string, fields: Fields): string {
  const out = new LineBytes(256);
  appendText(out, time, level, event, fields);
  return decoder.decode(out.bytes.subarray(0, out.length));
}

export function formatJson(time: string, level: Level, event: string, fields: Fields): string {
  return escapeControls(JSON.stringify({ time, level, event, ...fields }));
}

/** Past this many buffered bytes the buffer is written at once instead of at the end of the tick. */
const FLUSH_BYTES = 64 * 1024;

/**
 * A write of at most this many bytes to a pipe is never split (POSIX PIPE_BUF, Linux's value):
 * a supervisor's workers share its stdout, and a longer write can take another worker's bytes in
 * its middle once the pipe is full, which breaks the records on both sides of the cut.
 */
const ATOMIC_WRITE = 4096;

/** Where the write from `offset` ends: after the last whole line within ATOMIC_WRITE bytes, or
 * after the one line that is longer (a single process's; a worker's are kept shorter, see
 * shortened()). */
function atomicEnd(data: Uint8Array, offset: number): number {
  if (data.length - offset <= ATOMIC_WRITE) return data.length;
  const last = data.lastIndexOf(NEWLINE, offset + ATOMIC_WRITE - 1);
  if (last >= offset) return last + 1;
  const next = data.indexOf(NEWLINE, offset);
  return next === -1 ? data.length : next + 1;
}

/** A cut value keeps at least this many chars, and its `...[+N]` takes at most MARKER_ROOM more;
 * only values longer than both are cut, so that one cut to KEPT_CHARS is not cut again. */
const KEPT_CHARS = 32;
const MARKER_ROOM = 16;
const CUTTABLE = KEPT_CHARS + MARKER_ROOM;

/**
 * A copy of `fields` whose longest string value is cut by `excess` chars and a little more, to at
 * least KEPT_CHARS, and says so (`...[+N]`: N chars left out); undefined when no value is longer
 * than CUTTABLE. Each call leaves the values shorter, so a caller's loop ends.
 * A worker's record over ATOMIC_WRITE bytes (a long path or quoted header) could otherwise be cut
 * in its middle by another worker's write, which breaks both records.
 */
function shortened(fields: Fields, excess: number): Fields | undefined {
  let longest: string | undefined;
  let length = CUTTABLE;
  for (const key in fields) {
    const value = fields[key];
    if (typeof value === "string" && value.length > length) {
      longest = key;
      length = value.length;
    }
  }
  if (longest === undefined) return undefined;
  const value = fields[longest] as string;
  const keep = Math.max(KEPT_CHARS, value.length - excess - MARKER_ROOM);
  return { ...fields, [longest]: `${value.slice(0, keep)}...[+${value.length - keep}]` };
}

/**
 * Lines are gathered during one turn of the event loop and written in few system calls (whole
 * lines, up to 4 KiB each: see ATOMIC_WRITE): console.log costs ~7 µs a line on Deno, a batched
 * write ~0.2 µs, and a busy gateway logs two lines per connection.
 */
function stdoutWriter(
  format: LogFormat,
  /** Records are kept within this many bytes with their newline (workers sharing a pipe). */
  maxRecord?: number,
): { log(time: string, level: Level, event: string, fields: Fields): void; flush(): void } {
  let out = new LineBytes(FLUSH_BYTES + 4096);
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (out.length === 0) return;
    const data = out.bytes.subarray(0, out.length);
    // The buffer is reused; one grown by a huge line is let go.
    out = data.length > FLUSH_BYTES * 2 ? new LineBytes(FLUSH_BYTES + 4096) : out;
    out.length = 0;
    for (let offset = 0; offset < data.length;) {
      const end = atomicEnd(data, offset);
      try {
        while (offset < end) offset += writeSync(1, data.subarray(offset, end));
      } catch {
        // stdout is gone or non-blocking and full: fall back to the console, which copes.
        console.log(decoder.decode(data.subarray(offset)).trimEnd());
        return;
      }
    }
  };
  return {
    log(time, level, event, fields) {
      const start = out.length;
      let record: Fields | undefined = fields;
      while (record !== undefined) {
        if (format === "json") out.utf8(formatJson(time, level, event, record));
        else appendText(out, time, level, event, record);
        const excess = out.length + 1 - start - (maxRecord ?? Infinity);
        if (excess <= 0) break;
        // Written again with its longest value cut; as it is when nothing is left to cut.
        record = shortened(record, excess);
        if (record !== undefined) out.length = start;
      }
      out.byte(NEWLINE);
      if (out.length >= FLUSH_BYTES) flush();
      else if (!scheduled) {
        scheduled = true;
        setTimeout(flush, 0);
      }
    },
    flush,
  };
}

/** The time of a record; lines written in the same millisecond (a busy gateway's usual case)
 * share one string. */
let lastMs = -1;
let lastIso = "";
function isoNow(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastIso = new Date(now).toISOString();
  }
  return lastIso;
}

/** `base` fields go on every record (a worker's number, so interleaved logs stay readable); with
 * them, the process is a worker whose stdout its siblings share, and a record is kept within one
 * atomic write (ATOMIC_WRITE, its longest values cut). `write` replaces stdout (tests). */
export function createLogger(format: LogFormat, base: Fields = {}, write?: (line: string) => void): Logger {
  const formatLine = format === "json" ? formatJson : formatText;
  const hasBase = Object.keys(base).length > 0;
  const out = write
    ? { log: (...record: Parameters<typeof formatLine>) => write(formatLine(...record)), flush() {} }
    : stdoutWriter(format, hasBase ? ATOMIC_WRITE : undefined);
  return {
    log(level, event, fields = {}) {
      out.log(isoNow(), level, event, hasBase ? { ...base, ...fields } : fields);
    },
    flush: out.flush,
  };
}
