/**
 * Strict parsing and serialization of HTTP/1.x message heads (RFC 9112). Strict because wsgate
 * stands between parsers it does not know: anything two parsers could read differently (bare LF,
 * obs-fold, conflicting framing headers) is refused instead of guessed at. Every failure is a
 * HeadParseError carrying the status for the client; the parser throws nothing else.
 */
import { Buffer } from "node:buffer";
import { HeadParseError } from "../errors.ts";
import { countHeader, getHeader, type Header, isOws } from "./headers.ts";
import { transientBytes } from "../net/bytes.ts";

export type HttpVersion = "HTTP/1.1" | "HTTP/1.0";

export interface RequestHead {
  method: string;
  target: string;
  version: HttpVersion;
  headers: Header[];
  /** origin-form path+query to send upstream: the target itself for origin-form, derived for absolute-form, "*" for asterisk-form */
  path: string;
}

export interface ResponseHead {
  version: HttpVersion;
  status: number;
  reason: string;
  headers: Header[];
}

export interface ParseOptions {
  /** More header lines than this -> 431. Default 100. */
  maxHeaders?: number;
  /** A longer request line (or status line) -> 414. Default 8192 bytes. */
  maxRequestLine?: number;
}

const DEFAULT_MAX_HEADERS = 100;
const DEFAULT_MAX_REQUEST_LINE = 8192;

const HTAB = 0x09;
const SP = 0x20;
const DEL = 0x7f;

/** tchar (RFC 9110 §5.6.2), indexed by char code. */
const TCHAR = new Uint8Array(256);
for (const char of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
  TCHAR[char.charCodeAt(0)] = 1;
}

/** host[:port] or [IPv6][:port]; the reg-name charset (RFC 3986) excludes whitespace, "/" and "@". */
/** A host name is letters, digits, "-", ".", "_" and "~": the other reg-name characters RFC 3986
 * allows ("," ";" "%" ...) are read differently by backends (Express takes `a.example,evil` as
 * `a.example`), so a Host with one is refused. */
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~]+)(?::[0-9]{1,5})?$/;
const ABSOLUTE_FORM = /^(?:https?|wss?):\/\/([^/?]*)(.*)$/i;
/** At most 15 digits keeps every length a safe integer. */
const CONTENT_LENGTH = /^[0-9]{1,15}$/;

export function parseRequestHead(bytes: Uint8Array, options: ParseOptions = {}): RequestHead {
  const head = splitHead(bytes, options);
  const line = head.startLine;
  const first = line.indexOf(" ");
  if (first === -1) {
    throw new HeadParseError(`Cannot parse request line: missing request target in ${show(line)}`);
  }
  const second = line.indexOf(" ", first + 1);
  if (second === -1) {
    throw new HeadParseError(`Cannot parse request line: missing HTTP version in ${show(line)}`);
  }
  if (line.indexOf(" ", second + 1) !== -1) {
    throw new HeadParseError(`Cannot parse request line: too many spaces in ${show(line)}`);
  }
  // Decoded from the bytes rather than sliced from the head's text: a slice keeps the whole text
  // alive (JSC always, V8 from 13 chars), and the access record holds the method and path for
  // the tunnel's days (memory per idle tunnel; a browser's head with cookies is kilobytes).
  // The start line is the text's beginning, one char per byte.
  const method = isGet(bytes, first) ? "GET" : decodeBytes(bytes, 0, first);
  const target = decodeBytes(bytes, first + 1, second);
  const version = parseVersion(line.slice(second + 1), "request line");
  if (!isToken(method)) throw new HeadParseError(`Invalid method: ${show(method)}`);
  const path = originPath(method, target);
  const headers = parseFields(head);
  checkHost(headers, version);
  checkSingleValued(headers);
  checkAbsoluteHost(target, headers);
  checkFraming(headers, version);
  return { method, target, version, headers, path };
}

export function parseResponseHead(bytes: Uint8Array, options: ParseOptions = {}): ResponseHead {
  const head = splitHead(bytes, options);
  const line = head.startLine;
  const space = line.indexOf(" ");
  const version = parseVersion(space === -1 ? line : line.slice(0, space), "status line");
  const code = line.slice(space + 1, space + 4);
  const after = line.slice(space + 4);
  if (space === -1 || !/^[0-9]{3}$/.test(code) || (after !== "" && !after.startsWith(" "))) {
    throw new HeadParseError(`Cannot parse status line: invalid status code in ${show(line)}`);
  }
  const status = Number(code);
  if (status < 100 || status > 599) throw new HeadParseError(`Status code out of range: ${status}`);
  const reason = after.slice(1);
  const bad = findControl(reason);
  if (bad !== -1) throw new HeadParseError(`Invalid reason phrase: control character 0x${hex(bad)}`);
  const headers = parseFields(head);
  checkFraming(headers, version);
  return { version, status, reason, headers };
}

export function serializeRequestHead(
  head: { method: string; target: string; version: string; headers: Header[] },
): Uint8Array {
  return serializeHead(`${head.method} ${head.target} ${head.version}`, head.headers);
}

export function serializeResponseHead(
  head: { version: string; status: number; reason: string; headers: Header[] },
): Uint8Array {
  const reason = head.reason === "" ? "" : ` ${head.reason}`;
  return serializeHead(`${head.version} ${head.status}${reason}`, head.headers);
}

/** A head's text, its line endings checked: the start line, and where the field lines are (each
 * ends with CRLF; the last one's CRLF is at `fieldsEnd`, the blank line after it). */
interface HeadText {
  text: string;
  startLine: string;
  fieldsFrom: number;
  fieldsEnd: number;
}

/** Checks limits and line endings. The field lines are walked by offset, not split into strings:
 * a field's name and value are the only strings made from it (this runs for every request and
 * every answer). */
function splitHead(bytes: Uint8Array, options: ParseOptions): HeadText {
  const text = decodeBytes(bytes);
  const maxLine = options.maxRequestLine ?? DEFAULT_MAX_REQUEST_LINE;
  const lineLength = firstLineLength(text);
  if (lineLength > maxLine) {
    throw new HeadParseError(`Start line too long: ${lineLength} bytes (limit ${maxLine})`, 414);
  }
  // Every CR is followed by LF, so the CRs count the lines.
  let lineEnds = 0;
  for (let i = text.indexOf("\r"); i !== -1; i = text.indexOf("\r", i + 1)) {
    if (text.charCodeAt(i + 1) !== 0x0a) throw new HeadParseError(`Bare CR in head at byte ${i}`);
    lineEnds++;
  }
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) {
    if (text.charCodeAt(i - 1) !== 0x0d) throw new HeadParseError(`Bare LF in head at byte ${i}`);
  }
  if (!text.endsWith("\r\n\r\n")) throw new HeadParseError("Head does not end with CRLF CRLF");
  const startEnd = text.indexOf("\r\n");
  if (startEnd === 0) throw new HeadParseError("Cannot parse start line: empty line");
  const maxHeaders = options.maxHeaders ?? DEFAULT_MAX_HEADERS;
  const fields = lineEnds - 2; // the start line's CRLF and the blank line's are not fields
  if (fields > maxHeaders) {
    throw new HeadParseError(`Too many header fields: ${fields} (limit ${maxHeaders})`, 431);
  }
  return { text, startLine: text.slice(0, startEnd), fieldsFrom: startEnd + 2, fieldsEnd: text.length - 4 };
}

function firstLineLength(text: string): number {
  const cr = text.indexOf("\r");
  const lf = text.indexOf("\n");
  if (cr === -1) return lf === -1 ? text.length : lf;
  return lf === -1 ? cr : Math.min(cr, lf);
}

function parseVersion(text: string, where: string): HttpVersion {
  if (text === "HTTP/1.1" || text === "HTTP/1.0") return text;
  if (/^HTTP\/[0-9]\.[0-9]$/.test(text)) throw new HeadParseError(`Unsupported HTTP version: ${text}`);
  throw new HeadParseError(`Cannot parse ${where}: invalid HTTP version ${show(text)}`);
}

/** The origin-form path for the upstream; rejects authority-form (CONNECT) and anything unknown. */
function originPath(method: string, target: string): string {
  for (let i = 0; i < target.length; i++) {
    const code = target.charCodeAt(i);
    if (code <= SP || code >= DEL) {
      throw new HeadParseError(`Invalid request target: byte 0x${hex(code)} in ${show(target)}`);
    }
  }
  if (target.includes("#")) throw new HeadParseError(`Invalid request target: fragment in ${show(target)}`);
  // Not a URI character (RFC 3986); WHATWG URL parsers read it as "/", others as a name.
  if (target.includes("\\")) throw new HeadParseError(`Invalid request target: backslash in ${show(target)}`);
  if (target.startsWith("/")) return target;
  if (target === "*") {
    if (method !== "OPTIONS") {
      throw new HeadParseError(`Invalid request target: "*" is only allowed with OPTIONS`);
    }
    return "*";
  }
  const match = ABSOLUTE_FORM.exec(target);
  if (match === null) throw new HeadParseError(`Unsupported request target form: ${show(target)}`);
  const [, authority = "", rest = ""] = match;
  if (!AUTHORITY.test(authority)) {
    throw new HeadParseError(`Invalid request target: bad authority ${show(authority)}`);
  }
  if (rest === "") return "/";
  return rest.startsWith("?") ? `/${rest}` : rest;
}

function parseFields({ text, fieldsFrom, fieldsEnd }: HeadText): Header[] {
  const headers: Header[] = [];
  for (let at = fieldsFrom; at <= fieldsEnd;) {
    const end = text.indexOf("\r\n", at);
    headers.push(parseField(text, at, end));
    at = end + 2;
  }
  return headers;
}

/** The field line text[start, end). */
function parseField(text: string, start: number, end: number): Header {
  const first = text.charCodeAt(start);
  if (isOws(first)) {
    throw new HeadParseError(`Obsolete line folding is not allowed: ${show(text.slice(start, end))}`);
  }
  if (start === end) throw new HeadParseError("Invalid header line: empty line inside the head");
  const colon = text.indexOf(":", start);
  if (colon === -1 || colon >= end) {
    throw new HeadParseError(`Invalid header line: missing colon in ${show(text.slice(start, end))}`);
  }
  if (colon === start) {
    throw new HeadParseError(`Invalid header name: empty in ${show(text.slice(start, end))}`);
  }
  const name = text.slice(start, colon);
  const last = name.charCodeAt(name.length - 1);
  if (isOws(last)) {
    throw new HeadParseError(`Invalid header name: whitespace before colon in ${show(name)}`);
  }
  if (!isToken(name)) throw new HeadParseError(`Invalid header name: ${show(name)}`);
  // The value without its optional whitespace (SP / HTAB only: obs-text 0xA0 stays).
  let from = colon + 1;
  let to = end;
  while (from < to && isOws(text.charCodeAt(from))) from++;
  while (to > from && isOws(text.charCodeAt(to - 1))) to--;
  const bad = findControl(text, from, to);
  if (bad !== -1) {
    throw new HeadParseError(`Invalid header value for ${name}: control character 0x${hex(bad)}`);
  }
  return { name, value: text.slice(from, to) };
}

/**
 * Request fields the gateway decides on and then forwards, beyond Host and the framing fields
 * (checked on their own): repeated, wsgate would check the first while a backend may read the
 * last or a join of both (`allow_origins` passed with one Origin, the app reads the other).
 */
const SINGLE_VALUED = ["origin"];

function checkSingleValued(headers: Header[]): void {
  for (const name of SINGLE_VALUED) {
    if (countHeader(headers, name) > 1) throw new HeadParseError(`Multiple ${name} headers`);
  }
}

// The checks count and look up fields rather than list them: no array per check (this runs for
// every request and every answer).
function checkHost(headers: Header[], version: HttpVersion): void {
  if (countHeader(headers, "host") > 1) throw new HeadParseError("Multiple Host headers");
  const host = getHeader(headers, "host");
  if (host === undefined) {
    if (version === "HTTP/1.1") throw new HeadParseError("Missing Host header");
    return;
  }
  if (!AUTHORITY.test(host)) throw new HeadParseError(`Invalid Host header: ${show(host)}`);
}

/**
 * RFC 9112 §3.2.2 says the target's authority overrides Host. Rather than have wsgate route by
 * one and a backend read the other, a mismatch is refused.
 */
function checkAbsoluteHost(target: string, headers: Header[]): void {
  if (target.startsWith("/")) return; // origin form: no authority in the target
  const authority = ABSOLUTE_FORM.exec(target)?.[1];
  const host = getHeader(headers, "host");
  if (authority !== undefined && host !== undefined && authority.toLowerCase() !== host.toLowerCase()) {
    throw new HeadParseError(`Host ${show(host)} does not match the request target's ${show(authority)}`);
  }
}

/** Rejects every framing two parsers could disagree on (request smuggling, RFC 9112 §6.3). */
function checkFraming(headers: Header[], version: HttpVersion): void {
  const lengths = countHeader(headers, "content-length");
  const codings = countHeader(headers, "transfer-encoding");
  if (lengths > 0 && codings > 0) {
    throw new HeadParseError("Both Content-Length and Transfer-Encoding present");
  }
  if (lengths > 1) throw new HeadParseError("Multiple Content-Length headers");
  const length = getHeader(headers, "content-length");
  if (length !== undefined && !CONTENT_LENGTH.test(length)) {
    throw new HeadParseError(
      length.includes(",")
        ? `Content-Length must be a single value: ${show(length)}`
        : `Invalid Content-Length: ${show(length)}`,
    );
  }
  if (codings > 1) throw new HeadParseError("Multiple Transfer-Encoding headers");
  const coding = getHeader(headers, "transfer-encoding");
  if (coding === undefined) return;
  if (version === "HTTP/1.0") throw new HeadParseError("Transfer-Encoding is not allowed in HTTP/1.0");
  if (coding.toLowerCase() !== "chunked") {
    throw new HeadParseError(`Unsupported Transfer-Encoding: ${show(coding)}`);
  }
}

function isToken(text: string): boolean {
  if (text === "") return false;
  for (let i = 0; i < text.length; i++) {
    if (TCHAR[text.charCodeAt(i)] !== 1) return false;
  }
  return true;
}

/** The first CTL other than HTAB (NUL, CR, LF, DEL ...) in text[from, to) as a char code, or -1;
 * obs-text is allowed. */
function findControl(text: string, from = 0, to = text.length): number {
  for (let i = from; i < to; i++) {
    const code = text.charCodeAt(i);
    if ((code < SP && code !== HTAB) || code === DEL) return code;
  }
  return -1;
}

function hex(code: number): string {
  return code.toString(16).padStart(2, "0");
}

/** A short quoted excerpt for error messages (JSON escapes control characters). */
function show(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}...` : text);
}

/** One char per byte (0-255), natively: node:buffer's latin1 is exactly that (not TextDecoder's
 * "latin1", which is windows-1252 and remaps 0x80-0x9F). Called on the bytes themselves: a Buffer
 * view over `bytes.buffer` would make JSC move a small array's bytes out of its heap first (~1 µs of
 * the 1.3 a decode cost on Bun; Deno and Bun both take a Uint8Array as `this`). */
const latin1 = Buffer.prototype.toString;

/** Every WebSocket handshake's method, shared rather than decoded: one string less per request,
 * and per open tunnel (the access record keeps it). */
function isGet(bytes: Uint8Array, length: number): boolean {
  return length === 3 && bytes[0] === 0x47 && bytes[1] === 0x45 && bytes[2] === 0x54;
}

/** `start`/`end` rather than a subarray: a view is a native call and an object more (on Bun the
 * subarray cost more than the decode). */
function decodeBytes(bytes: Uint8Array, start = 0, end = bytes.length): string {
  return latin1.call(bytes, "latin1", start, end);
}

/** Writes the head straight into its bytes: no string per line, no rope to flatten (this runs
 * for every request the gateway reissues). The bytes are transient: a head is written, then dropped. */
function serializeHead(startLine: string, headers: Header[]): Uint8Array {
  let length = startLine.length + 4; // the start line's CRLF and the blank line's
  for (const { name, value } of headers) length += name.length + value.length + 4;
  const bytes = transientBytes(length);
  let at = put(bytes, 0, startLine);
  bytes[at++] = CR;
  bytes[at++] = LF;
  for (const { name, value } of headers) {
    at = put(bytes, at, name);
    bytes[at++] = COLON;
    bytes[at++] = SP;
    at = put(bytes, at, value);
    bytes[at++] = CR;
    bytes[at++] = LF;
  }
  bytes[at++] = CR;
  bytes[at] = LF;
  return bytes;
}

const CR = 0x0d;
const LF = 0x0a;
const COLON = 0x3a;

/** Copies `text` one byte per char (the inverse of decodeBytes). A char above 0xFF has no byte,
 * so it is a caller's bug; a CR or LF in a start line, a name or a value would start a line of its
 * own (header injection), whatever let it through upstream. */
function put(bytes: Uint8Array, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff) throw new RangeError(`Character U+${code.toString(16)} cannot be sent in a head`);
    if (code === CR || code === LF) throw new TypeError(`${JSON.stringify(text)} contains CR or LF`);
    bytes[at++] = code;
  }
  return at;
}
