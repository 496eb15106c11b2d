/**
 * The WebSocket-aware tunnel keys: a route's `websocket: { track_frames, ping_interval,
 * ping_timeout }` and the top-level `close_spread`. Pure, like the rest of validation;
 * validate.ts calls these readers.
 */
import { formatDuration } from "./duration.ts";
import { asBoolean, asDuration, type KeyPath, type Raw, type Reader } from "./reader.ts";
import { DEFAULTS, type RouteConfig } from "./schema.ts";

export const WEBSOCKET_KEYS = ["track_frames", "ping_interval", "ping_timeout"] as const;

/** `{ websocket }` when the route tracks frames, else `{}`: spread into the route. */
export function readWebSocket(r: Reader, route: Raw, path: KeyPath): Pick<RouteConfig, "websocket"> {
  if (route.websocket === undefined) return {};
  const raw = r.section(route, "websocket", path, WEBSOCKET_KEYS);
  const at = [...path, "websocket"];
  const track = r.get(raw, "track_frames", at, asBoolean) ?? false;
  const interval = r.get(raw, "ping_interval", at, asDuration({ positive: false }));
  const timeout = r.get(raw, "ping_timeout", at, asDuration({ positive: true }));
  if (!track) {
    for (const key of ["ping_interval", "ping_timeout"]) {
      if (raw[key] !== undefined) {
        r.report([...at, key], "needs track_frames: true (wsgate can only ping between frames it tracks)");
      }
    }
    return {};
  }
  if (interval === 0 && timeout !== undefined) {
    r.report([...at, "ping_timeout"], "has no effect with ping_interval: 0 (keepalive off)");
  }
  const defaults = DEFAULTS.websocket;
  return {
    websocket: {
      ping_interval: interval ?? defaults.ping_interval,
      ping_timeout: timeout ?? defaults.ping_timeout,
    },
  };
}

/** `close_spread` must end before shutdown_timeout cuts what is left. */
export function readCloseSpread(r: Reader, root: Raw, shutdownTimeout: number): { close_spread?: number } {
  const spread = r.get(root, "close_spread", [], asDuration({ positive: false }));
  if (!spread) return {};
  if (spread >= shutdownTimeout) {
    r.report(
      ["close_spread"],
      `must be shorter than shutdown_timeout (${formatDuration(shutdownTimeout)}), or tunnels still ` +
        "waiting for their Close are cut at the timeout",
    );
  }
  return { close_spread: spread };
}
