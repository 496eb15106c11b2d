/**
 * WebSocket clients for the e2e tests behind one small interface: Deno's built-in `WebSocket`,
 * npm `ws`, and a raw-socket client that writes and reads frames byte for byte.
 */
import { WebSocket as NodeWebSocket } from "ws";
import {
  ByteReader,
  bytes,
  dial,
  encodeFrame,
  type Frame,
  type HttpResponse,
  Opcode,
  parseResponseHead,
  readFrame,
  type Target,
  upgradeRequest,
  withTimeout,
  writeAll,
} from "./_wire.ts";

export type Message = string | Uint8Array;

export interface CloseInfo {
  code: number;
  reason: string;
}

/** The part of npm `ws`'s WebSocket the tests use (the package ships no types). */
export interface NodeWs {
  readonly protocol: string;
  readonly extensions: string;
  send(data: Message, options?: { binary?: boolean }): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  on(event: "message", listener: (data: Uint8Array, isBinary: boolean) => void): void;
  on(event: "close", listener: (code: number, reason: Uint8Array) => void): void;
  on(event: "open", listener: () => void): void;
  on(event: "error", listener: (err: Error) => void): void;
  /** The underlying node:net socket; resetAndDestroy() sends an RST. */
  readonly _socket: { resetAndDestroy(): void };
}

/** A WebSocket client as the tests see it, whatever implementation is underneath. */
export interface WsClient extends AsyncDisposable {
  readonly protocol: string;
  readonly extensions: string;
  send(data: Message): void;
  /** The next message; rejects when the connection closes first or after timeoutMs. */
  next(timeoutMs?: number): Promise<Message>;
  close(code?: number, reason?: string): void;
  readonly closed: Promise<CloseInfo>;
}

/** Messages in arrival order, handed to whoever waits. */
class Inbox {
  #queue: Message[] = [];
  #waiters: { resolve: (m: Message) => void; reject: (e: Error) => void }[] = [];
  #ended: CloseInfo | null = null;

  push(m: Message): void {
    const w = this.#waiters.shift();
    if (w) w.resolve(m);
    else this.#queue.push(m);
  }

  end(info: CloseInfo): void {
    this.#ended = info;
    for (const w of this.#waiters.splice(0)) w.reject(new Error(`closed ${info.code} ${info.reason}`));
  }

  next(timeoutMs: number): Promise<Message> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#ended) return Promise.reject(new Error(`closed ${this.#ended.code} ${this.#ended.reason}`));
    const waiting = new Promise<Message>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    return withTimeout(waiting, timeoutMs, "next message");
  }
}

const toBytes = (b: Uint8Array | ArrayBuffer) =>
  b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength).slice();

async function settleClose(closed: Promise<CloseInfo>, close: () => void, kill: () => void): Promise<void> {
  close();
  try {
    await withTimeout(closed, 3_000, "client close");
  } catch {
    kill();
    await closed;
  }
}

/** Deno's WebSocket; `caCerts` trusts the test CA for wss://. */
export async function openDenoWs(
  url: string,
  options: { protocols?: string[]; headers?: HeadersInit; caCerts?: string[] } = {},
): Promise<WsClient> {
  const client = options.caCerts ? Deno.createHttpClient({ caCerts: options.caCerts }) : undefined;
  const ws = new WebSocket(url, {
    ...(options.protocols ? { protocols: options.protocols } : {}),
    ...(options.headers ? { headers: options.headers } : {}),
    ...(client ? { client } : {}),
  });
  ws.binaryType = "arraybuffer";
  const inbox = new Inbox();
  ws.onmessage = (e) => inbox.push(typeof e.data === "string" ? e.data : toBytes(e.data as ArrayBuffer));
  const closed = new Promise<CloseInfo>((resolve) => {
    ws.onclose = (e) => {
      client?.close();
      inbox.end({ code: e.code, reason: e.reason });
      resolve({ code: e.code, reason: e.reason });
    };
  });
  const opened = new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = (e) => reject(new Error(`WebSocket error: ${(e as ErrorEvent).message ?? "?"}`));
  });
  try {
    await withTimeout(opened, 5_000, `open ${url}`);
  } catch (err) {
    await settleClose(closed, () => ws.close(), () => {});
    throw err;
  }
  return {
    get protocol() {
      return ws.protocol;
    },
    get extensions() {
      return ws.extensions;
    },
    send: (data) => ws.send(data),
    next: (timeoutMs = 5_000) => inbox.next(timeoutMs),
    close: (code, reason) => ws.close(code, reason),
    closed,
    [Symbol.asyncDispose]: () => settleClose(closed, () => ws.close(), () => {}),
  };
}

/** npm `ws`; `ca` trusts the test CA for wss://. */
export async function openNodeWs(
  url: string,
  options: {
    protocols?: string[];
    perMessageDeflate?: boolean;
    ca?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<WsClient & { raw: NodeWs }> {
  const ws: NodeWs = new NodeWebSocket(url, options.protocols ?? [], {
    perMessageDeflate: options.perMessageDeflate ?? false,
    ...(options.ca ? { ca: options.ca } : {}),
    ...(options.headers ? { headers: options.headers } : {}),
  });
  const inbox = new Inbox();
  ws.on("message", (data, isBinary) => inbox.push(isBinary ? toBytes(data) : new TextDecoder().decode(data)));
  const closed = new Promise<CloseInfo>((resolve) => {
    ws.on("close", (code, reason) => {
      const info = { code, reason: new TextDecoder().decode(reason) };
      inbox.end(info);
      resolve(info);
    });
  });
  const opened = new Promise<void>((resolve, reject) => {
    ws.on("open", resolve);
    ws.on("error", reject);
  });
  try {
    await withTimeout(opened, 5_000, `open ${url}`);
  } catch (err) {
    ws.terminate();
    await closed;
    throw err;
  }
  return {
    raw: ws,
    get protocol() {
      return ws.protocol;
    },
    get extensions() {
      return ws.extensions;
    },
    send: (data) => ws.send(data, { binary: typeof data !== "string" }),
    next: (timeoutMs = 5_000) => inbox.next(timeoutMs),
    close: (code, reason) => ws.close(code, reason),
    closed,
    [Symbol.asyncDispose]: () => settleClose(closed, () => ws.close(), () => ws.terminate()),
  };
}

/** A client on a raw socket: writes the handshake as given, then masked frames; nothing is hidden. */
export class RawWs implements AsyncDisposable {
  readonly conn: Deno.Conn;
  readonly reader: ByteReader;
  readonly response: Omit<HttpResponse, "body">;

  private constructor(conn: Deno.Conn, reader: ByteReader, response: Omit<HttpResponse, "body">) {
    this.conn = conn;
    this.reader = reader;
    this.response = response;
  }

  /** Sends `request` (default: a valid upgrade for `path`) and reads the response head. */
  static async open(
    target: Target,
    options: { request?: string; path?: string; timeoutMs?: number } = {},
  ): Promise<RawWs> {
    const conn = await dial(target);
    const reader = new ByteReader(conn);
    try {
      await writeAll(conn, bytes(options.request ?? upgradeRequest({ path: options.path ?? "/" })));
      const head = await reader.readHead(options.timeoutMs ?? 5_000);
      if (head === null) throw new Error("connection closed before a response head");
      return new RawWs(conn, reader, parseResponseHead(head));
    } catch (err) {
      await reader.close();
      throw err;
    }
  }

  send(opcode: number, payload: Message): Promise<void> {
    return writeAll(this.conn, encodeFrame(opcode, bytes(payload)));
  }

  sendText(data: string): Promise<void> {
    return this.send(Opcode.text, data);
  }

  /** The next frame, or null at EOF. */
  next(timeoutMs = 5_000): Promise<Frame | null> {
    return readFrame(this.reader, timeoutMs);
  }

  closeWrite(): Promise<void> {
    return this.conn.closeWrite();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.reader.close();
  }
}
