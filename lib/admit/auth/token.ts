/**
 * Where a request carries its token (pure): `token_from` sources in order, the first one that
 * holds a token wins. A source holding two (two Authorization fields, `?t=a&t=b`, two cookies,
 * two subprotocol entries) is refused: the gateway would check one and a backend could read the
 * other. For the same reason another source that reaches the backend (a header or a cookie, or any
 * source without strip_token) must hold the same token or none. strip removes every query
 * parameter and subprotocol entry named in `token_from`, not only the one checked, so no unchecked
 * token rides along to the backend there either.
 * Tokens are looked for the way the most lenient backend reads them: the Bearer scheme in any case
 * after any whitespace, `;` separating query parameters like `&` (Rack 2, Python before 3.9.2, Go
 * before 1.17), query names in any case (ASP.NET Core) and as PHP mangles them. A spelling the
 * gateway ignored would reach the backend unchecked.
 */
import type { TokenSource } from "../../config/auth.ts";
import { getHeaderValues, type Header } from "../../http/headers.ts";
import type { RequestHead } from "../../http/head.ts";
import { cookieValues, type QueryPair, queryPairs } from "../../http/params.ts";
import { offeredProtocols } from "../../http/rebuild.ts";

export type Extracted =
  | { token: string; source: string }
  | { missing: true }
  | { ambiguous: string };

/** The Kubernetes convention: the rest of the entry is the token, base64url-encoded. */
const BASE64URL_PREFIX = "base64url.";

/** "bearer" not followed by a token character (so not "Bearerish"), then its credentials. */
const BEARER = /^bearer(?![-!#$%&'*+.^_`|~0-9a-z])[ \t]*(.*?)[ \t]*$/is;

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
      // Another scheme (Basic, ...) is not a token for this source. Every field naming Bearer is
      // one, however malformed ("Bearer a b", "Bearer\xa0a"): it fails verification or differs.
      return values.flatMap((value) => {
        const bearer = BEARER.exec(value);
        return bearer?.[1] ? [bearer[1]] : [];
      });
    }
    case "query": {
      const name = foldName(source.name);
      const named = queryPieces(head.path).filter((piece) => foldName(piece.name) === name);
      return named.map((piece) => piece.value).filter((v) => v !== "");
    }
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
 * the query re-serialised without them (other parameters and separators byte for byte), the
 * subprotocol list without those entries (the field dropped when nothing is left).
 */
export function stripTokens(head: RequestHead, sources: readonly TokenSource[]): RequestHead {
  const queryNames = new Set(sources.flatMap((s) => s.from === "query" ? [s.name] : []));
  const prefixes = sources.flatMap((s) => s.from === "protocol" ? [s.prefix] : []);
  let { path, headers } = head;
  if (queryNames.size > 0) path = editQuery(path, queryNames, () => undefined);
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
  return editQuery(path, names, redacted);
}

/** `text` (a log record's reason quoting a request line or target) with the values of these
 * query parameters replaced by REDACTED. */
export function redactText(text: string, names: ReadonlySet<string>): string {
  if (names.size === 0) return text;
  const folded = new Set([...names].map(foldName));
  return text.replace(/([?&;])([^=&;"\s]*)=[^&;"\s]*/g, (match, separator: string, name: string) => {
    const decoded = queryPairs(`?${name}`)[0]!.name;
    return folded.has(foldName(decoded)) ? `${separator}${name}=REDACTED` : match;
  });
}

function redacted(piece: QueryPiece): string {
  const eq = piece.raw.indexOf("=");
  return `${eq === -1 ? piece.raw : piece.raw.slice(0, eq)}=REDACTED`;
}

/** A query parameter and the separator written before it ("" for the first). */
interface QueryPiece extends QueryPair {
  separator: string;
}

/** The parameters of `path`'s query, split at `&` and at `;`. */
function queryPieces(path: string): QueryPiece[] {
  const start = path.indexOf("?");
  if (start === -1) return [];
  const query = path.slice(start + 1);
  const separators = query.match(/[&;]/g) ?? [];
  return queryPairs(`?${query.replaceAll(";", "&")}`).map((pair, i) => ({
    ...pair,
    separator: i === 0 ? "" : separators[i - 1]!,
  }));
}

/**
 * `path` with each query parameter named in `names` (any case) rewritten by `edit` (undefined:
 * removed); `path` itself when there is none. Where parameters are removed, the separator left
 * between two kept ones is `&` if one of those between them was, so a backend that splits at `&`
 * only never sees two of its parameters run together.
 */
function editQuery(
  path: string,
  names: ReadonlySet<string>,
  edit: (piece: QueryPiece) => string | undefined,
): string {
  if (names.size === 0 || !path.includes("?")) return path;
  const folded = new Set([...names].map(foldName));
  const pieces = queryPieces(path);
  if (!pieces.some((piece) => folded.has(foldName(piece.name)))) return path;
  let query = "";
  let kept = 0;
  let ampersand = false;
  for (const piece of pieces) {
    ampersand ||= piece.separator === "&";
    const raw = folded.has(foldName(piece.name)) ? edit(piece) : piece.raw;
    if (raw === undefined) continue;
    if (kept++ > 0) query += ampersand ? "&" : ";";
    query += raw;
    ampersand = false;
  }
  const base = path.slice(0, path.indexOf("?"));
  return kept === 0 ? base : `${base}?${query}`;
}

/**
 * A query name as the most lenient backend compares it: in any case, with full case mapping
 * ("ſ" and "ß" fold too), and as PHP names it (leading spaces dropped, " ", "." and "[" read as "_").
 */
function foldName(name: string): string {
  return name.replace(/^ +/, "").replace(/[ .[]/g, "_").toUpperCase().toLowerCase();
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
