/**
 * ROUTE (pure): Host header -> server block (like nginx server_name), path -> route
 * (exact "= /path" first, then the longest prefix, like nginx `location`).
 */
import type { RouteConfig, ServerConfig } from "./config/schema.ts";

/** The host part of a Host header, lowercased, without the port. */
export function hostName(host: string | undefined): string {
  if (!host) return "";
  const lower = host.toLowerCase();
  if (lower.startsWith("[")) {
    const close = lower.indexOf("]");
    return close === -1 ? lower : lower.slice(0, close + 1);
  }
  const colon = lower.indexOf(":");
  return colon === -1 ? lower : lower.slice(0, colon);
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
 * The path routes are matched against, as nginx normalises a URI before `location` matching:
 * the query dropped, %XX decoded (a decoded "/" or "." counts as one), "//" merged, "." and ".."
 * segments resolved. Otherwise `/public/../admin/` would take the /public/ route (and its access
 * rules) to a backend that resolves it to /admin/. The request is still forwarded as sent.
 * Undefined: a bad %-escape, an encoded NUL, or ".." above the root (400).
 */
export function routingPath(path: string): string | undefined {
  const query = path.indexOf("?");
  const bare = query === -1 ? path : path.slice(0, query);
  if (!bare.startsWith("/")) return bare; // "*" (OPTIONS *)
  if (BAD_ESCAPE.test(bare)) return undefined;
  const decoded = bare.replace(ESCAPES, (run) => UTF8.decode(Uint8Array.from(run.slice(1).split("%"), hex)));
  if (decoded.includes("\0")) return undefined;
  if (!decoded.includes("//") && !decoded.includes("/.")) return decoded;
  const out: string[] = [];
  const segments = decoded.split("/");
  for (const segment of segments.slice(1)) {
    if (segment === "..") {
      if (out.length === 0) return undefined;
      out.pop();
    } else if (segment !== "." && segment !== "") out.push(segment);
  }
  // A trailing "/", "/." or "/.." names a directory: keep the slash, as `location /a/` expects.
  const last = segments.at(-1);
  const directory = last === "" || last === "." || last === "..";
  return `/${out.join("/")}${directory && out.length > 0 ? "/" : ""}`;
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
