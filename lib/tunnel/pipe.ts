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
  /** Whose tunnel it is, for the admin's list of open tunnels, when not start()'s `end`. */
  owner?: TunnelOwner;
  /** The token that let the tunnel open expires then (close_at_expiry; the clock's ms): it ends
   * with reason token_expired. */
  expiresAt?: number;
}

/** Who learns how a tunnel ended (the connection's record). */
export interface TunnelEnd {
  tunnelEnded(result: PipeResult): void;
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

/** Whose direction it is (the tunnel): its clock, and who learns the direction's end. */
export interface DirectionOwner {
  readonly clock: Clock;
  relayEnded(d: Direction, error: unknown): void;
}

/** One direction's counters, read by the watchdog without touching the hot loop; a native splice
 * keeps them through the SpliceReport methods, and tells its end to `owner` (the tunnel). The
 * clock is the owner's: one field less in both directions of every idle tunnel. */
export class Direction implements SpliceReport {
  bytes = 0;
  /** The clock's time of the last read. */
  lastRead: number;
  /** When the write in progress started, 0 when none is. */
  writingSince = 0;
  readonly #owner: DirectionOwner;

  constructor(owner: DirectionOwner) {
    this.#owner = owner;
    this.lastRead = owner.clock.now();
  }

  reading(): void {
    const now = this.#owner.clock.now();
    this.lastRead = now;
    this.writingSince = now;
  }

  wrote(bytes: number, done: boolean): void {
    this.bytes += bytes;
    if (done) this.writingSince = 0;
  }

  ended(error: unknown): void {
    this.#owner.relayEnded(this, error);
  }
}

/** The raw tunnel; ws_tunnel.ts subclasses it to follow WebSocket frames. */
export class Tunnel implements WatchedTunnel, DirectionOwner {
  readonly up: Direction;
  readonly down: Direction;
  closedBy: ClosedBy | undefined;
  reason: string | undefined;
  #client: Conn;
  #upstream: Conn;
  #options: PipeOptions;
  /** Directions that reached EOF. */
  #eofs = 0;
  /** Directions that are over (EOF passed on, or failed). */
  #over = 0;
  /** Told the result once both directions are over (see start()). */
  #end: TunnelEnd | undefined;

  constructor(client: Conn, upstream: Conn, options: PipeOptions) {
    this.#client = client;
    this.#upstream = upstream;
    this.#options = options;
    this.up = new Direction(this);
    this.down = new Direction(this);
  }

  get clock(): Clock {
    return this.#options.watchdog.clock;
  }

  /** From the options, or start()'s `end` when that is an owner too (the connection's record):
   * no field of its own, and options shared by a route's tunnels (tunnel.ts). */
  get owner(): TunnelOwner | undefined {
    const end = this.#end as Partial<TunnelOwner> | undefined;
    return this.#options.owner ?? (typeof end?.describe === "function" ? end as TunnelOwner : undefined);
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

  /** When overdue() could next give a reason (see WatchedTunnel.checkAt): a write that starts
   * later times out later, and reads only move the read and idle deadlines later. */
  checkAt(now: number): number {
    const { readTimeout, sendTimeout, idleTimeout, expiresAt } = this.#options;
    let at = expiresAt ?? Infinity;
    if (readTimeout > 0) at = Math.min(at, this.down.lastRead + readTimeout);
    if (idleTimeout > 0) at = Math.min(at, Math.max(this.up.lastRead, this.down.lastRead) + idleTimeout);
    if (sendTimeout > 0) {
      const writing = Math.min(this.up.writingSince || now, this.down.writingSince || now);
      at = Math.min(at, writing + sendTimeout);
    }
    return at;
  }

  /** The watchdog's marks (WatchedTunnel.watchSlot, watchIndex). */
  watchSlot: number | undefined;
  watchIndex = 0;

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

  /** Starts moving bytes in direction `d`; relayEnded() follows once it is over. An idle
   * direction spliced natively holds no promise or closure of its own (memory per idle tunnel). */
  #start(d: Direction): void {
    const [from, to] = d === this.up ? [this.#client, this.#upstream] : [this.#upstream, this.#client];
    this.relay(from, to, d)?.then(() => this.relayEnded(d, null), (err) => this.relayEnded(d, err));
  }

  /** Direction `d` is over: EOF (null) passes the half-close on, an error ends both directions. */
  relayEnded(d: Direction, error: unknown): void {
    const [to, source]: [Conn, ClosedBy] = d === this.up
      ? [this.#upstream, "client"]
      : [this.#client, "upstream"];
    if (error !== null) {
      this.fail(error, d, source);
      return this.#directionOver();
    }
    const halfClosed = this.#reachedEof(to, source);
    if (!halfClosed) return this.#directionOver();
    const over = () => this.#directionOver();
    halfClosed.then(over, over);
  }

  /** EOF from `source`: pass the half-close on; the other direction keeps flowing. When the other
   * direction already ended, run() closes both sockets next, and the close sends the FIN: one
   * shutdown() less per connection (it showed up at ~10 % of a handshake's CPU on Bun). */
  #reachedEof(to: Conn, source: ClosedBy): Promise<void> | undefined {
    this.closedBy ??= source;
    this.#eofs++;
    return this.#eofs < 2 ? to.closeWrite() : undefined;
  }

  /** Moves bytes until EOF. Undefined when the runtime's native splice does it (it reports the
   * end through the direction's ended()); else the read/write loop (a rejection is a socket
   * error). A view as the target (a PROXY header's addresses) is written through to its
   * connection. */
  relay(from: Conn, to: Conn, d: Direction): Promise<void> | undefined {
    return from.spliceTo?.(writeTarget(to), d) ? undefined : this.#loop(from, to, d);
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

  /** Runs both directions until they end, watched for timeouts (and shutdown: Watchdog.abortAll);
   * then `end` is told the result. A callback, not a promise: an idle tunnel holds no promise,
   * resolver or reaction for its days (memory per idle tunnel is a headline figure). */
  start(end: TunnelEnd): void {
    this.#options.watchdog.watch(this);
    this.#end = end;
    this.#start(this.up);
    this.#start(this.down);
  }

  /** The result once both directions are over; ws_tunnel.ts adds its own. */
  protected result(): PipeResult {
    const result: PipeResult = {
      upBytes: this.up.bytes,
      downBytes: this.down.bytes,
      closedBy: this.closedBy ?? "proxy",
    };
    if (this.reason) result.reason = this.reason;
    return result;
  }

  /** Once both directions are over: both sockets closed, the result handed to start()'s `end`. */
  #directionOver(): void {
    if (++this.#over < 2) return;
    this.#options.watchdog.unwatch(this);
    this.#client.close();
    this.#upstream.close();
    this.#end!.tunnelEnded(this.result());
  }
}
