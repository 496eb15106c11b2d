/**
 * handleConnection(): the per-connection pipeline, one step per line, like Go's ServeHTTP:
 * admit -> read head -> validate -> route -> (upgrade: exchange, check 101, relay it, tunnel)
 * or (plain HTTP: exchange, relay the answer) -> close -> log.
 * Errors before anything was sent to the client become an HTTP answer (toStatus); later ones only
 * close the connection. A plain HTTP answer with exact framing may leave the connection open for
 * the next request (keep-alive, passthrough/keepalive.ts); each request gets its own access record.
 */
import { answerHeaders, describeError, HttpError, NetError, toStatus } from "./errors.ts";
import { parseRequestHead, type RequestHead, serializeResponseHead } from "./http/head.ts";
import { checkUpgradeRequest, isWebSocketUpgrade } from "./http/upgrade.ts";
import { offeredProtocols, rebuildRequest } from "./http/rebuild.ts";
import { type BodyFraming, requestBodyFraming } from "./http/chunked.ts";
import { rewriteTarget } from "./http/rewrite.ts";
import { requestIdFor } from "./http/request_id.ts";
import { headerEdit, requestFacts, routeAnswer } from "./edge/route_edge.ts";
import { readHead } from "./http/read_head.ts";
import { errorResponse } from "./http/responses.ts";
import { matchServer, routeRequest } from "./route.ts";
import { type ChallengeLookup, challengeResponse, challengeToken } from "./tls/acme/http01.ts";
import { admitClient, type Admitted, checkRouteAccess } from "./admit/admission.ts";
import { pickContext } from "./balance/hash_key.ts";
import { type ExchangeOptions, exchangeWithUpstream, type UpstreamAnswer } from "./upstream/exchange.ts";
import { type Relayed, relayResponse } from "./passthrough/relay.ts";
import { isIdempotent, keepClientAlive, reusableUpstream } from "./passthrough/keepalive.ts";
import { awaitNextRequest } from "./passthrough/next_request.ts";
import type { IdleClients } from "./passthrough/idle_clients.ts";
import { PoolableConn } from "./upstream/pool.ts";
import { getHeader } from "./http/headers.ts";
import { BodyCutter, relayBody, settledWithin } from "./passthrough/body.ts";
import { openTunnel, type TunnelContext, type TunnelResult } from "./tunnel/tunnel.ts";
import { offAbort, onAbort } from "./tunnel/on_abort.ts";
import type { AuthRegistry } from "./admit/auth/route_auth.ts";
import { redactPath, redactText } from "./admit/auth/token.ts";
import { concat, EMPTY, transientBytes } from "./net/bytes.ts";
import { Cancel } from "./net/cancel.ts";
import { connView } from "./net/conn_view.ts";
import { formatAddr } from "./net/address.ts";
import { matchesAny } from "./net/cidr.ts";
import type { Limits } from "./admit/limits.ts";
import type { Config, FixedAnswer, HeaderRules, RouteConfig, ServerConfig } from "./config/schema.ts";
import type { Header } from "./http/headers.ts";
import type { RequestFacts } from "./net/placeholders.ts";
import type { Fields, Logger } from "./observe/log.ts";
import type { Metrics } from "./observe/metrics.ts";
import type { TunnelOwner } from "./tunnel/watchdog.ts";
import type { ClientCertificate, Conn, Net } from "./runtime/types.ts";
import type { UpstreamGroup } from "./upstream/group.ts";

/** What one listener's connections share: the configuration generation they started under. */
export interface ConnectionContext extends TunnelContext {
  net: Net;
  config: Config;
  /** The server blocks bound to this listener. */
  servers: readonly ServerConfig[];
  upstreams: ReadonlyMap<string, UpstreamGroup>;
  /** The listener terminates TLS (X-Forwarded-Proto: https). */
  tls: boolean;
  logger: Logger;
  metrics: Metrics;
  /** Connection counters and handshake rates; shared by every listener of the process. */
  limits: Limits;
  /** The listener expects a PROXY protocol header before the request. */
  proxyProtocol: boolean;
  /** Plain listeners of a gateway with ACME certificates: pending HTTP-01 tokens, answered
   * before routing. */
  acmeChallenge?: ChallengeLookup;
  /** Aborted once this configuration generation takes no more requests (reload, drain): kept-alive
   * connections end after their current answer, idle ones at once. */
  retired: AbortSignal;
  /** Kept-alive connections waiting for a request, process-wide (closed first at max_connections). */
  idleClients: IdleClients;
  /** The routes' authentication (auth:) of this configuration generation. */
  auth: AuthRegistry;
  /** Told once a connection whose handshake opened a tunnel has ended (see handleConnection). */
  tunnelClosed(accepted: Conn): void;
  /** Aborted at shutdown_timeout: a handshake still waiting for its upstream gives up. */
  stopping: AbortSignal;
}

/**
 * Serves one accepted connection. Resolves once it is over, false; or once a tunnel opened, true:
 * the tunnel's end then comes through ctx.tunnelClosed, so that an idle tunnel holds no promise
 * chain of this function's for its days (memory per idle tunnel is a headline figure).
 */
export async function handleConnection(accepted: Conn, id: number, ctx: ConnectionContext): Promise<boolean> {
  const started = Date.now();
  // An idle kept-alive connection gives its slot to a new client rather than have it refused.
  if (ctx.limits.full) ctx.idleClients.evictOldest();
  const admission = admitClient(accepted, id, ctx);
  const admitted = admission instanceof Promise ? await admission : admission;
  if (admitted === null) return false;
  let record = new ConnectionRecord(accepted, admitted, id, started, ctx, 0);
  let first: Uint8Array | undefined;
  while (true) {
    let opened: Opened | undefined;
    let next: KeptAlive | undefined;
    try {
      const request = await readRequest(record, ctx, first);
      // The optional steps are awaited only when configured: each async call is a promise and a
      // suspension more per handshake.
      const challenged = request !== null && ctx.acmeChallenge !== undefined &&
        await answeredChallenge(record, request, ctx.acmeChallenge);
      if (request !== null && !challenged) {
        const route = routeRequest(ctx.servers, request.head);
        record.routed(route);
        checkRouteAccess(route, admitted.clientIp, request.head);
        if (route.auth) await authenticate(record, request, route, ctx);
        if (route.answer) await answerItself(record, request, route, route.answer, ctx);
        else if (request.websocket) opened = await upgrade(record, request, route, ctx);
        else next = await passThrough(record, request, route, ctx);
      }
    } catch (err) {
      await record.reject(err);
    }
    if (opened) {
      startTunnel(record, opened, ctx);
      return true;
    }
    if (!next) {
      record.finish();
      return false;
    }
    record.finishRequest();
    first = next.rest.length > 0 ? next.rest : await awaitNextRequest(admitted.client, {
      timeoutMs: next.timeoutMs,
      retired: ctx.retired,
      idle: ctx.idleClients,
      release: () => admitted.release(),
    }) ?? undefined;
    if (first === undefined) {
      record.closeClient();
      return false;
    }
    record = new ConnectionRecord(accepted, admitted, id, Date.now(), ctx, record.served + 1);
  }
}

/** The connection goes on after an answer: what the client sent past its request, and how long
 * to wait for more. */
interface KeptAlive {
  rest: Uint8Array;
  timeoutMs: number;
}

/** A validated request, with the bytes that came after its head. */
interface ClientRequest {
  head: RequestHead;
  websocket: boolean;
  /** Sec-WebSocket-Key of an upgrade ("" for plain HTTP). */
  key: string;
  rest: Uint8Array;
  /** The client is in trusted_proxies. */
  trusted: boolean;
  /** "" when request IDs are off. */
  requestId: string;
  /** When the token the route checked expires (close_at_expiry). */
  expiresAt?: number;
  /** The verified token's claims ({jwt.CLAIM} placeholders). */
  claims?: Readonly<Record<string, unknown>>;
  /** What auth sets on the upstream request (claims_to_headers, copy_headers). */
  authHeaders?: readonly Header[];
  /** What the route's placeholders render from; made on first use (factsOf), on routes that have any. */
  facts?: RequestFacts;
}

function factsOf(record: ConnectionRecord, request: ClientRequest): RequestFacts {
  return request.facts ??= requestFacts({
    client: record.admitted.client,
    head: request.head,
    tls: record.ctx.tls,
    requestId: request.requestId,
    ...(request.claims && { claims: request.claims }),
  });
}

/** A route's header rules as an edit of a header list; undefined (nothing built) without rules. */
function rulesEdit(
  record: ConnectionRecord,
  request: ClientRequest,
  route: RouteConfig,
  rules: HeaderRules | undefined,
): ((headers: Header[]) => Header[]) | undefined {
  return rules && headerEdit(rules, route, () => factsOf(record, request), record.ctx.logger);
}

/**
 * READ HEAD + VALIDATE. null: the client connected and left without a word (nothing to log), or
 * its TLS handshake failed (logged). `first`: bytes of a further request already read.
 */
async function readRequest(
  record: ConnectionRecord,
  ctx: ConnectionContext,
  first: Uint8Array | undefined,
): Promise<ClientRequest | null> {
  const { client: conn, clientIp } = record.admitted;
  // Only a first request can be refused by the connection limits; later ones by the rate.
  const refusal = record.served === 0 ? record.admitted.refusal : undefined;
  const client = first ? connView(conn, { unread: first }) : conn;
  const read = await readClientHead(client, ctx.config, { started: record.started, refusal }).catch((err) => {
    if (!(err instanceof NetError && err.code === "TLS")) throw err;
    ctx.logger.log("warn", "tls_failed", {
      id: record.id,
      client: record.fields.client,
      reason: err.message,
    });
    return null;
  });
  if (read === null) return null;
  if (refusal) throw refusal;
  const wait = record.served > 0 ? ctx.limits.requestRate(clientIp, Date.now()) : 0;
  if (wait > 0) {
    throw new HttpError(429, `over the handshake rate (${ctx.config.limits.rate}/s) for ${clientIp}`, {
      headers: [["Retry-After", String(Math.ceil(wait))]],
    });
  }
  const { max_headers: maxHeaders, max_request_line: maxRequestLine } = ctx.config.limits;
  const head = parseRequestHead(read.head, { maxHeaders, maxRequestLine });
  const trusted = matchesAny(ctx.config.trusted_proxies, record.admitted.clientIp);
  const idHeader = ctx.config.request_id_header;
  const requestId = idHeader === "" ? "" : requestIdFor(head.headers, idHeader, trusted);
  // A token in the query never reaches a log line.
  const path = redactPath(head.path, ctx.auth.redactNames);
  const { fields } = record;
  fields.method = head.method;
  fields.path = path;
  fields.request_id = requestId || undefined;
  // Like nginx's $ssl_client_s_dn and $ssl_client_verify, on a listener with client_ca.
  const cert = record.clientCertificate;
  if (cert) Object.assign(fields, { client_cert: cert.subject, client_verified: cert.verified });
  const websocket = isWebSocketUpgrade(head);
  const key = websocket ? checkUpgradeRequest(head).key : "";
  return { head, websocket, key, rest: read.rest, trusted, requestId };
}

/** HTTP-01: the CA fetching a token this gateway handed out gets it, whatever the routes say. */
async function answeredChallenge(
  record: ConnectionRecord,
  request: ClientRequest,
  challenges: ChallengeLookup,
): Promise<boolean> {
  const token = challengeToken(request.head.method, request.head.path);
  const keyAuthorization = token && await challenges(token);
  if (!keyAuthorization) return false;
  record.answering();
  Object.assign(record.fields, { status: 200, closed_by: "proxy", answer: "acme-challenge" });
  await record.admitted.client.write(challengeResponse(keyAuthorization));
  await record.admitted.client.closeWrite();
  return true;
}

/** AUTH: a route with `auth` checks the request (401, a relayed denial, 502/504) and may change
 * what the upstream gets (token stripped, claims and copied headers set). */
async function authenticate(
  record: ConnectionRecord,
  request: ClientRequest,
  route: RouteConfig,
  ctx: ConnectionContext,
): Promise<void> {
  const auth = ctx.auth.for(route);
  if (!auth) return;
  const info = { clientIp: record.admitted.clientIp, tls: ctx.tls, trustForwarded: request.trusted };
  const authorized = await auth.authenticate(request.head, info, ctx.metrics);
  request.head = authorized.head;
  if (authorized.expiresAt !== undefined) request.expiresAt = authorized.expiresAt;
  if (authorized.claims) request.claims = authorized.claims;
  if (authorized.headers.length > 0) request.authHeaders = authorized.headers;
}

/** What the tunnel phase needs; everything else from the handshake is left to the GC, since an
 * idle tunnel can live for days and its memory is the headline figure. */
interface Opened {
  upstream: Conn;
  route: RouteConfig;
  address: string;
  /** What the client sent after its head, held until the 101 was relayed; the tunnel sends it first. */
  early: Uint8Array;
  /** Bytes the upstream sent after its 101, not relayed with it (a tracked tunnel's frames start
   * there: its tracker must see them, or a frame cut there desynchronises it). */
  late: Uint8Array;
  /** Bytes the upstream sent after its 101 that went out with it (raw tunnels). */
  downBytes: number;
  /** The tunnel ends then (close_at_expiry). */
  expiresAt?: number;
}

/**
 * The upgrade path: reissue the handshake, relay a checked 101 and open the tunnel (undefined when
 * the upstream answered something else, which is relayed as plain HTTP).
 */
async function upgrade(
  record: ConnectionRecord,
  request: ClientRequest,
  route: RouteConfig,
  ctx: ConnectionContext,
): Promise<Opened | undefined> {
  const { client } = record.admitted;
  // A client that gives up while the upstream is being asked is let go at once (499), as nginx
  // does, instead of holding a backend connection until it answers or handshake_timeout passes.
  const left = new Cancel();
  client.peerGone?.().then(() =>
    left.abort(new NetError("ECONNRESET", "client left before the upstream answered"))
  );
  // Bytes after the head are held until a valid 101 went back (RFC 6455 §4.1: the client waits
  // for it): sent with the head, they would reach a backend that refuses the upgrade and keeps
  // reading as a second, unrouted request.
  // Past shutdown_timeout the gateway stops waiting too (a dial can hang for connect_timeout).
  const stop = () => left.abort(ctx.stopping.reason);
  onAbort(ctx.stopping, stop);
  let upstream: UpstreamAnswer;
  try {
    upstream = await exchange(record, request, route, ctx, {
      rest: EMPTY,
      expect: { upgrade: { key: request.key, offeredProtocols: offeredProtocols(request.head) } },
      replayable: true,
      signal: left,
    });
  } finally {
    offAbort(ctx.stopping, stop);
  }
  if (upstream.response.status !== 101) {
    await relayAnswer(record, upstream, request, route, 0);
    return undefined;
  }
  record.answering();
  // The 101 as received, or rebuilt with the route's response_headers.
  const edit = rulesEdit(record, request, route, route.response_headers);
  const head = edit
    ? serializeResponseHead({ ...upstream.response, headers: edit(upstream.response.headers) })
    : upstream.head;
  // A raw tunnel relays what followed the 101 in the same write; a tracked one through its tracker.
  const tracked = route.websocket !== undefined;
  await client.write(tracked ? head : concat(head, upstream.rest, transientBytes));
  record.fields.status = 101;
  const opened: Opened = {
    upstream: upstream.conn,
    route,
    address: upstream.lease.server.config.address,
    // Nothing held: no buffer kept alive for the tunnel's days (idle memory is a headline figure).
    early: request.rest.length > 0 ? request.rest : EMPTY,
    late: tracked && upstream.rest.length > 0 ? upstream.rest : EMPTY,
    downBytes: tracked ? 0 : upstream.rest.length,
  };
  if (request.expiresAt !== undefined) opened.expiresAt = request.expiresAt;
  return opened;
}

/**
 * The plain HTTP path: reissue the request with its body, relay the answer with its body. Returns
 * how the client connection goes on, or undefined when it ends with this answer.
 */
async function passThrough(
  record: ConnectionRecord,
  request: ClientRequest,
  route: RouteConfig,
  ctx: ConnectionContext,
): Promise<KeptAlive | undefined> {
  if (route.websocket_only) {
    // RFC 9110 §15.5.22: a 426 names the protocol to switch to.
    throw new HttpError(426, "plain HTTP request on a websocket_only route", {
      headers: [["Upgrade", "websocket"]],
    });
  }
  const { client } = record.admitted;
  const body = new BodyCutter(requestBodyFraming(request.head));
  const first = body.cut(request.rest);
  // The whole body came with the head (always, without one): nothing streams after it.
  const replayable = body.done;
  let bodySent = Promise.resolve(0);
  const group = ctx.upstreams.get(route.upstream)!;
  // Upstream reuse needs an HTTP/1.1 exchange: a 1.0 request goes up as 1.0, answered until close.
  const reuse = group.pool !== undefined && request.head.version === "HTTP/1.1";
  const upstream = await exchange(record, request, route, ctx, {
    rest: first,
    expect: {},
    replayable,
    reuse,
    idempotent: replayable && isIdempotent(request.head.method),
    afterSend(conn) {
      // The rest of the body streams while the answer comes back (many servers read it all first).
      if (body.done) return;
      bodySent = relayBody(client, conn, body, EMPTY, {
        readTimeout: 0, // the upstream's answer is awaited within handshake_timeout meanwhile
        sendTimeout: route.send_timeout,
      });
      bodySent.catch(() => conn.close());
    },
  });
  const server = matchServer(ctx.servers, getHeader(request.head.headers, "host")) ?? ctx.servers[0]!;
  const state = {
    timeoutMs: server.keepalive_timeout,
    maxRequests: server.max_requests_per_connection,
    served: record.served,
    retired: ctx.retired.aborted,
  };
  const persist = (framing: BodyFraming) => keepClientAlive(request.head, framing, state);
  const relayed = await relayAnswer(record, upstream, request, route, first.length, persist);
  // A request body still coming once its answer went out (a backend that answered early, or a
  // client trickling it) gets handshake_timeout to end, so that the client can read the answer;
  // then the connection ends: its rest would otherwise be read as the next request.
  const streamed = replayable ? 0 : await settledWithin(bodySent, ctx.config.limits.handshake_timeout);
  const bodyRead = streamed !== undefined && body.done;
  if (bodyRead) record.fields.up_bytes = first.length + streamed;
  if (reuse && relayed.exact && bodyRead && reusableUpstream(upstream.response)) record.parkUpstream(group);
  if (!relayed.persisted || !bodyRead) return undefined;
  return { rest: body.leftover, timeoutMs: server.keepalive_timeout };
}

/** A `redirect` or `respond` route: the gateway answers (an upgrade too: no 101), no upstream is
 * contacted. */
async function answerItself(
  record: ConnectionRecord,
  request: ClientRequest,
  route: RouteConfig,
  fixed: FixedAnswer,
  ctx: ConnectionContext,
): Promise<void> {
  const facts = () => factsOf(record, request);
  const answer = routeAnswer(route, fixed, request.head.method, facts, ctx.logger);
  record.answering();
  const { client } = record.admitted;
  await client.write(answer.bytes);
  Object.assign(record.fields, {
    status: answer.status,
    down_bytes: answer.bodyBytes,
    closed_by: "proxy",
    answer: fixed.kind,
  });
  await client.closeWrite();
}

/** EXCHANGE: pick, connect, reissue, answer; the record holds the upstream from then on. */
async function exchange(
  record: ConnectionRecord,
  request: ClientRequest,
  route: RouteConfig,
  ctx: ConnectionContext,
  options:
    & Pick<ExchangeOptions, "expect" | "replayable" | "afterSend" | "signal" | "reuse" | "idempotent">
    & { rest: Uint8Array },
): Promise<UpstreamAnswer> {
  const { client, clientIp } = record.admitted;
  const group = ctx.upstreams.get(route.upstream)!;
  const edit = rulesEdit(record, request, route, route.request_headers);
  const head = rebuildRequest(request.head, {
    clientIp,
    websocket: request.websocket,
    tls: ctx.tls,
    trustForwarded: request.trusted,
    keepAlive: options.reuse ?? false,
    ...(request.authHeaders && { added: request.authHeaders }),
    ...(route.rewrite && { target: rewriteTarget(request.head.path, route.match, route.rewrite) }),
    requestIdHeader: ctx.config.request_id_header,
    requestId: request.requestId,
    ...(edit && { edit }),
  });
  const upstream = await exchangeWithUpstream(ctx.net, group, { head, rest: options.rest }, {
    ...options,
    // A plain request's exchange gives up at shutdown_timeout too (an upgrade's signal includes it).
    signal: options.signal ?? ctx.stopping,
    limits: ctx.config.limits,
    // Asked only for send_proxy_protocol: each address of a Bun socket is a syscall.
    addrs: () => ({ source: client.remoteAddr, dest: client.localAddr }),
    pick: pickContext(group.config.hash_key, {
      headers: request.head.headers,
      path: request.head.path,
      remote: client.remoteAddr,
    }),
    // A final answer (or an error's) may still follow interim ones.
    relayInterim: (interim) => client.write(interim),
    onAttemptFailed: (err) => {
      ctx.logger.log("error", "upstream_failed", {
        id: record.id,
        upstream: err.upstream,
        reason: err.message,
      });
      const reason = err.timedOut ? "timeout" : err.phase;
      ctx.metrics.upstreamFailure(route.path, group.config.name, err.upstream, reason);
      if (err.phase === "connect" || err.phase === "tls") {
        ctx.metrics.upstreamConnectFailure(group.config.name, err.upstream);
      }
    },
  });
  record.hold(upstream);
  return upstream;
}

/** RELAY: a final answer other than 101, with exactly its body; the connection then closes,
 * unless `persist` (plain HTTP) keeps it for another request. */
async function relayAnswer(
  record: ConnectionRecord,
  upstream: UpstreamAnswer,
  request: ClientRequest,
  route: RouteConfig,
  upBytes: number,
  persist?: (framing: BodyFraming) => boolean,
): Promise<Relayed> {
  record.answering();
  const edit = rulesEdit(record, request, route, route.response_headers);
  const timeouts = { readTimeout: route.read_timeout, sendTimeout: route.send_timeout };
  const relayed = await relayResponse(
    upstream.conn,
    record.admitted.client,
    upstream,
    request.head.method,
    timeouts,
    {
      ...(edit && { edit }),
      ...(persist && { persist }),
    },
  );
  Object.assign(record.fields, {
    status: upstream.response.status,
    down_bytes: relayed.bytes,
    up_bytes: upBytes,
    // The upstream's answer ended the exchange (whether or not the connection stays).
    closed_by: "upstream",
  });
  return relayed;
}

/** The tunnel phase: runs until both sides are done, then the record ends the connection. */
function startTunnel(record: ConnectionRecord, opened: Opened, ctx: ConnectionContext): void {
  const { route, address, early } = opened;
  const { fields } = record;
  ctx.logger.log("info", "tunnel_open", {
    id: record.id,
    request_id: fields.request_id,
    client: fields.client,
    route: route.path,
    upstream: address,
  });
  ctx.metrics.handshake("tunnel", 101, (Date.now() - record.started) / 1000, {
    route: route.path,
    upstream: route.upstream,
    server: address,
  });
  ctx.metrics.tunnelOpened(route.path, route.upstream, address);
  // Held bytes go first: written ahead of a raw tunnel, read first by a tracked one (its tracker
  // must see every frame from the first byte on).
  const tracked = route.websocket !== undefined;
  const client = tracked && early.length > 0
    ? connView(record.admitted.client, { unread: early })
    : record.admitted.client;
  const upstream = opened.late.length > 0
    ? connView(opened.upstream, { unread: opened.late })
    : opened.upstream;
  const written = tracked ? 0 : early.length;
  // The record keeps numbers, not `opened` and its buffers.
  record.tunnelling(written, opened.downBytes);
  // The record owns the tunnel: listed as its owner by the admin (GET /tunnels.json), told its end.
  const expiresAt = opened.expiresAt;
  const piped = () => openTunnel(client, upstream, route, ctx, record, expiresAt);
  if (written === 0) return startOrFail(piped, record);
  opened.upstream.write(early).then(() => startOrFail(piped, record), (err) => record.tunnelFailed(err));
}

/** The tunnel's result comes to the record (tunnelEnded); a tunnel that could not start, here. */
function startOrFail(piped: () => void, record: ConnectionRecord): void {
  try {
    piped();
  } catch (err) {
    record.tunnelFailed(err);
  }
}

/** A refused client gets this long to send its head before it is answered anyway. */
const REFUSED_HEAD_MS = 1_000;

/** handshake_timeout counts from the accept, so it also covers a PROXY header and a TLS handshake. */
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

/** The access record's fields; keys listed up front fix their order in the log line. */
type AccessFields = Fields & { client: string; status: number; closed_by: string };

/**
 * A literal of fixed keys, returned as it is: `reason` (the last key) and a kept-alive
 * connection's `request` count are added when they apply, elsewhere, since JSC sizes a literal
 * for the properties its function adds too. 12 properties fit a JSC object in 112 bytes instead
 * of 160, for a record kept all of a tunnel's days.
 */
function accessFields(id: number, client: string): AccessFields {
  return {
    id,
    client,
    method: undefined,
    path: undefined,
    request_id: undefined,
    route: undefined,
    upstream: undefined,
    status: 0,
    up_bytes: undefined,
    down_bytes: undefined,
    duration_ms: undefined,
    closed_by: "client",
  };
}

/**
 * One client connection's record: what it holds (connection slot, upstream lease and socket) and
 * what it logs. finish() gives everything back and writes the access record, once. It is also the
 * tunnel's owner in the admin's list of open tunnels: it lives as long as the tunnel anyway.
 */
class ConnectionRecord implements TunnelOwner {
  readonly fields: AccessFields;
  /** Only the upstream's lease and socket: the answer's parsed head and bytes are not kept for
   * the tunnel's days (idle memory per tunnel is a headline figure). */
  #lease: UpstreamAnswer["lease"] | undefined;
  #upstreamConn: Conn | undefined;
  #route: RouteConfig | undefined;
  /** Bytes of an answer went to the client: an error can then only close the connection. */
  #answering = false;

  constructor(
    /** The connection as accepted (before a PROXY header's view): the gateway's key for it. */
    readonly accepted: Conn,
    readonly admitted: Admitted,
    readonly id: number,
    readonly started: number,
    readonly ctx: ConnectionContext,
    /** Requests answered on this connection before this one (keep-alive). */
    readonly served: number,
  ) {
    this.fields = accessFields(id, formatAddr(admitted.client.remoteAddr));
    if (served > 0) this.fields.request = served + 1;
  }

  routed(route: RouteConfig): void {
    this.#route = route;
    this.fields.route = route.path;
  }

  describe(): { client: string; route: string; upstream: string; server: string } {
    const route = this.#route;
    return {
      client: this.fields.client,
      route: route?.path ?? "",
      upstream: route?.upstream ?? "",
      server: String(this.fields.upstream ?? ""),
    };
  }

  hold(upstream: UpstreamAnswer): void {
    this.#lease = upstream.lease;
    this.#upstreamConn = upstream.conn;
    this.fields.upstream = upstream.lease.server.config.address;
  }

  /** The client's TLS certificate on a listener with `client_ca` (see Conn.clientCertificate). */
  get clientCertificate(): ClientCertificate | undefined {
    return this.admitted.client.clientCertificate?.();
  }

  /** The upstream connection carried one exactly delimited answer: it goes back to the group's
   * pool for the next request instead of being closed. */
  parkUpstream(group: UpstreamGroup): void {
    const lease = this.#lease;
    const conn = this.#upstreamConn;
    if (!lease || !group.pool || !(conn instanceof PoolableConn)) return;
    this.#upstreamConn = undefined;
    group.pool.park(lease.server.config.address, conn);
  }

  answering(): void {
    this.#answering = true;
  }

  /** The tunnel starts: what moved outside it, for the access record. */
  tunnelling(upAhead: number, downAhead: number): void {
    // Kept in the access fields, which the tunnel's figures are added to: no fields of the
    // record's own for the tunnel's days.
    this.fields.up_bytes = upAhead;
    this.fields.down_bytes = downAhead;
  }

  /** The tunnel ended: its figures into the access record, then the connection's end. */
  tunnelEnded(result: TunnelResult): void {
    try {
      this.#recordTunnel(result);
    } finally {
      this.#tunnelOver();
    }
  }

  #recordTunnel(result: TunnelResult): void {
    const { fields, ctx } = this;
    // Set one by one, in the order the access line shows them: no literal to copy from.
    fields.up_bytes = (fields.up_bytes as number) + result.upBytes;
    fields.down_bytes = (fields.down_bytes as number) + result.downBytes;
    fields.closed_by = result.closedBy;
    fields.reason = result.reason;
    fields.up_messages = result.upMessages;
    fields.down_messages = result.downMessages;
    fields.close_code = result.closeCode;
    const { reason } = result;
    if (reason?.endsWith("_protocol_error") || reason?.endsWith("_ping_timeout")) {
      const { closeCode: code, closeReason: detail } = result;
      ctx.logger.log("warn", "ws_close", { id: this.id, reason, code, detail });
    }
    this.#countClosed();
  }

  /** The tunnel could not start or run (its early bytes could not be written). */
  tunnelFailed(err: unknown): void {
    // It was counted as open (startTunnel): the gauges come back down here too.
    this.#countClosed();
    this.reject(err).then(() => this.#tunnelOver());
  }

  #countClosed(): void {
    const route = this.#route!;
    const seconds = (Date.now() - this.started) / 1000;
    this.ctx.metrics.tunnelClosed(route.path, route.upstream, String(this.fields.upstream), seconds);
  }

  #tunnelOver(): void {
    try {
      this.finish();
    } finally {
      // Whatever went wrong, the gateway must not wait for this connection at shutdown.
      this.ctx.tunnelClosed(this.accepted);
    }
  }

  /** Answers an error (unless an answer already started) and logs why. */
  async reject(err: unknown): Promise<void> {
    const { fields, ctx } = this;
    // A malformed request line is quoted in the reason: its query may hold a token.
    const reason = redactText(describeError(err), ctx.auth.redactNames);
    if (this.#answering) {
      // Mid-answer: the client already has a status line; all that is left is to close.
      if (fields.status === 0) fields.status = 502;
      Object.assign(fields, { closed_by: "proxy", reason });
      return;
    }
    const status = toStatus(err);
    if (status === 499) {
      Object.assign(fields, { status, closed_by: "client", reason });
      return;
    }
    // A deliberate 500 (HttpError: a redirect whose target rendered empty) is no crash: no stack.
    if (status === 500 && !(err instanceof HttpError)) {
      ctx.logger.log("error", "internal_error", { id: this.id, reason, stack: (err as Error).stack });
    }
    Object.assign(fields, { status, closed_by: "proxy", reason });
    ctx.logger.log("warn", "reject", { id: this.id, client: fields.client, status, reason });
    try {
      const relayed = err instanceof HttpError ? err.response : undefined;
      await this.admitted.client.write(relayed ?? errorResponse(status, answerHeaders(err)));
      await this.admitted.client.closeWrite();
    } catch {
      // The client is gone; the log line is all that is left to do.
    }
  }

  /** The end of the connection: the request's end, then the client's. */
  finish(): void {
    this.finishRequest();
    this.closeClient();
  }

  /** The end of this request: its upstream given back, its access record written; the client
   * connection stays (keep-alive). */
  finishRequest(): void {
    const { fields, ctx } = this;
    this.#lease?.release();
    this.#upstreamConn?.close();
    this.#lease = undefined;
    this.#upstreamConn = undefined;
    fields.duration_ms = Date.now() - this.started;
    if (ctx.config.log.access && fields.status !== 0) ctx.logger.log("info", "access", fields);
    countOutcome(ctx.metrics, fields);
  }

  /** Closes the client connection and gives its slot back. */
  closeClient(): void {
    this.admitted.release();
    this.admitted.client.close();
  }
}

/** Handshake results and byte counts; tunnels were counted as they opened. */
function countOutcome(metrics: Metrics, fields: AccessFields): void {
  if (typeof fields.up_bytes === "number") metrics.bytes("up", fields.up_bytes);
  if (typeof fields.down_bytes === "number") metrics.bytes("down", fields.down_bytes);
  if (typeof fields.up_messages === "number") metrics.messages("up", fields.up_messages);
  if (typeof fields.down_messages === "number") metrics.messages("down", fields.down_messages);
  if (fields.status === 0 || fields.status === 101) return;
  const result = fields.closed_by === "upstream" || fields.answer !== undefined
    ? "http"
    : fields.status >= 502 && fields.status <= 504
    ? "upstream_error"
    : "rejected";
  metrics.handshake(result, fields.status, (fields.duration_ms as number) / 1000, {
    route: String(fields.route ?? ""),
  });
}
