/**
 * A minimal raw-socket WebSocket client on Bun.connect, built for speed: frames are pre-built by
 * the caller, received payloads are skipped rather than decoded, and one handler object serves
 * every socket. Run under `bun` only.
 */
import { bun, type BunSocket, type SocketHandlers } from "../bun_api.ts";
import { FrameReader, headEnd, proxyV1Header, upgradeRequest } from "./frames.ts";

export interface WsEvents {
  /** The server answered 101: frames may be sent. */
  open(ws: WsClient): void;
  /** A complete frame arrived (data, close, ping...). */
  message(ws: WsClient, opcode: number): void;
  /** The socket is closed; `failure` says why when it never upgraded or broke. */
  close(ws: WsClient, failure: string | undefined): void;
}

const MAX_HEAD = 16_384;
const UPGRADE = upgradeRequest("127.0.0.1");

/**
 * How every client of this process dials (one scenario per process): the loopback addresses its
 * connections take turns on, each one more 4-tuple space (see driver/growth.ts), and whether each
 * connection starts with a PROXY v1 header, as a load balancer in front would send.
 */
const dialing = { hosts: ["127.0.0.1"], proxyProtocol: false, count: 0 };

export function setDialing(hosts: readonly string[], proxyProtocol: boolean): void {
  if (hosts.length > 0) dialing.hosts = [...hosts];
  dialing.proxyProtocol = proxyProtocol;
}

export class WsClient {
  #events: WsEvents;
  #socket: BunSocket<WsClient> | undefined;
  /** The response head collected so far; undefined once upgraded. */
  #head: Uint8Array | undefined = new Uint8Array(0);
  #reader = new FrameReader();
  #queue: Uint8Array[] = [];
  #done = false;
  #onFrame = (opcode: number) => this.#events.message(this, opcode);
  /** The first write: the upgrade request, after a PROXY header when dialing says so. */
  #hello: Uint8Array;

  static readonly #handlers: SocketHandlers<WsClient> = {
    binaryType: "uint8array",
    open(s) {
      s.data.#socket = s;
      s.write(s.data.#hello);
    },
    data(s, chunk) {
      s.data.#onData(chunk);
    },
    drain(s) {
      s.data.#flush();
    },
    close(s, error) {
      s.data.#finish(error ? String(error) : undefined);
    },
    error(s, error) {
      s.data.#finish(String(error));
    },
    connectError(s, error) {
      s.data.#finish(`connect: ${error}`);
    },
  };

  private constructor(events: WsEvents, request: Uint8Array) {
    this.#events = events;
    this.#hello = request;
  }

  /** Connects to port on the next of dialing's hosts and performs the opening handshake
   * (`request`, or a plain one). */
  static open(port: number, events: WsEvents, request: Uint8Array = UPGRADE): WsClient {
    const ws = new WsClient(events, request);
    const n = dialing.count++;
    const hostname = dialing.hosts[n % dialing.hosts.length]!;
    if (dialing.proxyProtocol) {
      const header = proxyV1Header(n, { host: hostname, port });
      ws.#hello = new Uint8Array(header.length + request.length);
      ws.#hello.set(header);
      ws.#hello.set(request, header.length);
    }
    bun.connect({ hostname, port, data: ws, socket: WsClient.#handlers })
      .catch((err) => ws.#finish(`connect: ${err}`));
    return ws;
  }

  /** Writes a pre-built frame; what the kernel does not take yet goes out on `drain`. */
  send(frame: Uint8Array): void {
    if (this.#queue.length > 0 || !this.#socket) {
      this.#queue.push(frame);
      return;
    }
    const n = this.#socket.write(frame);
    if (n < frame.length) this.#queue.push(frame.subarray(Math.max(0, n)));
  }

  /** Sends FIN; `close` follows. */
  end(): void {
    this.#socket?.end();
  }

  /** Drops the connection at once; `close` follows. */
  abort(): void {
    if (this.#socket) this.#socket.terminate();
    else this.#finish("aborted before connecting");
  }

  #flush(): void {
    const socket = this.#socket;
    while (socket && this.#queue.length > 0) {
      const frame = this.#queue[0]!;
      const n = socket.write(frame);
      if (n < frame.length) {
        this.#queue[0] = frame.subarray(Math.max(0, n));
        return;
      }
      this.#queue.shift();
    }
  }

  #onData(chunk: Uint8Array): void {
    if (this.#head === undefined) {
      this.#reader.feed(chunk, this.#onFrame);
      return;
    }
    const head = new Uint8Array(this.#head.length + chunk.length);
    head.set(this.#head);
    head.set(chunk, this.#head.length);
    const end = headEnd(head);
    if (end < 0) {
      this.#head = head;
      if (head.length > MAX_HEAD) this.#fail("response head too large");
      return;
    }
    const statusLine = new TextDecoder().decode(head.subarray(0, Math.min(end, 64))).split("\r\n")[0];
    if (!statusLine?.startsWith("HTTP/1.1 101")) {
      this.#fail(`status: ${statusLine}`);
      return;
    }
    this.#head = undefined;
    this.#events.open(this);
    if (end < head.length) this.#reader.feed(head.subarray(end), this.#onFrame);
  }

  #fail(reason: string): void {
    this.#finish(reason);
    this.#socket?.terminate();
  }

  #finish(failure: string | undefined): void {
    if (this.#done) return;
    this.#done = true;
    const neverUpgraded = this.#head !== undefined;
    this.#events.close(this, failure ?? (neverUpgraded ? "closed before 101" : undefined));
  }
}
