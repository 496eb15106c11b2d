/**
 * Where a request carries its token (pure): `token_from` sources in order, the first one that
 * holds a token wins. A source holding two (two Authorization fields, `?t=a&t=b`, two cookies,
 * two subprotocol entries) is refused: the gateway would check one and a backend could read the
 * other. For the same reason another source that reaches the backend (a header or a cookie, or any
 * source without strip_token) must hold the same token or none. strip removes every query
 * parameter and subprotocol entry named in `token_from`, not only the one checked, so no unchecked
 * token rides along to the backend there either.
 */
import type { TokenSource } from "../../config/auth.ts";
import { getHeaderValues, type Header } from "../../http/headers.ts";
import type { RequestHead } from "../../http/head.ts";
import { cookieValues, queryPairs, queryValues, withQuery } from "../../http/params.ts";
import { offeredProtocols } from "../../http/rebuild.ts";

export type Extracted =
  | { token: string; source: string }
  | { missing: true }
  | { ambiguous: string };

/** The Kubernetes convention: the rest of the entry is the token, base64url-encoded. */
const BASE64URL_PREFIX = "base64url.";

export function extractToken(
  head: RequestHead,
  sources: readonly TokenSource[],
  options: { strip: boolean },
): Extracted {
  let chosen: { token: string; source: string } | undefined;
  for (const source of sources) {
    const found = tokensIn(head, source);
    const label = describeSource(source);
    if (found.length > 1) return { ambiguous: `more than one token in ${label}` };
    const token = found[0];
    if (!token) continue;
    if (!chosen) chosen = { token, source: label };
    else if (token !== chosen.token && !(options.strip && strippable(source))) {
      return { ambiguous: `different tokens in ${chosen.source} and ${label}` };
    }
  }
  return chosen ?? { missing: true };
}

/** Sources strip_token removes before the request goes upstream. */
function strippable(source: TokenSource): boolean {
  return source.from === "query" || source.from === "protocol";
}

export function describeSource(source: TokenSource): string {
  return source.from === "protocol" ? `protocol:${source.prefix}` : `${source.from}:${source.name}`;
}

function tokensIn(head: RequestHead, source: TokenSource): string[] {
  switch (source.from) {
    case "header": {
      const values = getHeaderValues(head.headers, source.name);
      if (source.name.toLowerCase() !== "authorization") return values.filter((v) => v !== "");
      // Another scheme (Basic, ...) is not a token for this source.
      return values.flatMap((value) => {
        const bearer = /^bearer +(\S+) *$/i.exec(value);
        return bearer ? [bearer[1]!] : [];
      });
    }
    case "query":
      return queryValues(head.path, source.name).filter((v) => v !== "");
    case "cookie":
      return cookieValues(head.headers, source.name).filter((v) => v !== "");
    case "protocol": {
      const entries = offeredProtocols(head).filter((p) => p.startsWith(source.prefix));
      return entries.map((entry) => protocolToken(entry.slice(source.prefix.length), source.prefix));
    }
  }
}

/** "" (no token) when a base64url entry does not decode to text. */
function protocolToken(rest: string, prefix: string): string {
  if (!prefix.startsWith(BASE64URL_PREFIX)) return rest;
  if (!/^[A-Za-z0-9_-]*$/.test(rest)) return "";
  try {
    const binary = atob(
      rest.replaceAll("-", "+").replaceAll("_", "/") + "=".repeat((4 - rest.length % 4) % 4),
    );
    return new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
  } catch {
    return "";
  }
}

/**
 * The request without the token-bearing query parameters and subprotocol entries of `sources`:
 * the query re-serialised without them (other parameters byte for byte), the subprotocol list
 * without those entries (the field dropped when nothing is left).
 */
export function stripTokens(head: RequestHead, sources: readonly TokenSource[]): RequestHead {
  const queryNames = new Set(sources.flatMap((s) => s.from === "query" ? [s.name] : []));
  const prefixes = sources.flatMap((s) => s.from === "protocol" ? [s.prefix] : []);
  let { path, headers } = head;
  if (queryNames.size > 0 && path.includes("?")) {
    const pairs = queryPairs(path);
    const kept = pairs.filter((pair) => !queryNames.has(pair.name));
    if (kept.length !== pairs.length) path = withQuery(path, kept);
  }
  if (prefixes.length > 0) {
    const offered = offeredProtocols(head);
    const kept = offered.filter((p) => !prefixes.some((prefix) => p.startsWith(prefix)));
    if (kept.length !== offered.length) {
      headers = headers.filter((h) => h.name.toLowerCase() !== "sec-websocket-protocol");
      if (kept.length > 0) headers.push({ name: "Sec-WebSocket-Protocol", value: kept.join(", ") });
    }
  }
  return path === head.path && headers === head.headers ? head : { ...head, path, headers };
}

/** `path` with the values of these query parameters replaced by REDACTED, for log records. */
export function redactPath(path: string, names: ReadonlySet<string>): string {
  if (names.size === 0 || !path.includes("?")) return path;
  const pairs = queryPairs(path);
  if (!pairs.some((pair) => names.has(pair.name))) return path;
  return withQuery(
    path,
    pairs.map((pair) => {
      if (!names.has(pair.name)) return pair;
      const eq = pair.raw.indexOf("=");
      return { ...pair, raw: `${eq === -1 ? pair.raw : pair.raw.slice(0, eq)}=REDACTED` };
    }),
  );
}

/** `text` (a log record's reason quoting a request line or target) with the values of these
 * query parameters replaced by REDACTED. */
export function redactText(text: string, names: ReadonlySet<string>): string {
  let out = text;
  for (const name of names) {
    if (!out.includes(`${name}=`)) continue;
    const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    out = out.replace(new RegExp(`([?&])${escaped}=[^&"\\s]*`, "g"), `$1${name}=REDACTED`);
  }
  return out;
}

/** `headers` without any field named in `names` (the client's values), then `set` added. */
export function replaceHeaders(
  headers: Header[],
  names: readonly string[],
  set: readonly Header[],
): Header[] {
  if (names.length === 0 && set.length === 0) return headers;
  const drop = new Set([...names, ...set.map((h) => h.name)].map((name) => name.toLowerCase()));
  return [...headers.filter((h) => !drop.has(h.name.toLowerCase())), ...set];
}
