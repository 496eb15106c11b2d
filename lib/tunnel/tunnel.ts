/**
 * PIPE: the tunnel phase of one route: raw bytes (pipe.ts), or WebSocket frames followed when the
 * route asks for it (ws_tunnel.ts).
 */
import { type PipeOptions, type PipeResult, Tunnel } from "./pipe.ts";
import { WsTunnel, type WsTunnelOptions, type WsTunnelResult } from "./ws_tunnel.ts";
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
  const shared = optionsFor(route, ctx);
  const options = expiresAt === undefined ? shared : { ...shared, expiresAt };
  const tunnel = route.websocket
    ? new WsTunnel(client, upstream, options as WsTunnelOptions)
    : new Tunnel(client, upstream, options);
  // The owner is the end: the tunnel lists it as its owner (see Tunnel.owner).
  tunnel.start(owner);
}

/** One options object per route, shared by its tunnels rather than one each: an idle tunnel keeps
 * its options for its days. Made again when the context's part of them differs (a reload's
 * close_spread, another gateway's watchdog in tests). */
const routeOptions = new WeakMap<RouteConfig, PipeOptions | WsTunnelOptions>();

function optionsFor(route: RouteConfig, ctx: TunnelContext): PipeOptions | WsTunnelOptions {
  const known = routeOptions.get(route) as Partial<WsTunnelOptions> | undefined;
  const current = known?.watchdog === ctx.watchdog &&
    (!route.websocket || (known.closeSpread === ctx.closeSpread && known.drain === ctx.drain));
  if (current) return known as PipeOptions | WsTunnelOptions;
  const pipe: PipeOptions = {
    readTimeout: route.read_timeout,
    sendTimeout: route.send_timeout,
    idleTimeout: route.idle_timeout,
    watchdog: ctx.watchdog,
  };
  const options = route.websocket
    ? {
      ...pipe,
      pingInterval: route.websocket.ping_interval,
      pingTimeout: route.websocket.ping_timeout,
      closeSpread: ctx.closeSpread,
      ...(ctx.drain && { drain: ctx.drain }),
    }
    : pipe;
  routeOptions.set(route, options);
  return options;
}
