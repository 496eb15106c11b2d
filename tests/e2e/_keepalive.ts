/**
 * Peers for the keep-alive tests: a client that sends requests on one connection and reads their
 * answers one by one (framing by Content-Length or chunked), and an HTTP/1.1 backend that keeps
 * its connections and counts them, with a hook to misbehave on a chosen request.
 */
import { ByteReader, bytes, CRLF, dial, parseResponseHead, serveEach, text, writeAll } from "./_wire.ts";
import { CA_PEM } from "./_harness.ts";

export interface Answer {
  status: number;
  head: string;
  headers: Headers;
  body: string;
  /** Every byte of the answer as received, head included. */
  raw: string;
}

/** One client connection, requests written as given, answers read one at a time. */
export class KeptConn implements AsyncDisposable {
  readonly conn: Deno.Conn;
  readonly reader: ByteReader;

  private constructor(conn: Deno.Conn) {
    this.conn = conn;
    this.reader = new ByteReader(conn);
  }

  static async open(port: number): Promise<KeptConn> {
    return new KeptConn(await dial(port));
  }

  /** Over TLS, to a listener serving the fixtures' `localhost` certificate. */
  static async openTls(port: number): Promise<KeptConn> {
    const conn = await Deno.connectTls({ hostname: "localhost", port, caCerts: [CA_PEM] });
    return new KeptConn(conn as unknown as Deno.Conn);
  }

  send(data: string | Uint8Array): Promise<void> {
    return writeAll(this.conn, bytes(data));
  }

  /** The next answer with its body (Content-Length, chunked, or none for HEAD/204/304); null at EOF. */
  async answer(timeoutMs = 5_000, options: { head?: boolean } = {}): Promise<Answer | null> {
    const head = await this.reader.readHead(timeoutMs);
    if (head === null) return null;
    const parsed = parseResponseHead(head);
    const length = parsed.headers.get("content-length");
    let body = "";
    if (options.head || parsed.status === 204 || parsed.status === 304 || parsed.status === 101) body = "";
    else if (parsed.headers.get("transfer-encoding")) body = await this.#chunked(timeoutMs);
    else if (length !== null) body = text(await this.#take(Number(length), timeoutMs));
    return { status: parsed.status, head, headers: parsed.headers, body, raw: head + body };
  }

  /** True when the gateway closed the connection (EOF or reset) within timeoutMs. */
  async closed(timeoutMs = 5_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!await this.reader.fill(Math.max(1, deadline - Date.now())).catch(() => true)) return true;
    }
    return false;
  }

  async #take(n: number, timeoutMs: number): Promise<Uint8Array> {
    while (this.reader.buffered.length < n) {
      if (!await this.reader.fill(timeoutMs)) throw new Error("EOF inside a body");
    }
    return this.reader.take(n);
  }

  /** A chunked body, kept as its raw bytes (what a proxy must relay verbatim). */
  async #chunked(timeoutMs: number): Promise<string> {
    let raw = "";
    for (;;) {
      const line = await this.#line(timeoutMs);
      raw += line;
      const size = parseInt(line, 16);
      if (size === 0) return raw + await this.#line(timeoutMs);
      raw += text(await this.#take(size + 2, timeoutMs));
    }
  }

  async #line(timeoutMs: number): Promise<string> {
    for (;;) {
      const at = text(this.reader.buffered).indexOf(CRLF);
      if (at !== -1) return text(this.reader.take(at + 2));
      if (!await this.reader.fill(timeoutMs)) throw new Error("EOF inside a chunked body");
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.reader.close();
  }
}

/** `GET path` (or another method) with Host and extra header lines. */
export function request(path: string, headers: string[] = [], method = "GET", body = ""): string {
  const length = body || method === "POST" ? [`Content-Length: ${bytes(body).length}`] : [];
  return [`${method} ${path} HTTP/1.1`, "Host: gw.test", ...headers, ...length].join(CRLF) + CRLF + CRLF +
    body;
}

/** What a KeepAliveBackend script sees: the connection's number, the request's number on it, its head and body. */
export interface BackendRequest {
  connection: number;
  index: number;
  head: string;
  method: string;
  path: string;
  body: string;
}

/**
 * What a script did with a request: false = nothing (the backend answers), "answered" = wrote the
 * answer itself (the connection goes on), "close" = close the connection now, "linger" = keep it
 * until the gateway closes it (then its number goes to `ended`).
 */
export type Handled = false | "answered" | "close" | "linger";

/**
 * An HTTP/1.1 backend that keeps connections open (Content-Length answers `METHOD PATH c<conn>
 * r<index>`), counts them, and lets a script take over any request.
 */
export interface KeepAliveBackend extends AsyncDisposable {
  readonly address: string;
  /** Connections accepted so far. */
  readonly connections: number;
  readonly requests: BackendRequest[];
  /** Connections the gateway closed after a script said "linger". */
  readonly ended: number[];
}

export function keepAliveBackend(
  script: (req: BackendRequest, write: (data: string) => Promise<void>) => Promise<Handled> = () =>
    Promise.resolve(false),
): KeepAliveBackend {
  const ended: number[] = [];
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const requests: BackendRequest[] = [];
  const readers = new Set<ByteReader>();
  let connections = 0;
  const serve = async (conn: Deno.Conn) => {
    const connection = ++connections;
    const reader = new ByteReader(conn);
    readers.add(reader);
    const write = (data: string) => writeAll(conn, bytes(data));
    try {
      for (let index = 1;; index++) {
        const head = await reader.readHead(30_000);
        if (head === null) return;
        const [method = "", path = ""] = head.split(" ");
        const length = Number(/^content-length:\s*(\d+)/im.exec(head)?.[1] ?? 0);
        while (reader.buffered.length < length) if (!await reader.fill(5_000)) return;
        const req = { connection, index, head, method, path, body: text(reader.take(length)) };
        requests.push(req);
        const handled = await script(req, write);
        if (handled === "close") return;
        if (handled === "linger") {
          await reader.readToEnd(30_000);
          ended.push(connection);
          return;
        }
        if (handled === "answered") continue;
        const body = `${method} ${path} c${connection} r${index}`;
        await write(`HTTP/1.1 200 OK${CRLF}Content-Length: ${body.length}${CRLF}${CRLF}${body}`);
      }
    } catch {
      // the gateway closed it
    } finally {
      readers.delete(reader);
      await reader.close();
    }
  };
  const served = serveEach(listener, serve);
  const close = async () => {
    await served.stopAccepting();
    for (const reader of readers) await reader.close();
    await served.settled();
  };
  return {
    address: `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    get connections() {
      return connections;
    },
    requests,
    ended,
    [Symbol.asyncDispose]: close,
  };
}
