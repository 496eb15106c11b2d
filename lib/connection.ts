/**
 * handleConnection(): the per-connection pipeline, one step per line:
 * read head -> parse -> validate -> route -> rebuild request -> upstream (pick, connect,
 * reissue, answer) -> check 101 -> relay 101 -> pipe -> log.
 * Errors before anything was sent to the client become an HTTP answer (toStatus); later
 * ones only close the connection. Either way the connection gets one access record.
 */
import { describeError, HttpError, NetError, toStatus, UpstreamError } from "./errors.ts";
import { parseRequestHead, type RequestHead, serializeRequestHead } from "./http/head.ts";
import { getHeader, getHeaderValues, withoutUnderscoreNames } from "./http/headers.ts";
import { checkUpgradeRequest, checkUpgradeResponse, isWebSocketUpgrade } from "./http/upgrade.ts";
import { closeDelimitedHeaders, upgradeRequestHeaders } from "./http/hop_headers.ts";
import { addForwardedHeaders } from "./http/forwarded.ts";
import { requestBodyFraming } from "./http/chunked.ts";
import { matchRoute, matchServer, routingPath } from "./route.ts";
import { readHead } from "./http/read_head.ts";
import { exchangeWithUpstream } from "./upstream/exchange.ts";
import { pickContext } from "./balance/hash_key.ts";
import { relayResponse, skipInterim } from "./passthrough/relay.ts";
import { BodyCutter, relayBody } from "./passthrough/body.ts";
import { pipe, type PipeResult } from "./tunnel/pipe.ts";
import { wsTunnel, type WsTunnelResult } from "./tunnel/ws_tunnel.ts";
import { concat } from "./net/bytes.ts";
import { errorResponse } from "./http/responses.ts";
import { formatAddr } from "./net/address.ts";
import { admitClient, type Admitted, checkRouteAccess } from "./admit/admission.ts";
import { matchesAny } from "./net/cidr.ts";
import type { Limits } from "./admit/limits.ts";
import type { Config, RouteConfig, ServerConfig } from "./config/schema.ts";
import type { Fields, Logger } from "./observe/log.ts";
import type { Conn, Runtime } from "./runtime/types.ts";
import type { Lease, UpstreamGroup } from "./upstream/group.ts";
import type { Watchdog } from "./tunnel/watchdog.ts";
import type { Metrics } from "./observe/metrics.ts";

/** What one listener's connections share: the configuration generation they started under. */
export interface ConnectionContext {
  runtime: Runtime;
  config: Config;
  /** The server blocks bound to this listener. */
  servers: readonly ServerConfig[];
  upstreams: ReadonlyMap<string, UpstreamGroup>;
  /** The listener terminates TLS (X-Forwarded-Proto: https). */
  tls: boolean;
  logger: Logger;
  watchdog: Watchdog;
  /** Aborted on shutdown. */
  signal: AbortSignal;
  /** Aborted when draining starts: frame-tracking tunnels then close with 1001 (spread over close_spread). */
  drain?: AbortSignal;
  metrics: Metrics;
  /** Connection counters and handshake rates; shared by every listener of the process. */
  limits: Limits;
  /** The listener expects a PROXY protocol header before the request. */
  proxyProtocol: boolean;
}

/** The access record, filled in as the connection moves along. */
type Access = Fields & { id: number; client: string; status: number; closed_by: string };

/** Once bytes of an answer went to the client, an error can only close the connection. */
const ANSWERING = -1;

export async function handleConnection(accepted: Conn, id: number, ctx: ConnectionContext): Promise<void> {
  const started = Date.now();
  const admitted = await admitClient(accepted, id, ctx);
  if (admitted === null) return;
  const { client } = admitted;
  // Keys listed up front fix their order in the log line; undefined ones are left out.
  const access: Access = {
    id,
    client: formatAddr(client.remoteAddr),
    method: undefined,
    path: undefined,
    route: undefined,
    upstream: undefined,
    status: 0,
    up_bytes: undefined,
    down_bytes: undefined,
    duration_ms: undefined,
    closed_by: "client",
    reason: undefined,
  };
  const held: Held = {};
  const finish = () => {
    admitted.release();
    held.lease?.release();
    held.conn?.close();
    client.close();
    access.duration_ms = Date.now() - started;
    if (ctx.config.log.access && access.status !== 0) ctx.logger.log("info", "access", access);
    countOutcome(ctx.metrics, access);
  };
  let opened: Opened | undefined;
  try {
    opened = await establish(admitted, access, held, ctx, started);
  } catch (err) {
    await reject(client, err, access, ctx);
  }
  if (!opened) return finish();
  // The tunnel phase as a promise chain: an idle tunnel (days, thousands of them) then parks no
  // suspended frame of this function.
  return runTunnel(client, opened, access, ctx, started)
    .catch((err) => reject(client, err, access, ctx))
    .finally(finish);
}

/** The upstream connection and lease, held for the cleanup in handleConnection. */
interface Held {
  lease?: Lease;
  conn?: Conn;
}

/** What the tunnel phase needs; everything else from the handshake is left to the GC, since an
 * idle tunnel can live for days and its memory is the headline figure. */
interface Opened {
  upstream: Conn;
  route: RouteConfig;
  address: string;
  /** What the client sent after its head, held until the 101 was relayed; the tunnel sends it first. */
  early: Uint8Array;
  /** Bytes the upstream sent after its 101, already relayed with it. */
  downBytes: number;
}

/**
 * Everything before the tunnel: read, validate and route the request, reissue it upstream, check
 * the answer. Returns the tunnel to run after a relayed 101; undefined when the answer was
 * relayed as plain HTTP (this function then did the whole exchange).
 */
async function establish(
  admitted: Admitted,
  access: Access,
  held: Held,
  ctx: ConnectionContext,
  started: number,
): Promise<Opened | undefined> {
  const { client, clientIp, refusal } = admitted;
  const head = await readClientHead(client, ctx.config, { started, refusal });
  if (head === null) return undefined; // connected and left without a word: nothing to log
  if (refusal) throw refusal;
  const { max_headers: maxHeaders, max_request_line: maxRequestLine } = ctx.config.limits;
  const request = parseRequestHead(head.head, { maxHeaders, maxRequestLine });
  Object.assign(access, { method: request.method, path: request.path });
  const websocket = isWebSocketUpgrade(request);
  const key = websocket ? checkUpgradeRequest(request).key : "";
  const route = findRoute(request, ctx);
  access.route = route.path;
  checkRouteAccess(route, clientIp, request);
  if (!websocket && route.websocket_only) {
    // RFC 9110 §15.5.22: a 426 names the protocol to switch to.
    throw new HttpError(426, "plain HTTP request on a websocket_only route", {
      headers: [["Upgrade", "websocket"]],
    });
  }
  // Plain HTTP sends its body with the head. An Upgrade's bytes after the head are held until a
  // valid 101 went back (RFC 6455 §4.1: the client waits for it): sent with the head, they would
  // reach a backend that refuses the upgrade and keeps reading as a second, unrouted request.
  const body = new BodyCutter(websocket ? { kind: "none" } : requestBodyFraming(request));
  const rest = websocket ? new Uint8Array(0) : body.cut(head.rest);
  let bodySent = Promise.resolve(0);
  const group = ctx.upstreams.get(route.upstream)!;
  // A client that gives up while the upstream is being asked is let go at once (499), as nginx
  // does, instead of holding a backend connection until it answers or handshake_timeout passes.
  const left = new AbortController();
  if (websocket) {
    client.peerGone?.().then(() =>
      left.abort(new NetError("ECONNRESET", "client left before the upstream answered"))
    );
  }
  const upstream = await exchangeWithUpstream(ctx.runtime, group, {
    head: rebuildRequest(request, {
      clientIp,
      websocket,
      tls: ctx.tls,
      trustForwarded: matchesAny(ctx.config.trusted_proxies, clientIp),
    }),
    rest,
  }, {
    limits: ctx.config.limits,
    addrs: { source: client.remoteAddr, dest: client.localAddr },
    pick: pickContext(group.config.hash_key, { ...request, remote: client.remoteAddr }),
    replayable: body.done,
    signal: left.signal,
    afterSend(conn) {
      // The rest of a plain request's body streams while the answer comes back.
      if (body.done) return;
      bodySent = relayBody(client, conn, body, new Uint8Array(0), {
        readTimeout: 0, // the upstream's answer is awaited within handshake_timeout meanwhile
        sendTimeout: route.send_timeout,
      });
      bodySent.catch(() => conn.close());
    },
    onAttemptFailed: (err) => {
      ctx.logger.log("error", "upstream_failed", {
        id: access.id,
        upstream: err.upstream,
        reason: err.message,
      });
      if (err.phase === "connect" || err.phase === "tls") {
        ctx.metrics.upstreamConnectFailure(group.config.name, err.upstream);
      }
    },
  });
  held.lease = upstream.lease;
  held.conn = upstream.conn;
  const address = upstream.lease.server.config.address;
  access.upstream = address;
  const answer = await skipInterim(upstream.conn, client, upstream, { limits: ctx.config.limits, address });
  if (websocket && answer.response.status === 101) {
    const problem = checkUpgradeResponse(answer.response, {
      key,
      offeredProtocols: offeredProtocols(request),
    });
    if (problem) throw new UpstreamError("upgrade", address, `invalid 101: ${problem}`);
    access.status = ANSWERING;
    await client.write(concat(answer.head, answer.rest));
    access.status = 101;
    return {
      upstream: upstream.conn,
      route,
      address,
      early: head.rest,
      downBytes: answer.rest.length,
    };
  }
  if (answer.response.status === 101) {
    throw new UpstreamError("upgrade", address, "101 to a request without Upgrade");
  }
  access.status = ANSWERING;
  const downBytes = await relayResponse(upstream.conn, client, answer, request.method, {
    readTimeout: route.read_timeout,
    sendTimeout: route.send_timeout,
  });
  Object.assign(access, {
    status: answer.response.status,
    down_bytes: downBytes,
    up_bytes: rest.length + await bodySent.catch(() => 0),
    closed_by: "upstream",
  });
  return undefined;
}

function runTunnel(
  client: Conn,
  opened: Opened,
  access: Access,
  ctx: ConnectionContext,
  started: number,
): Promise<void> {
  const { route, address } = opened;
  ctx.logger.log("info", "tunnel_open", {
    id: access.id,
    client: access.client,
    route: route.path,
    upstream: address,
  });
  ctx.metrics.handshake("tunnel", 101, (Date.now() - started) / 1000);
  ctx.metrics.tunnelOpened(route.path, route.upstream, address);
  const { early } = opened;
  const sent = early.length > 0 ? opened.upstream.write(early) : Promise.resolve();
  return sent.then(() => tunnel(client, opened.upstream, route, ctx)).then((result) => {
    Object.assign(access, {
      up_bytes: early.length + result.upBytes,
      down_bytes: opened.downBytes + result.downBytes,
      closed_by: result.closedBy,
      reason: result.reason,
      up_messages: result.upMessages,
      down_messages: result.downMessages,
      close_code: result.closeCode,
    });
    if (/_(protocol_error|ping_timeout)$/.test(result.reason ?? "")) {
      const { reason, closeCode: code, closeReason: detail } = result;
      ctx.logger.log("warn", "ws_close", { id: access.id, reason, code, detail });
    }
    ctx.metrics.tunnelClosed(route.path, route.upstream, address, (Date.now() - started) / 1000);
  });
}

/** A refused client gets this long to send its head before it is answered anyway. */
const REFUSED_HEAD_MS = 1_000;

/** handshake_timeout counts from the accept, so it also covers a PROXY header read before. */
async function readClientHead(
  client: Conn,
  config: Config,
  options: { started: number; refusal: HttpError | undefined },
) {
  const limits = config.limits;
  const left = Math.max(1, limits.handshake_timeout - (Date.now() - options.started));
  try {
    return await readHead(client, {
      maxBytes: limits.max_head_bytes,
      // A request line that alone exceeds the head limit is too long too (414, not 431).
      maxLineBytes: Math.min(limits.max_request_line, limits.max_head_bytes),
      timeoutMs: options.refusal ? Math.min(left, REFUSED_HEAD_MS) : left,
    });
  } catch (err) {
    // A refused client is told why it was refused, whatever went wrong with its head.
    if (options.refusal) throw options.refusal;
    if (err instanceof NetError && err.code === "ETIMEDOUT") {
      throw new HttpError(408, `request head not complete within ${limits.handshake_timeout} ms`);
    }
    throw err;
  }
}

/** The tunnel phase: raw bytes, or WebSocket frames followed when the route asks for it (ws_tunnel.ts). */
function tunnel(
  client: Conn,
  upstream: Conn,
  route: RouteConfig,
  ctx: ConnectionContext,
): Promise<PipeResult & Partial<WsTunnelResult>> {
  const options = {
    readTimeout: route.read_timeout,
    sendTimeout: route.send_timeout,
    idleTimeout: route.idle_timeout,
    watchdog: ctx.watchdog,
    signal: ctx.signal,
  };
  if (!route.websocket) return pipe(client, upstream, options);
  return wsTunnel(client, upstream, {
    ...options,
    pingInterval: route.websocket.ping_interval,
    pingTimeout: route.websocket.ping_timeout,
    closeSpread: ctx.config.close_spread ?? 0,
    ...(ctx.drain && { drain: ctx.drain }),
  });
}

function findRoute(request: RequestHead, ctx: ConnectionContext): RouteConfig {
  const host = getHeader(request.headers, "host");
  const path = routingPath(request.path);
  const server = matchServer(ctx.servers, host);
  const route = server && matchRoute(server.routes, path);
  if (!route) throw new HttpError(404, `no route for ${host ?? ""}${request.path}`);
  return route;
}

/** The request the upstream gets: hop-by-hop headers replaced, X-Forwarded-* added. */
function rebuildRequest(
  request: RequestHead,
  options: { clientIp: string | undefined; websocket: boolean; tls: boolean; trustForwarded: boolean },
): Uint8Array {
  const host = getHeader(request.headers, "host");
  const incoming = withoutUnderscoreNames(request.headers);
  const headers = addForwardedHeaders(
    options.websocket ? upgradeRequestHeaders(incoming) : closeDelimitedHeaders(incoming),
    {
      // nginx reports unix-socket clients as "unix:" too.
      clientIp: options.clientIp ?? "unix:",
      proto: options.tls ? "https" : "http",
      ...(host ? { host } : {}),
      trustIncoming: options.trustForwarded,
    },
  );
  // A plain HTTP/1.0 request goes upstream as 1.0, so the answer cannot come back chunked, which a
  // 1.0 client could not read (nginx de-chunks instead; its default proxy_http_version is 1.0).
  const version = options.websocket ? "HTTP/1.1" : request.version;
  return serializeRequestHead({ method: request.method, target: request.path, version, headers });
}

function offeredProtocols(request: RequestHead): string[] {
  return getHeaderValues(request.headers, "sec-websocket-protocol")
    .flatMap((value) => value.split(","))
    .map((protocol) => protocol.trim())
    .filter((protocol) => protocol.length > 0);
}

/** Answers an error (unless an answer already started), logs why, records it for access. */
async function reject(client: Conn, err: unknown, access: Access, ctx: ConnectionContext): Promise<void> {
  const reason = describeError(err);
  if (access.status !== 0) {
    // Mid-answer: the client already has a status line; all that is left is to close.
    if (access.status === ANSWERING) access.status = 502;
    Object.assign(access, { closed_by: "proxy", reason });
    return;
  }
  if (err instanceof NetError) {
    // The client's own socket failed (reset, broken pipe): nobody to answer. nginx logs 499.
    Object.assign(access, { status: 499, closed_by: "client", reason });
    return;
  }
  const status = toStatus(err);
  if (status === 500) {
    ctx.logger.log("error", "internal_error", { id: access.id, reason, stack: (err as Error).stack });
  }
  Object.assign(access, { status, closed_by: "proxy", reason });
  ctx.logger.log("warn", "reject", { id: access.id, client: access.client, status, reason });
  try {
    await client.write(errorResponse(status, err instanceof HttpError ? err.headers : []));
    await client.closeWrite();
  } catch {
    // The client is gone; the log line is all that is left to do.
  }
}

/** Handshake results and byte counts; tunnels were counted as they opened. */
function countOutcome(metrics: Metrics, access: Access): void {
  if (typeof access.up_bytes === "number") metrics.bytes("up", access.up_bytes);
  if (typeof access.down_bytes === "number") metrics.bytes("down", access.down_bytes);
  if (typeof access.up_messages === "number") metrics.messages("up", access.up_messages);
  if (typeof access.down_messages === "number") metrics.messages("down", access.down_messages);
  if (access.status === 0 || access.status === 101) return;
  const result = access.closed_by === "upstream"
    ? "http"
    : access.status >= 502 && access.status <= 504
    ? "upstream_error"
    : "rejected";
  metrics.handshake(result, access.status, (access.duration_ms as number) / 1000);
}
