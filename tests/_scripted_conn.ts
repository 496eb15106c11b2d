/** A fake Conn for unit tests of code that reads from a connection. */
import type { Addr, Conn } from "../lib/runtime/types.ts";

const enc = new TextEncoder();

export const tcp = (hostname: string, port: number): Addr => ({ transport: "tcp", hostname, port });

export type Script = (string | Uint8Array | "hang" | null)[];

/** A Conn that hands out scripted chunks, reusing one buffer like the runtimes' lease rule. */
export class ScriptedConn implements Conn {
  readonly remoteAddr: Addr;
  readonly localAddr: Addr = tcp("127.0.0.1", 8020);
  closed = false;
  #chunks: (Uint8Array | "hang" | null)[];
  #lease = new Uint8Array(4096);

  constructor(peer: Addr, chunks: Script) {
    this.remoteAddr = peer;
    this.#chunks = chunks.map((c) => typeof c === "string" && c !== "hang" ? enc.encode(c) : c);
  }

  read(): Promise<Uint8Array | null> {
    const next = this.#chunks.shift();
    if (next === "hang") return new Promise(() => {});
    if (next === undefined || next === null) return Promise.resolve(null);
    // The same memory every time: a caller that keeps a view without copying sees it change.
    this.#lease.set(next);
    return Promise.resolve(this.#lease.subarray(0, next.length));
  }
  write(): Promise<void> {
    return Promise.resolve();
  }
  closeWrite(): Promise<void> {
    return Promise.resolve();
  }
  close(): void {
    this.closed = true;
  }
}
