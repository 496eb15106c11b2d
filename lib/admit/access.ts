/**
 * ACCESS (pure): per-route allow-lists, checked once the route is known. A client is refused
 * (403) when its address is in `deny`, when `allow` is set and its address is not in it, or when
 * `allow_origins` is set and its Origin header matches none of the patterns.
 * Origin checks defend against cross-site WebSocket hijacking: a browser sends the page's origin
 * with every WebSocket handshake, and cookies go along with it. A missing Origin is refused too
 * when a list is set (non-browser clients can send one); "null" (sandboxed pages) is never matched.
 */
import { type Cidr, matchesAny } from "../net/cidr.ts";

/**
 * One `allow_origins` entry:
 *   "https://app.example.com"      that exact origin (scheme, host and port)
 *   "https://*.example.com"        any subdomain (not example.com itself), with that scheme and port
 *   "*.example.com" / "example.com" the host (or its subdomains) with any scheme and port
 * A port, when written, must match.
 */
export interface OriginPattern {
  text: string;
  /** Lower case; undefined = any. */
  scheme?: string;
  /** Lower case, without the "*." of a wildcard. */
  host: string;
  wildcard: boolean;
  /** When undefined: with a scheme, the origin must have no port; without one, any port. */
  port?: string;
}

const SCHEME = "([a-z][a-z0-9+.-]*)://";
const HOST = "(\\*\\.)?([a-z0-9_-]+(?:\\.[a-z0-9_-]+)*|\\[[0-9a-f:.]+\\])";
const PATTERN = new RegExp(`^(?:${SCHEME})?${HOST}(?::([0-9]{1,5}))?$`, "i");
/** An Origin header: scheme://host[:port], nothing after (RFC 6454 §7). */
const ORIGIN = /^([a-z][a-z0-9+.-]*):\/\/([a-z0-9_.-]+|\[[0-9a-f:.]+\])(?::([0-9]{1,5}))?$/i;

export function parseOriginPattern(text: string): OriginPattern | { error: string } {
  const match = PATTERN.exec(text);
  if (!match) {
    const hint = /^[a-z][a-z0-9+.-]*:\/\/[^/]+\/$/i.test(text)
      ? " (an origin has no path: remove the trailing /)"
      : " (like https://app.example.com, https://*.example.com or *.example.com)";
    return { error: `invalid origin pattern "${text}"${hint}` };
  }
  const [, scheme, star, host = "", port] = match;
  if (star !== undefined && host.startsWith("[")) return { error: `"${text}": *. needs a host name` };
  return {
    text,
    ...(scheme !== undefined && { scheme: scheme.toLowerCase() }),
    host: host.toLowerCase(),
    wildcard: star !== undefined,
    ...(port !== undefined && { port }),
  };
}

function hostMatches(pattern: OriginPattern, host: string): boolean {
  if (!pattern.wildcard) return host === pattern.host;
  return host.endsWith(`.${pattern.host}`);
}

/** Whether the Origin header value is allowed by any pattern. */
export function originAllowed(patterns: readonly OriginPattern[], origin: string | undefined): boolean {
  const match = origin === undefined ? null : ORIGIN.exec(origin);
  if (!match) return false;
  const scheme = match[1]!.toLowerCase();
  const host = match[2]!.toLowerCase();
  const port = match[3];
  return patterns.some((p) => {
    if (!hostMatches(p, host) || (p.scheme !== undefined && p.scheme !== scheme)) return false;
    if (p.port !== undefined) return p.port === port;
    return p.scheme === undefined || port === undefined;
  });
}

export interface AccessRules {
  allow_origins?: readonly OriginPattern[];
  allow?: readonly Cidr[];
  deny?: readonly Cidr[];
}

/**
 * Why the client is refused, or undefined when it may pass. `ip` is undefined for a unix-socket
 * client: it matches no block, so `allow` refuses it and `deny` lets it through.
 */
export function checkAccess(
  rules: AccessRules,
  client: { ip: string | undefined; origin: string | undefined },
): string | undefined {
  const who = client.ip ?? "a unix-socket client";
  if (rules.deny && matchesAny(rules.deny, client.ip)) return `${who} is in the route's deny list`;
  if (rules.allow && !matchesAny(rules.allow, client.ip)) return `${who} is not in the route's allow list`;
  if (rules.allow_origins && !originAllowed(rules.allow_origins, client.origin)) {
    return client.origin === undefined
      ? "no Origin header (the route has allow_origins)"
      : `origin ${JSON.stringify(client.origin.slice(0, 100))} is not allowed`;
  }
  return undefined;
}
