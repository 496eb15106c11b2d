/**
 * Byte-level tools for the e2e tests: dialling, a buffered reader with deadlines, raw HTTP requests,
 * response parsing and RFC 6455 frames. The raw WebSocket client and the scripted backend are built
 * on these, so tests can assert exact bytes instead of what a WebSocket library chose to show.
 */
import { createHash } from "node:crypto";
import net from "node:net";

export const CRLF = "\r\n";

/** A Python function for the tests' Python peers (clients and servers the runtimes cannot play):
 * read from a socket until a head is complete, or the peer closed. */
export const PY_READ_HEAD = String.raw`
def read_head(conn):
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = conn.recv(4096)
        if not chunk:
            break
        head += chunk
    return head
`;
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Where to connect: a TCP port on 127.0.0.1, a unix socket, or TLS to a port with the test CA. */
export type Target =
  | number
  | { path: string }
  | { port: number; tls: { caCerts: string[]; hostname?: string } };

export async function dial(target: Target): Promise<Deno.Conn> {
  if (typeof target === "number") return await Deno.connect({ hostname: "127.0.0.1", port: target });
  if ("path" in target) return await Deno.connect({ transport: "unix", path: target.path });
  // startTls: dial 127.0.0.1 but send (and verify) another name, e.g. backend.test.
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port: target.port });
  return await Deno.startTls(tcp, {
    hostname: target.tls.hostname ?? "localhost",
    caCerts: target.tls.caCerts,
  });
}

export function bytes(data: string | Uint8Array): Uint8Array {
  return typeof data === "string" ? enc.encode(data) : data;
}

export function text(data: Uint8Array): string {
  return dec.decode(data);
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Byte offset just past the first CRLFCRLF, or -1. */
function headEnd(data: Uint8Array): number {
  for (let i = 3; i < data.length; i++) {
    if (data[i] === 10 && data[i - 1] === 13 && data[i - 2] === 10 && data[i - 3] === 13) return i + 1;
  }
  return -1;
}

export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Sec-WebSocket-Accept for a key (RFC 6455 §4.2.2). */
export function acceptFor(key: string): string {
  return createHash("sha1").update(key + GUID).digest("base64");
}

function randomKey(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
}

/** Random bytes of any size (getRandomValues is limited to 64 KiB per call). */
export function randomBytes(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let at = 0; at < size; at += 65_536) crypto.getRandomValues(out.subarray(at, at + 65_536));
  return out;
}

export class TimeoutError extends Error {}

/** Races `promise` against a timer that is always cleared, so no timer outlives a test. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

type ReadResult = Uint8Array | null | Error;

/**
 * Buffered reads with deadlines. A read that times out stays pending and is reused by the next
 * call, so bytes are never lost; close() ends it and waits for it, which keeps the op sanitizer happy.
 */
export class ByteReader {
  #conn: Deno.Conn;
  #buf: Uint8Array = new Uint8Array(0);
  #pending: Promise<ReadResult> | null = null;
  #eof = false;
  #closed = false;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  get buffered(): Uint8Array {
    return this.#buf;
  }

  get eof(): boolean {
    return this.#eof;
  }

  /** Reads one more chunk into the buffer; false at EOF. A reset counts as EOF (the bytes so far stay). */
  async fill(timeoutMs: number): Promise<boolean> {
    if (this.#eof) return false;
    this.#pending ??= this.#read();
    const result = await withTimeout(this.#pending, timeoutMs, "read");
    this.#pending = null;
    if (result === null || result instanceof Error) {
      this.#eof = true;
      return false;
    }
    this.#buf = concat([this.#buf, result]);
    return true;
  }

  async #read(): Promise<ReadResult> {
    const chunk = new Uint8Array(65_536);
    try {
      const n = await this.#conn.read(chunk);
      return n === null ? null : chunk.subarray(0, n);
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  take(n: number): Uint8Array {
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** Everything up to and including the first CRLFCRLF; null if EOF came first. */
  async readHead(timeoutMs: number): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = headEnd(this.#buf);
      if (end >= 0) return text(this.take(end));
      if (!await this.fill(Math.max(1, deadline - Date.now()))) return null;
    }
  }

  /** All bytes until EOF or reset. */
  async readToEnd(timeoutMs: number): Promise<Uint8Array> {
    const deadline = Date.now() + timeoutMs;
    while (await this.fill(Math.max(1, deadline - Date.now())));
    return this.take(this.#buf.length);
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#conn.close();
      } catch { /* already closed by a reset */ }
    }
    return this.#pending?.then(() => {}) ?? Promise.resolve();
  }
}

export async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.length;) at += await conn.write(data.subarray(at));
}

/** Writes `request` as is and returns every byte of the answer until the server closes. */
export async function rawRequest(
  target: Target,
  request: string | Uint8Array,
  options: { timeoutMs?: number } = {},
): Promise<Uint8Array> {
  const conn = await dial(target);
  const reader = new ByteReader(conn);
  try {
    await writeAll(conn, bytes(request));
    return await reader.readToEnd(options.timeoutMs ?? 5_000);
  } finally {
    await reader.close();
  }
}

/** Connects with node:net, writes `data`, then aborts with a real RST (SO_LINGER 0). */
export async function writeThenReset(port: number, data: string | Uint8Array): Promise<void> {
  const socket = net.connect(port, "127.0.0.1");
  await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  await new Promise((resolve) => socket.write(bytes(data), resolve));
  const closed = new Promise((resolve) => socket.once("close", resolve));
  socket.resetAndDestroy();
  await closed;
}

export interface HttpResponse {
  status: number;
  reason: string;
  /** The status line and header lines exactly as received. */
  head: string;
  headers: Headers;
  /** De-chunked when Transfer-Encoding is chunked, cut at Content-Length when given. */
  body: Uint8Array;
}

/** Parses a status line and headers; throws on anything that is not an HTTP/1.1 response head. */
export function parseResponseHead(head: string): Omit<HttpResponse, "body"> {
  const [statusLine = "", ...lines] = head.replace(/\r\n\r\n$/, "").split(CRLF);
  const m = /^HTTP\/1\.1 (\d{3}) ?(.*)$/.exec(statusLine);
  if (!m) throw new Error(`not an HTTP/1.1 status line: ${JSON.stringify(statusLine)}`);
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`bad header line: ${JSON.stringify(line)}`);
    headers.append(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return { status: Number(m[1]), reason: m[2] ?? "", head, headers };
}

export function parseResponse(data: Uint8Array): HttpResponse {
  const end = headEnd(data);
  if (end < 0) throw new Error(`no complete response head in ${JSON.stringify(text(data.slice(0, 200)))}`);
  const head = parseResponseHead(text(data.subarray(0, end)));
  let body = data.subarray(end);
  const length = head.headers.get("content-length");
  if (head.headers.get("transfer-encoding")?.toLowerCase() === "chunked") body = dechunk(body);
  else if (length !== null) body = body.subarray(0, Number(length));
  return { ...head, body };
}

/** Decodes a complete chunked body (RFC 9112 §7.1); throws when it is truncated. */
function dechunk(data: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let at = 0;
  for (let i = 0; i < 100_000; i++) {
    const lineEnd = text(data.subarray(at, at + 64)).indexOf(CRLF);
    if (lineEnd < 0) throw new Error("truncated chunked body");
    const size = parseInt(text(data.subarray(at, at + lineEnd)), 16);
    at += lineEnd + 2;
    if (size === 0) return concat(parts);
    if (at + size + 2 > data.length) throw new Error("truncated chunk");
    parts.push(data.subarray(at, at + size));
    at += size + 2;
  }
  throw new Error("too many chunks");
}

/** An RFC 6455 client handshake; `headers` replace the defaults of the same name or add lines. */
export function upgradeRequest(
  options: { path?: string; host?: string; key?: string; headers?: [string, string][] } = {},
): string {
  const lines = new Map<string, string>([
    ["Host", options.host ?? "127.0.0.1"],
    ["Upgrade", "websocket"],
    ["Connection", "Upgrade"],
    ["Sec-WebSocket-Key", options.key ?? randomKey()],
    ["Sec-WebSocket-Version", "13"],
  ]);
  const extra: string[] = [];
  for (const [name, value] of options.headers ?? []) {
    if (lines.has(name)) lines.set(name, value);
    else extra.push(`${name}: ${value}`);
  }
  const head = [...lines].map(([n, v]) => `${n}: ${v}`).concat(extra);
  return `GET ${options.path ?? "/"} HTTP/1.1${CRLF}${head.join(CRLF)}${CRLF}${CRLF}`;
}

export const Opcode = { text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

export interface Frame {
  fin: boolean;
  opcode: number;
  payload: Uint8Array;
}

/** One frame; clients mask (RFC 6455 §5.3), servers do not. */
export function encodeFrame(
  opcode: number,
  payload: Uint8Array,
  options: { mask?: boolean; fin?: boolean } = {},
): Uint8Array {
  const mask = options.mask ?? true;
  const n = payload.length;
  const lenBytes = n < 126 ? 0 : n < 65_536 ? 2 : 8;
  const out = new Uint8Array(2 + lenBytes + (mask ? 4 : 0) + n);
  const view = new DataView(out.buffer);
  out[0] = ((options.fin ?? true) ? 0x80 : 0) | opcode;
  out[1] = (mask ? 0x80 : 0) | (lenBytes === 0 ? n : lenBytes === 2 ? 126 : 127);
  if (lenBytes === 2) view.setUint16(2, n);
  if (lenBytes === 8) view.setBigUint64(2, BigInt(n));
  const at = 2 + lenBytes;
  if (!mask) {
    out.set(payload, at);
    return out;
  }
  const key = crypto.getRandomValues(new Uint8Array(4));
  out.set(key, at);
  for (let i = 0; i < n; i++) out[at + 4 + i] = payload[i]! ^ key[i & 3]!;
  return out;
}

/** Decodes the first frame in `data` (unmasking it); null when it is not complete yet. */
export function decodeFrame(data: Uint8Array): { frame: Frame; size: number } | null {
  if (data.length < 2) return null;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const masked = (data[1]! & 0x80) !== 0;
  let n = data[1]! & 0x7f;
  let at = 2;
  if (n === 126) {
    if (data.length < 4) return null;
    n = view.getUint16(2);
    at = 4;
  } else if (n === 127) {
    if (data.length < 10) return null;
    n = Number(view.getBigUint64(2));
    at = 10;
  }
  const size = at + (masked ? 4 : 0) + n;
  if (data.length < size) return null;
  const payload = data.slice(size - n, size);
  if (masked) { for (let i = 0; i < n; i++) payload[i] = payload[i]! ^ data[at + (i & 3)]!; }
  return { frame: { fin: (data[0]! & 0x80) !== 0, opcode: data[0]! & 0x0f, payload }, size };
}

export function closePayload(code: number, reason = ""): Uint8Array {
  return concat([new Uint8Array([code >> 8, code & 0xff]), bytes(reason)]);
}

export function parseClose(payload: Uint8Array): { code: number; reason: string } {
  return {
    code: payload.length >= 2 ? (payload[0]! << 8) | payload[1]! : 1005,
    reason: text(payload.slice(2)),
  };
}

/** The next frame from `reader`, or null at EOF. */
export async function readFrame(reader: ByteReader, timeoutMs: number): Promise<Frame | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const decoded = decodeFrame(reader.buffered);
    if (decoded) {
      reader.take(decoded.size);
      return decoded.frame;
    }
    if (!await reader.fill(Math.max(1, deadline - Date.now()))) return null;
  }
}

/**
 * Runs `serve` for every connection `listener` accepts, keeping track of the running tasks so a
 * test backend can close in order: stop accepting, close what is open, then wait for the tasks.
 */
export function serveEach(
  listener: Deno.Listener,
  serve: (conn: Deno.Conn) => Promise<void>,
): { stopAccepting(): Promise<void>; settled(): Promise<void> } {
  const tasks = new Set<Promise<void>>();
  const accepting = (async () => {
    for await (const conn of listener) {
      const task = serve(conn);
      tasks.add(task);
      task.finally(() => tasks.delete(task));
    }
  })().catch(() => {});
  return {
    async stopAccepting() {
      listener.close();
      await accepting;
    },
    async settled() {
      await Promise.all(tasks);
    },
  };
}
