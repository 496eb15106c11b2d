/**
 * PIPE: after the 101, copy raw bytes both ways until both directions end.
 *
 * Backpressure: each direction awaits its write before reading again, so at most one read
 * buffer per direction is in flight and a slow reader cannot make memory grow.
 * Half-close: EOF from one side becomes a FIN (closeWrite) to the other; the tunnel ends when
 * both directions have ended, or at once on an error, a timeout or a shutdown.
 */
import type { Conn, SpliceReport } from "../runtime/types.ts";
import type { Clock } from "./clock.ts";
import { type TunnelOwner, type Watchdog, type WatchedTunnel } from "./watchdog.ts";
import { writeTarget } from "../net/conn_view.ts";

export type ClosedBy = "client" | "upstream" | "proxy";

export interface PipeOptions {
  /** No bytes from the upstream for this long -> close (ms; 0 = never). */
  readTimeout: number;
  /** One write blocked for this long -> close (ms; 0 = never). */
  sendTimeout: number;
  /** No bytes in either direction for this long -> close (ms; 0 = never). */
  idleTimeout: number;
  /** Watches for timeouts, and ends the tunnel on shutdown (abortAll). */
  watchdog: Watchdog;
  /** Whose tunnel it is, for the admin's list of open tunnels. */
  owner?: TunnelOwner;
  /** The token that let the tunnel open expires then (close_at_expiry; the clock's ms): it ends
   * with reason token_expired. */
  expiresAt?: number;
}

export interface PipeResult {
  /** Bytes client -> upstream. */
  upBytes: number;
  /** Bytes upstream -> client. */
  downBytes: number;
  closedBy: ClosedBy;
  /** Why, when it was not a clean close: "read_timeout", "reset", "shutdown", ... */
  reason?: string;
}

/** One direction's counters, read by the watchdog without touching the hot loop; a native splice
 * keeps them through the SpliceReport methods. */
export class Direction implements SpliceReport {
  bytes = 0;
  /** The clock's time of the last read. */
  lastRead: number;
  /** When the write in progress started, 0 when none is. */
  writingSince = 0;
  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
    this.lastRead = clock.now();
  }

  reading(): void {
    const now = this.#clock.now();
    this.lastRead = now;
    this.writingSince = now;
  }

  wrote(bytes: number, done: boolean): void {
    this.bytes += bytes;
    if (done) this.writingSince = 0;
  }
}

/** The raw tunnel; ws_tunnel.ts subclasses it to follow WebSocket frames. */
export class Tunnel implements WatchedTunnel {
  readonly up: Direction;
  readonly down: Direction;
  closedBy: ClosedBy | undefined;
  reason: string | undefined;
  #client: Conn;
  #upstream: Conn;
  #options: PipeOptions;
  /** Directions that reached EOF. */
  #eofs = 0;

  constructor(client: Conn, upstream: Conn, options: PipeOptions) {
    this.up = new Direction(options.watchdog.clock);
    this.down = new Direction(options.watchdog.clock);
    this.#client = client;
    this.#upstream = upstream;
    this.#options = options;
  }

  /** Read from the options the tunnel keeps anyway: no field of its own. */
  get owner(): TunnelOwner | undefined {
    return this.#options.owner;
  }

  /** Called by the watchdog: a reason to end the tunnel, or undefined. */
  overdue(now: number): string | undefined {
    const { readTimeout, sendTimeout, idleTimeout, expiresAt } = this.#options;
    if (expiresAt !== undefined && now >= expiresAt) return "token_expired";
    if (readTimeout > 0 && now - this.down.lastRead >= readTimeout) return "read_timeout";
    if (idleTimeout > 0 && now - Math.max(this.up.lastRead, this.down.lastRead) >= idleTimeout) {
      return "idle_timeout";
    }
    if (sendTimeout > 0) {
      for (const d of [this.up, this.down]) {
        if (d.writingSince > 0 && now - d.writingSince >= sendTimeout) return "send_timeout";
      }
    }
    return undefined;
  }

  /** Ends both directions at once; the first reason wins. */
  abort(closedBy: ClosedBy, reason: string): void {
    this.note(closedBy, reason);
    this.#client.close();
    this.#upstream.close();
  }

  /** Records who ended the tunnel and why, unless a reason is already recorded. */
  note(closedBy: ClosedBy, reason: string): void {
    if (this.closedBy === undefined || this.reason === undefined) {
      this.closedBy = closedBy;
      this.reason = reason;
    }
  }

  // copy() and relay() return promise chains rather than being async functions: with a native
  // splice, an idle direction then holds no suspended frames of its own (memory per idle tunnel).
  copy(from: Conn, to: Conn, d: Direction, source: ClosedBy): Promise<void> {
    return this.relay(from, to, d).then(
      () => this.#reachedEof(to, source),
      (err) => this.fail(err, d, source),
    );
  }

  /** EOF from `source`: pass the half-close on; the other direction keeps flowing. When the other
   * direction already ended, run() closes both sockets next, and the close sends the FIN: one
   * shutdown() less per connection (it showed up at ~10 % of a handshake's CPU on Bun). */
  #reachedEof(to: Conn, source: ClosedBy): Promise<void> | undefined {
    this.closedBy ??= source;
    this.#eofs++;
    return this.#eofs < 2 ? to.closeWrite() : undefined;
  }

  /** Moves bytes until EOF (a rejection is a socket error). Raw: every chunk as it came. */
  relay(from: Conn, to: Conn, d: Direction): Promise<void> {
    // The runtime's native forwarding where it has one, else a read/write loop. A view as the
    // target (a PROXY header's addresses) is written through to its connection.
    return from.spliceTo?.(writeTarget(to), d) ?? this.#loop(from, to, d);
  }

  async #loop(from: Conn, to: Conn, d: Direction): Promise<void> {
    while (true) {
      const chunk = await from.read();
      if (chunk === null) return;
      d.reading();
      await to.write(chunk);
      d.wrote(chunk.length, true);
    }
  }

  /** A socket error in direction `d`: a failed write means the destination died; a failed read, the source. */
  fail(err: unknown, d: Direction, source: ClosedBy): void {
    const code = (err as { code?: string }).code;
    const culprit = d.writingSince > 0 ? (source === "client" ? "upstream" : "client") : source;
    this.abort(culprit, code === "ECONNRESET" ? "reset" : code === "EPIPE" ? "broken_pipe" : "error");
  }

  /** Runs both directions until they end, watched for timeouts (and shutdown: Watchdog.abortAll). */
  run(): Promise<PipeResult> {
    const { watchdog } = this.#options;
    watchdog.watch(this);
    return Promise.all([
      this.copy(this.#client, this.#upstream, this.up, "client"),
      this.copy(this.#upstream, this.#client, this.down, "upstream"),
    ]).finally(() => {
      watchdog.unwatch(this);
      this.#client.close();
      this.#upstream.close();
    }).then(() => ({
      upBytes: this.up.bytes,
      downBytes: this.down.bytes,
      closedBy: this.closedBy ?? "proxy",
      ...(this.reason ? { reason: this.reason } : {}),
    }));
  }
}

export function pipe(client: Conn, upstream: Conn, options: PipeOptions): Promise<PipeResult> {
  return new Tunnel(client, upstream, options).run();
}
