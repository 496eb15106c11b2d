/**
 * Idle upstream connections kept for plain HTTP (`upstreams.NAME.keepalive`, like nginx's
 * `keepalive 16`): at most `max` per server, each for at most `timeoutMs`, most recently used
 * first. A parked connection is read while it waits: anything that arrives then (the backend
 * closing it, or bytes nobody asked for) makes it unusable and it is closed at once, so such
 * bytes can never pass for the answer to the next request. Only connections that carried one
 * exactly delimited answer are parked (connection.ts decides); upgrades never use the pool.
 */
import type { Addr, Conn } from "../runtime/types.ts";

/** Starts a timer; returns its cancel function (tests pass their own clock). */
export type Schedule = (run: () => void, ms: number) => () => void;

const realSchedule: Schedule = (run, ms) => {
  const timer = setTimeout(run, ms);
  return () => clearTimeout(timer);
};

/**
 * An upstream connection that can be parked: while parked its next read is already under way,
 * and once taken that read is what read() returns first. One wrapper per socket for its whole
 * life, so reuse never stacks wrappers.
 */
export class PoolableConn implements Conn {
  readonly #conn: Conn;
  #pending: Promise<Uint8Array | null> | undefined;

  constructor(conn: Conn) {
    this.#conn = conn;
  }

  get localAddr(): Addr {
    return this.#conn.localAddr;
  }

  get remoteAddr(): Addr {
    return this.#conn.remoteAddr;
  }

  /** Starts the read that watches a parked connection; it is also the next read()'s result. */
  watch(): Promise<Uint8Array | null> {
    this.#pending = this.#conn.read();
    return this.#pending;
  }

  read(): Promise<Uint8Array | null> {
    const pending = this.#pending;
    this.#pending = undefined;
    return pending ?? this.#conn.read();
  }

  write(bytes: Uint8Array): Promise<void> {
    return this.#conn.write(bytes);
  }

  closeWrite(): Promise<void> {
    return this.#conn.closeWrite();
  }

  close(): void {
    this.#conn.close();
  }
}

interface Parked {
  conn: PoolableConn;
  cancelTimer: () => void;
  /** Set when it leaves the pool, so its watching read no longer closes it. */
  gone: boolean;
}

export class UpstreamPool {
  readonly #max: number;
  readonly #timeoutMs: number;
  readonly #schedule: Schedule;
  /** Server address -> its parked connections, most recently parked last. */
  readonly #idle = new Map<string, Parked[]>();
  #closed = false;

  constructor(options: { max: number; timeoutMs: number; schedule?: Schedule }) {
    this.#max = options.max;
    this.#timeoutMs = options.timeoutMs;
    this.#schedule = options.schedule ?? realSchedule;
  }

  /** Connections parked for `address` right now. */
  idle(address: string): number {
    return this.#idle.get(address)?.length ?? 0;
  }

  /** The most recently parked connection to `address`, or undefined. */
  take(address: string): PoolableConn | undefined {
    const parked = this.#idle.get(address)?.pop();
    if (!parked) return undefined;
    this.#leave(address, parked);
    return parked.conn;
  }

  /** Keeps `conn` for the next request to `address`; the oldest one goes when `max` are parked. */
  park(address: string, conn: PoolableConn): void {
    if (this.#closed || this.#max === 0) return conn.close();
    const list = this.#idle.get(address) ?? [];
    this.#idle.set(address, list);
    if (list.length >= this.#max) this.#drop(address, list[0]!);
    const parked: Parked = { conn, cancelTimer: () => {}, gone: false };
    list.push(parked);
    parked.cancelTimer = this.#schedule(() => this.#drop(address, parked), this.#timeoutMs);
    // Whatever ends this read while parked (EOF, reset, stray bytes) makes the connection unusable.
    const unusable = () => {
      if (!parked.gone) this.#drop(address, parked);
    };
    conn.watch().then(unusable, unusable);
  }

  /** Closes every parked connection; later parks close at once (a reloaded or stopped group). */
  close(): void {
    this.#closed = true;
    for (const [address, list] of this.#idle) for (const parked of [...list]) this.#drop(address, parked);
  }

  #drop(address: string, parked: Parked): void {
    if (parked.gone) return;
    this.#leave(address, parked);
    parked.conn.close();
  }

  #leave(address: string, parked: Parked): void {
    parked.gone = true;
    parked.cancelTimer();
    const list = this.#idle.get(address);
    if (!list) return;
    const at = list.indexOf(parked);
    if (at !== -1) list.splice(at, 1);
    if (list.length === 0) this.#idle.delete(address);
  }
}
