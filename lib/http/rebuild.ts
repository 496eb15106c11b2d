/**
 * REISSUE (pure): the request head the upstream gets. Rebuilt, not copied: header names with "_"
 * and hop-by-hop headers removed, the request ID and the route's header rules applied,
 * `Upgrade`/`Connection` set for an upgrade (`Connection: close` for plain HTTP, unless the
 * connection may be reused), X-Forwarded-* and Forwarded added.
 */
import { type RequestHead, serializeRequestHead } from "./head.ts";
import { getHeader, getHeaderValues, type Header, withoutUnderscoreNames } from "./headers.ts";
import { closeDelimitedHeaders, persistentHeaders, upgradeRequestHeaders } from "./hop_headers.ts";
import { addForwardedHeaders, type ForwardedInfo } from "./forwarded.ts";

export interface RebuildOptions {
  /** Undefined for a unix-socket client. */
  clientIp: string | undefined;
  websocket: boolean;
  /** The client came over TLS (X-Forwarded-Proto: https). */
  tls: boolean;
  /** The client is a trusted proxy: its X-Forwarded-For and Forwarded are appended to. */
  trustForwarded: boolean;
  /** The request target to send (a route's rewrite); default: the path as received. */
  target?: string;
  /** The request ID's header ("" = none): replaces every header of that name the client sent. */
  requestIdHeader?: string;
  /** "" = none. */
  requestId?: string;
  /** Headers the gateway sets for this request (auth: claims_to_headers, copy_headers), added after
   * the hop-by-hop removal: a client naming them in its Connection header cannot drop them. The
   * client's own values under those names are already gone from `request`. */
  added?: readonly Header[];
  /** The route's request_headers (applied after the hop-by-hop removal, before X-Forwarded-*). */
  edit?: (headers: Header[]) => Header[];
  /** Plain HTTP on a connection the gateway may reuse (upstream `keepalive`): no `Connection: close`. */
  keepAlive?: boolean;
}

export function rebuildRequest(request: RequestHead, options: RebuildOptions): Uint8Array {
  const host = getHeader(request.headers, "host");
  const incoming = withoutUnderscoreNames(request.headers);
  // After the hop-by-hop removal: a client naming X-Request-Id (or a header a rule sets) in its
  // Connection header must not make the gateway drop its own.
  const sent = options.websocket
    ? upgradeRequestHeaders(incoming)
    : options.keepAlive
    ? persistentHeaders(incoming)
    : closeDelimitedHeaders(incoming);
  if (options.added) sent.push(...options.added);
  if (options.requestIdHeader && options.requestId) {
    replaceHeader(sent, options.requestIdHeader, options.requestId);
  }
  const forwarded: ForwardedInfo = {
    // nginx reports unix-socket clients as "unix:" too.
    clientIp: options.clientIp ?? "unix:",
    proto: options.tls ? "https" : "http",
    trustIncoming: options.trustForwarded,
  };
  if (host) forwarded.host = host;
  const headers = addForwardedHeaders(options.edit ? options.edit(sent) : sent, forwarded);
  // A plain HTTP/1.0 request goes upstream as 1.0, so the answer cannot come back chunked, which a
  // 1.0 client could not read (nginx de-chunks instead; its default proxy_http_version is 1.0).
  const version = options.websocket ? "HTTP/1.1" : request.version;
  const target = options.target ?? request.path;
  return serializeRequestHead({ method: request.method, target, version, headers });
}

/** In place (the list is this request's own copy): every field of that name removed, one appended. */
function replaceHeader(headers: Header[], name: string, value: string): void {
  const lower = name.toLowerCase();
  let kept = 0;
  for (const header of headers) {
    if (header.name.length !== lower.length || header.name.toLowerCase() !== lower) headers[kept++] = header;
  }
  headers.length = kept;
  headers.push({ name, value });
}

/** The subprotocols a client offered, in order: a 101 may only choose one of them. */
export function offeredProtocols(request: RequestHead): string[] {
  // Most clients offer none: no four arrays for that.
  if (getHeader(request.headers, "sec-websocket-protocol") === undefined) return [];
  return getHeaderValues(request.headers, "sec-websocket-protocol")
    .flatMap((value) => value.split(","))
    .map((protocol) => protocol.trim())
    .filter((protocol) => protocol.length > 0);
}
