/**
 * PIPE: the tunnel phase of one route: raw bytes (pipe.ts), or WebSocket frames followed when the
 * route asks for it (ws_tunnel.ts).
 */
import { type PipeResult, Tunnel } from "./pipe.ts";
import { WsTunnel, type WsTunnelResult } from "./ws_tunnel.ts";
import type { TunnelOwner, Watchdog } from "./watchdog.ts";
import type { RouteConfig } from "../config/schema.ts";
import type { Conn } from "../runtime/types.ts";

export type TunnelResult = PipeResult & Partial<WsTunnelResult>;

export interface TunnelContext {
  /** Watches every tunnel; ends them all on shutdown. */
  watchdog: Watchdog;
  /** Aborted when draining starts: tracked tunnels then close with 1001, spread over closeSpread. */
  drain?: AbortSignal;
  closeSpread: number;
}

/** Who owns a tunnel: listed as its owner by the admin, told its result when it ends. */
export interface TunnelHolder extends TunnelOwner {
  tunnelEnded(result: TunnelResult): void;
}

/** Starts the route's tunnel; `owner` is told its result once it ends. */
export function openTunnel(
  client: Conn,
  upstream: Conn,
  route: RouteConfig,
  ctx: TunnelContext,
  owner: TunnelHolder,
  /** close_at_expiry: the tunnel ends then (ms since the epoch). */
  expiresAt?: number,
): void {
  const options = {
    ...(expiresAt !== undefined && { expiresAt }),
    readTimeout: route.read_timeout,
    sendTimeout: route.send_timeout,
    idleTimeout: route.idle_timeout,
    watchdog: ctx.watchdog,
    owner,
  };
  const tunnel = route.websocket
    ? new WsTunnel(client, upstream, {
      ...options,
      pingInterval: route.websocket.ping_interval,
      pingTimeout: route.websocket.ping_timeout,
      closeSpread: ctx.closeSpread,
      ...(ctx.drain && { drain: ctx.drain }),
    })
    : new Tunnel(client, upstream, options);
  tunnel.start(owner);
}
