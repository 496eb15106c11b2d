/**
 * PIPE: the tunnel phase of one route: raw bytes (pipe.ts), or WebSocket frames followed when the
 * route asks for it (ws_tunnel.ts).
 */
import { pipe, type PipeResult } from "./pipe.ts";
import { wsTunnel, type WsTunnelResult } from "./ws_tunnel.ts";
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

export function tunnel(
  client: Conn,
  upstream: Conn,
  route: RouteConfig,
  ctx: TunnelContext,
  owner: TunnelOwner,
  /** close_at_expiry: the tunnel ends then (ms since the epoch). */
  expiresAt?: number,
): Promise<TunnelResult> {
  const options = {
    ...(expiresAt !== undefined && { expiresAt }),
    readTimeout: route.read_timeout,
    sendTimeout: route.send_timeout,
    idleTimeout: route.idle_timeout,
    watchdog: ctx.watchdog,
    owner,
  };
  if (!route.websocket) return pipe(client, upstream, options);
  return wsTunnel(client, upstream, {
    ...options,
    pingInterval: route.websocket.ping_interval,
    pingTimeout: route.websocket.ping_timeout,
    closeSpread: ctx.closeSpread,
    ...(ctx.drain && { drain: ctx.drain }),
  });
}
