/**
 * ROUTE (pure): Host header -> server block (like nginx server_name), path -> route
 * (exact "= /path" first, then the longest prefix, like nginx `location`).
 */
import { HttpError } from "./errors.ts";
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

function wildcardMatch(pattern: string, name: string): boolean {
  // "*.example.com" matches "a.example.com" and "a.b.example.com", not "example.com".
  return name.length > pattern.length - 1 && name.endsWith(pattern.slice(1));
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
      if (p.startsWith("*.") && p.length > wildcardLength && wildcardMatch(p, name)) {
        wildcard = server;
        wildcardLength = p.length;
      }
    }
  }
  return wildcard ?? catchAll;
}

const BAD_ESCAPE = /%(?![0-9a-fA-F]{2})/;
const ESCAPES = /(?:%[0-9a-fA-F]{2})+/g;
// Not fatal: bytes that are not UTF-8 (Latin-1 paths) match as U+FFFD instead of failing.
const UTF8 = new TextDecoder();
const hex = (digits: string) => parseInt(digits, 16);
/**
 * "." or ".." as a whole segment, also with a `;param` (Tomcat and Jetty read `/..;/` as `/../`),
 * between "/" or "\\" (IIS, and many routers on Windows, split on a backslash too).
 */
const DOT_SEGMENT = /(?:^|[/\\])\.\.?(?:;[^/\\]*)?(?=[/\\]|$)/;

/**
 * The path routes are matched against: the query dropped, %XX decoded (a decoded "/" counts as
 * one), "//" merged, as nginx does before `location` matching. A dot-segment (".", "..",
 * literal or encoded) is refused instead of resolved: wsgate forwards the path as sent, so a
 * route chosen on the resolved form could differ from what the backend serves (`/admin/..`
 * routed as `/`, served from the backend's admin area). Browsers and curl never send one.
 * Throws HttpError(400) for a dot-segment, a bad %-escape or an encoded NUL.
 */
export function routingPath(path: string): string {
  const query = path.indexOf("?");
  const bare = query === -1 ? path : path.slice(0, query);
  if (!bare.startsWith("/")) return bare; // "*" (OPTIONS *)
  if (BAD_ESCAPE.test(bare)) throw badPath("a bad %-escape", path);
  const decoded = bare.includes("%")
    ? bare.replace(ESCAPES, (run) => UTF8.decode(Uint8Array.from(run.slice(1).split("%"), hex)))
    : bare;
  if (decoded.includes("\0")) throw badPath("an encoded NUL", path);
  if (DOT_SEGMENT.test(decoded)) throw badPath("a dot-segment", path);
  return decoded.includes("//") ? decoded.replace(/\/{2,}/g, "/") : decoded;
}

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
