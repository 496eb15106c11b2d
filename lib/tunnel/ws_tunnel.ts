/**
 * WS TUNNEL: the tunnel of routes with `websocket.track_frames`. It is pipe.ts's tunnel (same
 * backpressure, half-close and timeouts) with a FrameTracker on each direction, which lets
 * wsgate act at frame boundaries without ever copying or unmasking a payload:
 * - keepalive: a side silent for pingInterval gets a Ping with a random payload; the Pong that
 *   answers it (that exact payload) is cut out of the stream, so neither application sees either,
 *   and every other Pong passes. Still silent pingTimeout after the Ping = dead: the live side gets
 *   Close 1001 and the tunnel ends;
 * - clean endings: where the raw tunnel cuts TCP (drain, timeouts, a dead peer, a protocol
 *   violation), this one first sends Close frames, waits briefly for the replies, then closes;
 * - message counters each way.
 * Forwarded bytes are exactly the bytes read, minus the answers to wsgate's Pings. Injected frames
 * go in only between frames: a direction in the middle of a frame defers them until the frame ends.
 */
import type { Conn } from "../runtime/types.ts";
import type { TimerHandle } from "./clock.ts";
import {
  type ClosedBy,
  type Direction,
  type PipeOptions,
  type PipeResult,
  Tunnel,
  type TunnelEnd,
} from "./pipe.ts";
import { Scan, type Violation } from "./frame_tracker.ts";
import { offAbort, onAbort } from "./on_abort.ts";
import { type Fate, Flow, type Side } from "./ws_flow.ts";
import {
  CloseCode,
  closePayload,
  encodeControl,
  hasPayload,
  KEEPALIVE_LENGTH,
  Opcode,
} from "../net/ws_frames.ts";

export interface WsTunnelOptions extends PipeOptions {
  /** Ping a side after this long without a byte from it (ms; 0 = no keepalive). */
  pingInterval: number;
  /** A pinged side still silent this long after the Ping is dead (ms). */
  pingTimeout: number;
  /** Aborted when the gateway starts draining: both sides get Close 1001, each tunnel after a
   * uniform random delay below closeSpread, so clients do not all reconnect at once. */
  drain?: AbortSignal;
  /** ms; 0 = at once. */
  closeSpread?: number;
  /** How long to wait for the closing handshake before closing TCP (ms; default CLOSE_GRACE_MS). */
  closeGrace?: number;
}

export interface WsTunnelResult extends PipeResult {
  /** Complete data messages client -> upstream and upstream -> client. */
  upMessages: number;
  downMessages: number;
  /** The Close frame wsgate sent when it ended the tunnel. */
  closeCode?: number;
  closeReason?: string;
}

export const CLOSE_GRACE_MS = 1_000;

const SIDES: readonly Side[] = ["client", "upstream"];

/** Why wsgate ends a tunnel -> the Close it sends. Unlisted reasons (socket errors) get 1001. */
const CLOSES: Record<string, { code: number; text: string }> = {
  shutdown: { code: CloseCode.goingAway, text: "proxy shutting down" },
  idle_timeout: { code: CloseCode.normal, text: "idle timeout" },
  read_timeout: { code: CloseCode.normal, text: "read timeout" },
  send_timeout: { code: CloseCode.goingAway, text: "peer not reading" },
  client_ping_timeout: { code: CloseCode.goingAway, text: "client not responding" },
  upstream_ping_timeout: { code: CloseCode.goingAway, text: "upstream not responding" },
  // POST /tunnels/{id}/close: the operator's decision, like a policy the peer ran into.
  admin_close: { code: CloseCode.policyViolation, text: "closed by admin" },
  // close_at_expiry: the token that opened the tunnel is no longer valid.
  token_expired: { code: CloseCode.policyViolation, text: "token expired" },
};

/** Like the raw Tunnel, following WebSocket frames (see the top of this file). */
export class WsTunnel extends Tunnel {
  readonly #up: Flow;
  readonly #down: Flow;
  readonly #options: WsTunnelOptions;
  /** Set once wsgate started ending the tunnel with Close frames. */
  #closing: { code: number; text: string; timer: TimerHandle } | undefined;
  #finished = false;
  #drainTimer: TimerHandle | undefined;

  constructor(client: Conn, upstream: Conn, options: WsTunnelOptions) {
    super(client, upstream, options);
    this.#options = options;
    this.#up = new Flow("client", this.up, upstream, { masked: true });
    this.#down = new Flow("upstream", this.down, client, { masked: false });
  }

  /** The drain signal's subscriber: one function per tunnel, made with it. */
  readonly #onDrain = (): void => {
    // A tunnel already closing (idle timeout, dead peer) finishes that instead.
    const goAway = () => this.#closing || this.abort("proxy", "shutdown");
    this.#drainTimer = this.clock.setTimeout(goAway, Math.random() * (this.#options.closeSpread ?? 0));
  };

  override start(end: TunnelEnd): void {
    const drain = this.#options.drain;
    if (drain?.aborted) this.#onDrain();
    else if (drain) onAbort(drain, this.#onDrain);
    super.start(end);
  }

  protected override result(): WsTunnelResult {
    if (this.#options.drain) offAbort(this.#options.drain, this.#onDrain);
    this.clock.clearTimeout(this.#drainTimer);
    this.clock.clearTimeout(this.#closing?.timer);
    return {
      ...super.result(),
      upMessages: this.#up.messages,
      downMessages: this.#down.messages,
      ...(this.#closing && { closeCode: this.#closing.code, closeReason: this.#closing.text }),
    };
  }

  messages(): { up: number; down: number } {
    return { up: this.#up.messages, down: this.#down.messages };
  }

  /** As the raw tunnel's, and no later than a keepalive Ping to send or one unanswered for too long. */
  override checkAt(now: number): number {
    const at = super.checkAt(now);
    const { pingInterval, pingTimeout } = this.#options;
    if (pingInterval <= 0 || this.#closing) return at;
    return Math.min(
      at,
      this.#pingDue(now, this.#up, pingInterval, pingTimeout),
      this.#pingDue(now, this.#down, pingInterval, pingTimeout),
    );
  }

  #pingDue(now: number, flow: Flow, pingInterval: number, pingTimeout: number): number {
    if (flow.ended) return Infinity;
    if (flow.pingQueued) return now;
    const next = flow.heardAt + pingInterval;
    return flow.pingSentAt > 0 ? Math.min(next, flow.pingSentAt + pingTimeout) : next;
  }

  override overdue(now: number): string | undefined {
    // Once closing, the grace timer decides.
    if (this.#closing) return undefined;
    return super.overdue(now) ?? this.#keepalive(now, this.#up) ?? this.#keepalive(now, this.#down);
  }

  /** The first ending sends Close frames and waits for the replies; a second one closes at once. */
  override abort(closedBy: ClosedBy, reason: string): void {
    if (this.#closing) return super.abort(closedBy, reason);
    this.note(closedBy, reason);
    const close = CLOSES[reason] ?? { code: CloseCode.goingAway, text: `${closedBy} connection lost` };
    this.#beginClose(close.code, close.text, this.#liveSides(closedBy, reason));
  }

  /** Reports the direction's end through `d`, as a native splice does: no callbacks waiting on
   * a promise for the tunnel's days (memory per idle tunnel). */
  override relay(from: Conn, _to: Conn, d: Direction): undefined {
    void this.#relayFrames(from, d === this.up ? this.#up : this.#down);
    return undefined;
  }

  // Short on purpose: an idle tunnel keeps this function suspended at its read for days, and a
  // suspended async function keeps a slot for every local and temporary it has; the work per
  // chunk is in #forward(). It never rejects: the end, clean or not, goes to d.ended().
  async #relayFrames(from: Conn, flow: Flow): Promise<void> {
    let error: unknown = null;
    try {
      // No chunk variable here: it would keep the last chunk's view alive while idle.
      while (await this.#forward(flow, await from.read()));
      while (flow.idleWrite) await flow.idleWrite;
      // The base class passes the FIN on next.
      flow.blocked = true;
    } catch (err) {
      error = err;
    }
    flow.ended = true;
    try {
      this.#maybeFinish();
    } catch (err) {
      error = err;
    }
    flow.d.ended(error);
  }

  /** Forwards one chunk read from the flow's source; false at EOF (null). */
  async #forward(flow: Flow, chunk: Uint8Array | null): Promise<boolean> {
    if (chunk === null) return false;
    const d = flow.d;
    const now = this.clock.now();
    flow.heardAt = now;
    while (flow.idleWrite) await flow.idleWrite;
    flow.busy = true;
    const parts = this.#scan(chunk, flow);
    try {
      // Written inline, not through #write(): one promise less per chunk on the hot path.
      for (let i = 0; i < parts.length; i++) {
        d.writingSince = i === 0 ? now : this.clock.now();
        await flow.to.write(parts[i]!);
      }
      d.writingSince = 0;
    } finally {
      flow.busy = false;
    }
    d.bytes += chunk.length;
    if (flow.pending.length > 0 || this.#closing) this.#afterWrite(flow);
    return true;
  }

  async #write(flow: Flow, bytes: Uint8Array): Promise<void> {
    flow.d.writingSince = this.clock.now();
    await flow.to.write(bytes);
    flow.d.writingSince = 0;
  }

  /**
   * Runs one chunk through the tracker and returns what to write, in order: views of the chunk
   * (all of it when nothing is cut), held header bytes, foreign Pongs held back, wsgate's frames.
   */
  #scan(chunk: Uint8Array, flow: Flow): Uint8Array[] {
    const t = flow.tracker;
    const out: Uint8Array[] = [];
    if (!flow.midFrame && flow.pending.length > 0) this.#inject(flow, out);
    if (t.violation) return out; // nothing after a violation is forwarded
    let seg = 0; // chunk bytes before seg are in `out` or cut
    let held = 0; // chunk bytes that went into Pong captures
    let foreign = false; // a capture turned out not to answer wsgate's Ping
    t.feed(chunk);
    for (let event = t.next(); event !== Scan.need; event = t.next()) {
      if (event === Scan.header) {
        const start = t.pos - t.headerSize;
        flow.fate = this.#fate(flow, chunk, start);
        if (flow.fate === "forward") {
          // A header cut at the end of the last chunk was held back; it goes out now.
          if (start < 0) out.push(t.header.slice(0, -start));
          flow.midFrame = true;
          continue;
        }
        seg = emit(out, chunk, seg, Math.max(start, 0));
        if (flow.fate === "capture") {
          flow.capture = new Uint8Array(t.headerSize + t.length);
          flow.capture.set(t.header);
          flow.captured = t.headerSize;
          held += t.pos - Math.max(start, 0);
        }
        seg = t.pos;
      } else if (event === Scan.end) {
        if (flow.fate === "forward") flow.midFrame = false;
        else {
          if (flow.fate === "capture") {
            held += t.pos - seg;
            const pong = this.#captureEnd(flow, chunk.subarray(seg, t.pos));
            if (pong) out.push(pong);
            foreign ||= pong !== undefined;
          }
          seg = t.pos;
        }
        this.#frameEnded(flow);
        if (flow.pending.length > 0) {
          seg = emit(out, chunk, seg, t.pos);
          this.#inject(flow, out);
        }
      } else {
        emit(out, chunk, seg, Math.max(t.pos, 0));
        seg = chunk.length;
        this.#violation(flow, t.violation!);
        this.#inject(flow, out);
      }
    }
    if (!t.inFrame) {
      // Between frames; a header cut at the chunk's end is held back until it is complete.
      seg = emit(out, chunk, seg, Math.max(chunk.length - t.partialHeader, 0));
      if (flow.pending.length > 0) this.#inject(flow, out);
    } else if (flow.fate === "forward") emit(out, chunk, seg, chunk.length);
    else if (flow.fate === "capture") {
      held += chunk.length - seg;
      flow.capture!.set(chunk.subarray(seg), flow.captured);
      flow.captured += chunk.length - seg;
    }
    // Answers to wsgate's Pings are not traffic: they must not hold off idle_timeout or read_timeout.
    if (foreign || held < chunk.length) flow.d.lastRead = flow.heardAt;
    return out;
  }

  /** What to do with the frame whose header just ended at tracker.pos in `chunk` (at `start`). */
  #fate(flow: Flow, chunk: Uint8Array, start: number): Fate {
    if (flow.discard) return "drop";
    const t = flow.tracker;
    const payload = flow.pingPayload;
    if (t.opcode !== Opcode.pong || t.length !== payload?.length) return "forward";
    // A Pong whole in this chunk that does not answer wsgate's Ping passes in place: copied and
    // written on its own instead, a flood of them cost ~80 times the CPU of other small frames.
    const end = t.pos + t.length;
    if (start >= 0 && end <= chunk.length && !hasPayload(chunk.subarray(start, end), payload)) {
      return "forward";
    }
    return "capture";
  }

  /** Completes a held Pong: undefined when it answers wsgate's Ping (cut out), else the frame to forward. */
  #captureEnd(flow: Flow, tail: Uint8Array): Uint8Array | undefined {
    const frame = flow.capture!;
    frame.set(tail, flow.captured);
    flow.capture = undefined;
    if (!hasPayload(frame, flow.pingPayload!)) return frame;
    if (--flow.pingsOwed === 0) flow.pingPayload = undefined;
    return undefined;
  }

  #frameEnded(flow: Flow): void {
    const t = flow.tracker;
    if (t.opcode < 8) {
      if (t.fin && flow.fate === "forward") flow.messages++;
    } else if (t.opcode === Opcode.close) {
      flow.closeFrom = true;
      if (flow.fate === "forward") flow.closeSent = true;
    }
  }

  /** Moves wsgate's pending frames for the destination into `out`; only called between frames. */
  #inject(flow: Flow, out: Uint8Array[]): void {
    for (const frame of flow.pending) {
      out.push(frame);
      const opcode = frame[0]! & 0x0f;
      if (opcode === Opcode.close) {
        flow.closeOwed = false;
        flow.closeSent = true;
        flow.discard = true;
      } else if (opcode === Opcode.ping) {
        const pinged = this.#other(flow);
        pinged.pingSentAt = this.clock.now();
        pinged.pingQueued = false;
      }
    }
    flow.pending = [];
  }

  /** Writes pending frames while the source is quiet and the destination is between frames. */
  #kick(flow: Flow): void {
    if (flow.busy || flow.midFrame || flow.blocked || flow.pending.length === 0) return;
    flow.busy = true;
    const out: Uint8Array[] = [];
    this.#inject(flow, out);
    flow.idleWrite = (async () => {
      for (const part of out) await this.#write(flow, part);
    })()
      .catch((err) => this.fail(err, flow.d, flow.source))
      .finally(() => {
        flow.busy = false;
        flow.idleWrite = undefined;
        this.#afterWrite(flow);
      });
  }

  #afterWrite(flow: Flow): void {
    this.#kick(flow);
    this.#maybeFinish();
  }

  /** The flow from the other side, i.e. the one that carries frames to this flow's source. */
  #other(flow: Flow): Flow {
    return flow === this.#up ? this.#down : this.#up;
  }

  #toward(side: Side): Flow {
    return side === "client" ? this.#down : this.#up;
  }

  #keepalive(now: number, flow: Flow): string | undefined {
    const { pingInterval, pingTimeout } = this.#options;
    if (pingInterval <= 0 || flow.ended) return undefined;
    if (flow.pingSentAt > 0) {
      if (flow.heardAt >= flow.pingSentAt) flow.pingSentAt = 0;
      else if (now - flow.pingSentAt >= pingTimeout) return `${flow.source}_ping_timeout`;
      return undefined;
    }
    const toward = this.#other(flow);
    if (flow.pingQueued || now - flow.heardAt < pingInterval || toward.blocked || toward.discard) {
      return undefined;
    }
    flow.pingQueued = true;
    // A Ping still unanswered keeps its payload, so that its late Pong is still recognised.
    flow.pingPayload ??= crypto.getRandomValues(new Uint8Array(KEEPALIVE_LENGTH));
    flow.pingsOwed++;
    toward.pending.push(encodeControl(Opcode.ping, flow.pingPayload, this.#mask(toward)));
    this.#kick(toward);
    return undefined;
  }

  /** Frames toward the upstream are masked with a fresh random key (RFC 6455 §5.3). */
  #mask(flow: Flow): { maskKey?: Uint8Array } {
    return flow === this.#up ? { maskKey: crypto.getRandomValues(new Uint8Array(4)) } : {};
  }

  /** The sides that still get a Close: not a dead peer, not one whose writes are stuck. */
  #liveSides(closedBy: ClosedBy, reason: string): Side[] {
    if (reason === "send_timeout") {
      return SIDES.filter((side) => this.#toward(side).d.writingSince === 0);
    }
    const dead = reason.endsWith("_ping_timeout") ? reason.slice(0, -"_ping_timeout".length) : closedBy;
    return SIDES.filter((side) => side !== dead);
  }

  #violation(flow: Flow, violation: Violation): void {
    // A broken stream cannot be parsed for a Close reply: do not wait for one.
    flow.closeFrom = true;
    if (this.#closing) return;
    this.note("proxy", `${flow.source}_protocol_error`);
    this.#beginClose(violation.code, `${violation.reason} (${flow.source})`, SIDES);
  }

  #beginClose(code: number, text: string, live: readonly Side[]): void {
    const grace = this.#options.closeGrace ?? CLOSE_GRACE_MS;
    this.#closing = { code, text, timer: this.clock.setTimeout(() => this.#finish(), grace) };
    for (const side of SIDES) {
      const flow = this.#toward(side);
      if (!live.includes(side)) flow.discard = true;
      else if (!flow.closeSent && !flow.blocked) {
        flow.pending.push(encodeControl(Opcode.close, closePayload(code, text), this.#mask(flow)));
        flow.closeOwed = true;
        this.#kick(flow);
      }
    }
    this.#maybeFinish();
  }

  /** Closes TCP once every Close wsgate owes is written and every side that got one replied. */
  #maybeFinish(): void {
    if (!this.#closing || this.#finished) return;
    for (const flow of [this.#up, this.#down]) {
      if (flow.busy || (flow.closeOwed && !flow.blocked)) return;
      const destination = this.#other(flow);
      if (flow.closeSent && !destination.closeFrom && !destination.ended) return;
    }
    this.#finish();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.clock.clearTimeout(this.#closing?.timer);
    super.abort(this.closedBy ?? "proxy", this.reason ?? "closed");
  }
}

/** Adds chunk[from, to) to `out` (the chunk itself when that is all of it); returns the new start. */
function emit(out: Uint8Array[], chunk: Uint8Array, from: number, to: number): number {
  if (to > from) out.push(to - from === chunk.length ? chunk : chunk.subarray(from, to));
  return Math.max(from, to);
}
