/**
 * One end of a tunnel as its peer sees it, in memory: chunks to send to wsgate, every byte wsgate
 * wrote, FIN, reset, a peer that stops reading, and a live WebSocket endpoint's answers.
 */
import type { Conn } from "../../lib/runtime/types.ts";
import { type PipeOptions, type PipeResult, Tunnel } from "../../lib/tunnel/pipe.ts";
import { WsTunnel, type WsTunnelOptions, type WsTunnelResult } from "../../lib/tunnel/ws_tunnel.ts";
import { concat, decodeFrame, encodeFrame, type Frame, Opcode } from "../e2e/_wire.ts";

const ADDR = { transport: "tcp", hostname: "127.0.0.1", port: 1 } as const;

/** One end of the tunnel as its peer sees it: chunks to send to wsgate, bytes wsgate wrote. */
export class Peer implements Conn {
  readonly localAddr = ADDR;
  readonly remoteAddr = ADDR;
  readonly written: Uint8Array[] = [];
  fin = false;
  closed = false;
  #queue: (Uint8Array | null)[] = [];
  #waiter: { resolve: (chunk: Uint8Array | null) => void; reject: (err: Error) => void } | undefined;
  readonly #masked: boolean;
  /** Answer wsgate's Pings and Closes like a live WebSocket endpoint. */
  answering = false;
  /** Writes stay pending (a peer that stopped reading) until the connection is closed. */
  stalled = false;
  #stalledWrite: (() => void) | undefined;

  constructor(options: { masked: boolean }) {
    this.#masked = options.masked;
  }

  /** Bytes for wsgate to read; null = FIN. */
  send(chunk: Uint8Array | null): void {
    if (this.#waiter) {
      const waiter = this.#waiter;
      this.#waiter = undefined;
      waiter.resolve(chunk);
    } else this.#queue.push(chunk);
  }

  frame(opcode: number, payload: Uint8Array, fin = true): Uint8Array {
    return encodeFrame(opcode, payload, { mask: this.#masked, fin });
  }

  read(): Promise<Uint8Array | null> {
    if (this.closed) return Promise.resolve(null);
    if (this.#queue.length > 0) return Promise.resolve(this.#queue.shift()!);
    return new Promise((resolve, reject) => this.#waiter = { resolve, reject });
  }

  /** The pending read fails as on a TCP reset. */
  reset(): void {
    this.#waiter?.reject(Object.assign(new Error("reset"), { code: "ECONNRESET" }));
    this.#waiter = undefined;
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.closed || this.fin) return Promise.reject(Object.assign(new Error("closed"), { code: "EPIPE" }));
    if (this.stalled) {
      return new Promise((_, reject) => {
        this.#stalledWrite = () => reject(Object.assign(new Error("closed"), { code: "EPIPE" }));
      });
    }
    this.written.push(bytes.slice());
    if (this.answering) {
      const decoded = decodeFrame(bytes);
      if (decoded?.frame.opcode === Opcode.ping) this.send(this.frame(Opcode.pong, decoded.frame.payload));
      if (decoded?.frame.opcode === Opcode.close) this.send(this.frame(Opcode.close, decoded.frame.payload));
    }
    return Promise.resolve();
  }

  closeWrite(): Promise<void> {
    this.fin = true;
    return Promise.resolve();
  }

  close(): void {
    this.closed = true;
    this.#stalledWrite?.();
    this.#waiter?.resolve(null);
    this.#waiter = undefined;
  }

  get bytes(): Uint8Array {
    return concat(this.written);
  }

  /** Every complete frame wsgate wrote to this peer. */
  get frames(): Frame[] {
    const frames: Frame[] = [];
    let data = this.bytes;
    for (let d = decodeFrame(data); d; d = decodeFrame(data)) {
      frames.push(d.frame);
      data = data.subarray(d.size);
    }
    return frames;
  }
}

/** A raw tunnel started over two connections; its result, once it ended. */
export function pipe(client: Conn, upstream: Conn, options: PipeOptions): Promise<PipeResult> {
  const tunnel = new Tunnel(client, upstream, options);
  return new Promise((tunnelEnded) => tunnel.start({ tunnelEnded }));
}

/** A frame-following tunnel started over two connections; its result, once it ended. */
export function wsTunnel(client: Conn, upstream: Conn, options: WsTunnelOptions): Promise<WsTunnelResult> {
  const tunnel = new WsTunnel(client, upstream, options);
  return new Promise((ended) => tunnel.start({ tunnelEnded: (result) => ended(result as WsTunnelResult) }));
}
