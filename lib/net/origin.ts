/**
 * Origin patterns (pure): the `allow_origins` entries of a route and the check of an Origin header
 * (RFC 6454) against them. Config parses the patterns; admission checks them.
 */

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
