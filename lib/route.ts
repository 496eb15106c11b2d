/**
 * ROUTE (pure): Host header -> server block (like nginx server_name), path -> route
 * (exact "= /path" first, then the longest prefix, like nginx `location`).
 */
import { HttpError } from "./errors.ts";
import { matchesHostPattern } from "./net/host_pattern.ts";
import { getHeader } from "./http/headers.ts";
import type { RequestHead } from "./http/head.ts";
import type { RouteConfig, ServerConfig } from "./config/schema.ts";

/** The host part of a Host header, lowercased, without the port and without one trailing dot
 * (`chat.example.com.` is the same name, absolute: nginx matches it too, so it must not slip
 * past a `hosts:` block into the catch-all). */
export function hostName(host: string | undefined): string {
  if (!host) return "";
  const lower = host.toLowerCase();
  if (lower.startsWith("[")) {
    const close = lower.indexOf("]");
    return close === -1 ? lower : lower.slice(0, close + 1);
  }
  const colon = lower.indexOf(":");
  const name = colon === -1 ? lower : lower.slice(0, colon);
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

/**
 * The server block for a Host among those sharing one listener: an exact name first, then
 * the longest matching wildcard, then the first block without `hosts`. Undefined -> 404.
 */
export function matchServer(
  servers: readonly ServerConfig[],
  host: string | undefined,
): ServerConfig | undefined {
  const name = hostName(host);
  let wildcard: ServerConfig | undefined;
  let wildcardLength = 0;
  let catchAll: ServerConfig | undefined;
  for (const server of servers) {
    if (!server.hosts) {
      catchAll ??= server;
      continue;
    }
    for (const pattern of server.hosts) {
      const p = pattern.toLowerCase();
      if (p === name) return server;
      if (p.startsWith("*.") && p.length > wildcardLength && matchesHostPattern(p, name)) {
        wildcard = server;
        wildcardLength = p.length;
      }
    }
  }
  return wildcard ?? catchAll;
}

const BAD_ESCAPE = /%(?![0-9a-fA-F]{2})/;
/** A %-escape of "%" before a dot or separator: a backend that decodes twice sees `..` or `/`. */
const DOUBLE_ESCAPE = /%25(?:2e|2f|5c)/i;
/** Overlong UTF-8 (never valid; old decoders read %c0%ae as "."). */
const OVERLONG = /%c[01]|%e0%[89][0-9a-f]|%f0%8[0-9a-f]/i;
const ESCAPES = /(?:%[0-9a-fA-F]{2})+/g;
// Not fatal: bytes that are not UTF-8 (Latin-1 paths) match as U+FFFD instead of failing.
const UTF8 = new TextDecoder();
const hex = (digits: string) => parseInt(digits, 16);
/** "." or ".." as a whole segment. */
const DOT_SEGMENT = /(?:^|\/)\.\.?(?=\/|$)/;

/**
 * The path routes are matched against, read the way the most lenient backend would: the query
 * dropped, %XX decoded (a decoded "/" counts as one), a backslash as a "/" (WHATWG URL parsers,
 * hence Deno.serve, Bun.serve, Node and IIS), `;params` cut from each segment (Tomcat, Jetty,
 * Spring serve `/admin;x/` as `/admin/`), "//" merged. So `/admin\x`, `/admin;/x` and
 * `/admin%2fx` all take the /admin/ route and its rules. What cannot be read one way only is
 * refused (HttpError 400): a dot-segment ("." or "..", literal or encoded: routing on the
 * resolved form while forwarding the raw one would let `/admin/..` through as `/`), an escape
 * of "%" before a dot or separator, overlong UTF-8, a bad escape, an encoded control character.
 * Browsers and curl send none of them. The request is still forwarded as sent.
 */
export function routingPath(path: string): string {
  const query = path.indexOf("?");
  const bare = query === -1 ? path : path.slice(0, query);
  if (!bare.startsWith("/")) return bare; // "*" (OPTIONS *)
  let decoded = bare;
  if (bare.includes("%")) {
    if (BAD_ESCAPE.test(bare)) throw badPath("a bad %-escape", bare);
    if (DOUBLE_ESCAPE.test(bare)) throw badPath("a double-encoded dot or separator", bare);
    if (OVERLONG.test(bare)) throw badPath("an overlong UTF-8 escape", bare);
    decoded = bare.replace(ESCAPES, (run) => UTF8.decode(Uint8Array.from(run.slice(1).split("%"), hex)));
    if (hasControl(decoded)) throw badPath("an encoded control character", bare);
  }
  if (/[\\;]/.test(decoded)) decoded = decoded.replaceAll("\\", "/").replace(/;[^/]*/g, "");
  if (DOT_SEGMENT.test(decoded)) throw badPath("a dot-segment", bare);
  return decoded.includes("//") ? decoded.replace(/\/{2,}/g, "/") : decoded;
}

/** C0 controls and DEL: a decoded CR or LF would split a log line or a backend's header. */
function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/** Quotes the path without its query: what is wrong is in the path, and a query may hold a token. */
function badPath(what: string, path: string): HttpError {
  return new HttpError(400, `request path with ${what}: ${JSON.stringify(path.slice(0, 200))}`);
}

/** The route for a request path (query ignored): exact match first, then the longest prefix. */
export function matchRoute(routes: readonly RouteConfig[], path: string): RouteConfig | undefined {
  const query = path.indexOf("?");
  const bare = query === -1 ? path : path.slice(0, query);
  let best: RouteConfig | undefined;
  for (const route of routes) {
    if (route.exact) {
      if (route.match === bare) return route;
    } else if (bare.startsWith(route.match) && (!best || route.match.length > best.match.length)) {
      best = route;
    }
  }
  return best;
}

/** The route for a request among the server blocks of its listener; HttpError 400 (bad path) or 404. */
export function routeRequest(servers: readonly ServerConfig[], request: RequestHead): RouteConfig {
  const host = getHeader(request.headers, "host");
  const path = routingPath(request.path);
  const server = matchServer(servers, host);
  const route = server && matchRoute(server.routes, path);
  if (!route) throw new HttpError(404, `no route for ${host ?? ""}${request.path}`);
  return route;
}
