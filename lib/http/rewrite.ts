/**
 * REWRITE (pure): the path a route's `strip_prefix` / `add_prefix` send upstream. The route was
 * matched on the path as routing reads it (route.ts routingPath: %XX decoded, `;params` cut, "//"
 * merged), so the prefix is found in the raw path by reading it the same way, and only the raw
 * remainder is kept: what follows the prefix goes upstream exactly as the client encoded it, query
 * included.
 */
import { HttpError } from "../errors.ts";
import type { PathRewrite } from "../config/schema.ts";

const SLASH = 0x2f;
const BACKSLASH = 0x5c;
const SEMICOLON = 0x3b;
const HEX2 = /^[0-9A-Fa-f]{2}$/;
/** "/" (2F) and the backslash (5C), both "/" to routing, as the two hex digits of an escape. */
const ENCODED_SEPARATOR = /^(?:2[Ff]|5[Cc])$/;
const encoder = new TextEncoder();

/** The request target for the upstream: `/api/x?q` on route `/api/` -> `/x?q` (strip), `/v2/x?q` (add /v2). */
export function rewriteTarget(target: string, match: string, rewrite: PathRewrite): string {
  const query = target.indexOf("?");
  const bare = query === -1 ? target : target.slice(0, query);
  if (!bare.startsWith("/")) return target;
  let path = bare;
  if (rewrite.strip) {
    const end = rawPrefixEnd(bare, match);
    if (end === -1) {
      throw new HttpError(400, `request path ${JSON.stringify(bare.slice(0, 200))} cannot be rewritten`);
    }
    // One leading "/": a remainder such as "//evil.example/x" would be read as a host by URL
    // parsers (scheme-relative), and "x" (route /api, path /apix) needs one. Separators as routing
    // reads them go too ("/", and %2F and %5C encoded): routing merged them into the prefix's "/",
    // and a backend that decodes the path before parsing it would find "//evil.example" in
    // "/%2F%2Fevil.example".
    path = `/${bare.slice(separatorsEnd(bare, end))}`;
  }
  return rewrite.add + path + (query === -1 ? "" : target.slice(query));
}

/** Where the run of separators ("/", "%2F", "%5C", any case) starting at `from` ends. */
function separatorsEnd(raw: string, from: number): number {
  let at = from;
  while (true) {
    if (raw.charCodeAt(at) === SLASH) at++;
    else if (raw.charCodeAt(at) === 0x25 && ENCODED_SEPARATOR.test(raw.slice(at + 1, at + 3))) at += 3;
    else return at;
  }
}

/**
 * Where `prefix` (as routing reads paths) ends in the raw path, or -1 when the raw path does not
 * start with it. Reads byte by byte like routingPath: a %XX escape is its byte, "\" (encoded) is
 * "/", `;params` run to the next "/" and count for nothing, a "/" after a "/" is merged.
 */
export function rawPrefixEnd(raw: string, prefix: string): number {
  const wanted = encoder.encode(prefix);
  let at = 0;
  let matched = 0;
  let afterSlash = false;
  let inParams = false;
  while (matched < wanted.length) {
    if (at >= raw.length) return -1;
    let byte = raw.charCodeAt(at);
    let width = 1;
    if (byte === 0x25) {
      const digits = raw.slice(at + 1, at + 3);
      if (!HEX2.test(digits)) return -1;
      byte = parseInt(digits, 16);
      width = 3;
    }
    if (byte === BACKSLASH) byte = SLASH;
    at += width;
    if (inParams && byte !== SLASH) continue;
    inParams = false;
    if (byte === SEMICOLON) {
      inParams = true;
      continue;
    }
    if (byte === SLASH && afterSlash) continue;
    if (byte !== wanted[matched]) return -1;
    afterSlash = byte === SLASH;
    matched++;
  }
  return at;
}
