/**
 * The state of one direction of a frame-tracking tunnel (ws_tunnel.ts): its frame tracker, the
 * frames wsgate waits to inject, where the closing handshake stands, and the keepalive of its
 * source. Plain data: ws_tunnel.ts decides what to do with it.
 */
import type { Conn } from "../runtime/types.ts";
import type { Direction } from "./pipe.ts";
import { FrameTracker, type FrameTrackerOptions } from "./frame_tracker.ts";

export type Side = "client" | "upstream";
/** What happens to the bytes of the frame in progress. */
export type Fate = "forward" | "drop" | "capture";

/** One direction of frames, named after its source. */
export class Flow {
  readonly source: Side;
  readonly d: Direction;
  readonly to: Conn;
  readonly tracker: FrameTracker;
  /** Complete data messages forwarded. */
  messages = 0;
  /** wsgate's frames for the destination, written at the next frame boundary. */
  pending: Uint8Array[] = [];
  /** The destination has part of a forwarded frame: nothing may be injected until it ends. */
  midFrame = false;
  /** A chunk is being forwarded, or an injection written while the source is quiet. */
  busy = false;
  idleWrite: Promise<void> | undefined;
  fate: Fate = "forward";
  /** A Pong that may answer wsgate's Ping, held until it is complete. */
  capture: Uint8Array | undefined;
  captured = 0;
  /** wsgate's Close for the destination is queued / a Close (wsgate's or the source's) went to it. */
  closeOwed = false;
  closeSent = false;
  /** Frames from the source are dropped: the destination got wsgate's Close, or is dead. */
  discard = false;
  /** The source sent a Close frame / can send nothing more (EOF or error). */
  closeFrom = false;
  ended = false;
  /** The destination got a FIN: nothing more can be written to it. */
  blocked = false;
  /** Keepalive of the source: last byte from it, when wsgate's Ping to it was written (0 = none). */
  heardAt: number;
  pingSentAt = 0;
  pingQueued = false;
  /** The payload of wsgate's unanswered Pings to the source and how many carry it; only a Pong
   * with exactly this payload is cut out. Held only while an answer is owed (memory per tunnel). */
  pingPayload: Uint8Array | undefined;
  pingsOwed = 0;

  constructor(source: Side, d: Direction, to: Conn, options: FrameTrackerOptions) {
    this.source = source;
    this.d = d;
    this.to = to;
    this.tracker = new FrameTracker(options);
    this.heardAt = d.lastRead;
  }
}
