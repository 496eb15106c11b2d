/**
 * Real backends for the e2e tests, each on port 0 (or a unix socket) and closed by `close()` /
 * `await using`: an npm `ws` echo server, a Deno.serve echo server (also TLS and unix), and a raw
 * TCP server driven by a script. All of them record what reached them.
 *
 * Echo protocol of both WebSocket backends: text and binary messages come back unchanged, except a
 * text message `close:CODE:REASON`, which makes the backend close with that code and reason.
 */
import { WebSocketServer } from "ws";
import type { CloseInfo, Message, NodeWs } from "./_clients.ts";
import { acceptFor, ByteReader, bytes, serveEach, withTimeout, writeAll } from "./_wire.ts";

/** What one request looked like when it reached a backend. */
export interface RequestRecord {
  method: string;
  /** Path and query as received. */
  url: string;
  /** The request line's HTTP version, e.g. "1.1" (npm `ws` backend only). */
  version?: string;
  headers: Headers;
  /** Header lines in order, as far as the server library exposes them. */
  rawHeaders: [string, string][];
  /** Plain HTTP only: the request body as the backend read it. */
  body?: Uint8Array;
}

export interface Backend extends AsyncDisposable {
  /** As an upstream address for wsgate: `127.0.0.1:PORT` or `unix:/path`. */
  readonly address: string;
  readonly requests: RequestRecord[];
  /** Close code/reason of each WebSocket connection as the backend received it. */
  readonly closes: CloseInfo[];
  close(): Promise<void>;
}

const CLOSE_COMMAND = /^close:(\d+):(.*)$/s;

/** The echo rule shared by both WebSocket backends. */
function echo(
  message: Message,
  reply: (m: Message) => void,
  close: (code: number, reason: string) => void,
): void {
  const command = typeof message === "string" ? CLOSE_COMMAND.exec(message) : null;
  if (command) close(Number(command[1]), command[2] ?? "");
  else reply(message);
}

function pairs(flat: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

export interface WsBackendOptions {
  /** Picks the subprotocol from those offered (ws `handleProtocols`). */
  handleProtocols?: (offered: string[]) => string | false;
  perMessageDeflate?: boolean;
  /** Refuse every upgrade with this status and body. Read per request: set or clear it to flip the backend. */
  reject?: { status: number; body: string };
  /** Listen on this port (default: any free one), e.g. to bring a stopped backend back at its address. */
  port?: number;
  /** Listen on this loopback address (default 127.0.0.1): 127.0.0.x are distinct backends for DNS tests. */
  host?: string;
}

interface NodeRequest {
  method: string;
  url: string;
  httpVersion: string;
  rawHeaders: string[];
}

/** npm `ws` WebSocketServer echo backend. */
export async function wsEchoBackend(
  options: WsBackendOptions = {},
): Promise<Backend & { sockets: NodeWs[] }> {
  const requests: RequestRecord[] = [];
  const closes: CloseInfo[] = [];
  const sockets: NodeWs[] = [];
  const wss = new WebSocketServer({
    host: options.host ?? "127.0.0.1",
    port: options.port ?? 0,
    maxPayload: 128 * 1024 * 1024,
    perMessageDeflate: options.perMessageDeflate ?? false,
    ...(options.handleProtocols
      ? { handleProtocols: (offered: Set<string>) => options.handleProtocols!([...offered]) }
      : {}),
    verifyClient: (
      info: { req: NodeRequest },
      done: (ok: boolean, status?: number, body?: string) => void,
    ) => {
      const rawHeaders = pairs(info.req.rawHeaders);
      requests.push({
        method: info.req.method,
        url: info.req.url,
        version: info.req.httpVersion,
        headers: new Headers(rawHeaders),
        rawHeaders,
      });
      if (options.reject) done(false, options.reject.status, options.reject.body);
      else done(true);
    },
  });
  await new Promise((resolve, reject) => {
    wss.once("listening", resolve);
    wss.once("error", reject);
  });
  wss.on("connection", (ws: NodeWs) => {
    sockets.push(ws);
    ws.on("message", (data, isBinary) => {
      const message = isBinary ? data : new TextDecoder().decode(data);
      echo(message, (m) => ws.send(m, { binary: isBinary }), (code, reason) => ws.close(code, reason));
    });
    ws.on("close", (code, reason) => closes.push({ code, reason: new TextDecoder().decode(reason) }));
    ws.on("error", () => {});
  });
  const port = (wss.address() as { port: number }).port;
  const close = async () => {
    for (const ws of sockets) ws.terminate();
    await new Promise((resolve) => wss.close(resolve));
  };
  return {
    address: `${options.host ?? "127.0.0.1"}:${port}`,
    requests,
    closes,
    sockets,
    close,
    [Symbol.asyncDispose]: close,
  };
}

export interface DenoBackendOptions {
  /** Serve TLS with this PEM pair (the backend.test certificate). */
  tls?: { cert: string; key: string };
  /** Listen on this unix socket instead of TCP. */
  path?: string;
}

/**
 * Deno.serve echo backend. Plain HTTP requests are answered with `METHOD URL LENGTH\n` followed by
 * the request body, so a test sees both that the body arrived and that the response came back.
 */
export function denoEchoBackend(options: DenoBackendOptions = {}): Promise<Backend> {
  const requests: RequestRecord[] = [];
  const closes: CloseInfo[] = [];
  const sockets = new Set<WebSocket>();
  const socketsClosed: Promise<void>[] = [];
  const handler = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const record: RequestRecord = {
      method: req.method,
      url: url.pathname + url.search,
      headers: req.headers,
      rawHeaders: [...req.headers],
    };
    requests.push(record);
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      record.body = new Uint8Array(await req.arrayBuffer());
      const prefix = bytes(`${req.method} ${record.url} ${record.body.length}\n`);
      const out = new Uint8Array(prefix.length + record.body.length);
      out.set(prefix);
      out.set(record.body, prefix.length);
      return new Response(out);
    }
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.binaryType = "arraybuffer";
    sockets.add(socket);
    socketsClosed.push(
      new Promise((resolve) => {
        socket.onclose = (e) => {
          closes.push({ code: e.code, reason: e.reason });
          sockets.delete(socket);
          resolve();
        };
      }),
    );
    socket.onmessage = (e) => {
      const message = typeof e.data === "string" ? e.data : new Uint8Array(e.data as ArrayBuffer);
      echo(message, (m) => socket.send(m), (code, reason) => socket.close(code, reason));
    };
    return response;
  };
  const onListen = () => {};
  const server = options.path
    ? Deno.serve({ path: options.path, onListen }, handler)
    : Deno.serve({ hostname: "127.0.0.1", port: 0, onListen, ...options.tls }, handler);
  const addr = server.addr;
  const close = async () => {
    for (const s of sockets) s.close(1001, "backend closing");
    await withTimeout(Promise.all(socketsClosed), 3_000, "backend sockets closed").catch(() => {});
    await server.shutdown();
  };
  return Promise.resolve({
    address: "path" in addr ? `unix:${addr.path}` : `127.0.0.1:${addr.port}`,
    requests,
    closes,
    close,
    [Symbol.asyncDispose]: close,
  });
}

/** One accepted connection of a raw backend, after its request head was read. */
export interface RawPeer {
  readonly conn: Deno.Conn;
  readonly reader: ByteReader;
  /** The request head exactly as received, CRLFCRLF included. */
  readonly head: string;
  write(data: string | Uint8Array): Promise<void>;
  /** Resolves when the backend is being closed: `await peer.closing` = never answer. */
  readonly closing: Promise<void>;
}

export type RawScript = (peer: RawPeer) => Promise<void>;

export interface RawBackend extends AsyncDisposable {
  readonly address: string;
  readonly port: number;
  /** Every request head received, in order. */
  readonly heads: string[];
  /** Errors thrown by scripts (a test can assert there were none). */
  readonly errors: unknown[];
  close(): Promise<void>;
}

/** The Sec-WebSocket-Key of a request head. */
export function keyOf(head: string): string {
  return /^sec-websocket-key:\s*(\S+)\s*$/im.exec(head)?.[1] ?? "";
}

/** A 101 for `head`; `accept` overrides the correct Sec-WebSocket-Accept. */
export function switching(head: string, accept = acceptFor(keyOf(head))): string {
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Accept: ${accept}\r\n\r\n`;
}

/** A TCP server that reads each request head and then runs `script`; the connection closes after it. */
export function rawBackend(script: RawScript): RawBackend {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const heads: string[] = [];
  const errors: unknown[] = [];
  const peers = new Set<ByteReader>();
  const { promise: closing, resolve: signalClosing } = Promise.withResolvers<void>();

  const serve = async (conn: Deno.Conn) => {
    const reader = new ByteReader(conn);
    peers.add(reader);
    try {
      const head = await reader.readHead(30_000);
      if (head === null) return;
      heads.push(head);
      await script({ conn, reader, head, write: (d) => writeAll(conn, bytes(d)), closing });
    } catch (err) {
      errors.push(err);
    } finally {
      peers.delete(reader);
      await reader.close();
    }
  };
  const served = serveEach(listener, serve);

  const close = async () => {
    signalClosing();
    await served.stopAccepting();
    for (const reader of peers) await reader.close();
    await served.settled();
  };
  const port = (listener.addr as Deno.NetAddr).port;
  return {
    address: `127.0.0.1:${port}`,
    port,
    heads,
    errors,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A port on 127.0.0.1 where nothing listens (bound, then released). */
export function deadPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** A listener whose accept queue is full and never served: each SYN is dropped. */
const FULL_QUEUE = `
import socket, select, sys
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(0)
port = l.getsockname()[1]
held = []
while True:
    c = socket.socket(); c.setblocking(False)
    try: c.connect(("127.0.0.1", port))
    except BlockingIOError: pass
    if not select.select([], [c], [], 0.3)[1]: c.close(); break
    held.append(c)
print(port, flush=True)
sys.stdin.read()
`;

/** An address where a connect hangs, as to a blackholed server (a listener with a full accept
 * queue: python3, since Deno cannot set the backlog). */
export async function blackhole(): Promise<{ address: string; [Symbol.asyncDispose](): Promise<void> }> {
  const child = new Deno.Command("python3", { args: ["-c", FULL_QUEUE], stdin: "piped", stdout: "piped" })
    .spawn();
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  const port = Number(new TextDecoder().decode(value).trim());
  return {
    address: `127.0.0.1:${port}`,
    async [Symbol.asyncDispose]() {
      reader.releaseLock();
      await child.stdin.close();
      await child.stdout.cancel();
      await child.status;
    },
  };
}
