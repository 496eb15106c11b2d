/**
 * The few Bun APIs the load client, the echo backend and the Bun floor use, typed here so that `deno check`
 * passes without Bun's type package. Importing this module is fine anywhere; calling `bun`
 * only works when running under `bun`.
 */

export interface BunSocket<T> {
  data: T;
  /** Bytes the kernel accepted; the rest is NOT buffered (finish it from `drain`). */
  write(bytes: Uint8Array): number;
  /** Sends FIN and closes. */
  end(): void;
  /** Closes at once (RST if data is pending). */
  terminate(): void;
  /** Half-close: sends FIN, reading continues (end() closes both directions). */
  shutdown(): void;
  /** Stops (and restarts) `data` callbacks: read-side backpressure. */
  pause(): void;
  resume(): void;
  setNoDelay(on: boolean): boolean;
  /** The peer's address (a getpeername each). */
  readonly remoteAddress: string;
  readonly remotePort: number;
}

export interface SocketHandlers<T> {
  binaryType?: "uint8array";
  open?(socket: BunSocket<T>): void;
  data?(socket: BunSocket<T>, chunk: Uint8Array): void;
  drain?(socket: BunSocket<T>): void;
  /** The peer sent FIN (with allowHalfOpen the socket stays open for writing). */
  end?(socket: BunSocket<T>): void;
  close?(socket: BunSocket<T>, error?: Error): void;
  error?(socket: BunSocket<T>, error: Error): void;
  connectError?(socket: BunSocket<T>, error: Error): void;
}

export interface ServerWebSocket {
  /** -1 = queued under backpressure, 0 = dropped, >0 = bytes sent. */
  send(data: string | Uint8Array): number;
}

export interface BunServer {
  upgrade(request: Request): boolean;
}

export interface ServeOptions {
  hostname: string;
  port: number;
  fetch(request: Request, server: BunServer): Response | undefined;
  websocket?: {
    message(ws: ServerWebSocket, message: string | Uint8Array): void;
    idleTimeout: number;
    sendPings: boolean;
    perMessageDeflate: boolean;
    maxPayloadLength: number;
    backpressureLimit: number;
  };
}

interface BunApi {
  connect<T>(
    options: { hostname: string; port: number; data: T; allowHalfOpen?: boolean; socket: SocketHandlers<T> },
  ): Promise<BunSocket<T>>;
  /** Accepted sockets start with `data` undefined (no `data` option given here). */
  listen<T>(
    options: { hostname: string; port: number; allowHalfOpen?: boolean; socket: SocketHandlers<T> },
  ): unknown;
  serve(options: ServeOptions): unknown;
}

export const bun: BunApi = (globalThis as unknown as { Bun: BunApi }).Bun;
