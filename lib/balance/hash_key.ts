/**
 * The per-request inputs of balancing (pure): the client's IP address and the value of the
 * group's `hash_key` (`header:NAME`, `cookie:NAME`, `query:NAME` or `ip`), computed only when a
 * policy asks for it, so round robin never parses a cookie.
 */
import type { HashKey } from "../config/schema.ts";
import { type Addr, clientIpOf } from "../net/address.ts";
import type { Header } from "../http/headers.ts";
import { getHeaderValues, trimOws } from "../http/headers.ts";
import type { PickContext } from "./balancer.ts";

/** The request a key is taken from. `path` is origin-form, query included. */
export interface KeySource {
  headers: Header[];
  path: string;
  remote: Addr;
}

/**
 * The key's value in a request; undefined when the header, cookie or parameter is absent or
 * empty (then nginx, too, balances without the hash).
 */
export function extractHashKey(key: HashKey, request: KeySource): string | undefined {
  const value = rawValue(key, request);
  return value === "" ? undefined : value;
}

function rawValue(key: HashKey, request: KeySource): string | undefined {
  switch (key.source) {
    case "ip":
      return clientIpOf(request.remote);
    case "header": {
      const values = getHeaderValues(request.headers, key.name);
      return values.length === 0 ? undefined : values.join(", ");
    }
    case "cookie":
      return cookie(request.headers, key.name);
    case "query":
      return queryParameter(request.path, key.name);
  }
}

/** The first cookie of that name over every Cookie field (RFC 6265 §5.4: "; "-separated pairs). */
function cookie(headers: Header[], name: string): string | undefined {
  for (const field of getHeaderValues(headers, "cookie")) {
    for (const pair of field.split(";")) {
      const eq = pair.indexOf("=");
      if (eq !== -1 && trimOws(pair.slice(0, eq)) === name) return trimOws(pair.slice(eq + 1));
    }
  }
  return undefined;
}

/** The first value of that query parameter, percent-decoded (`+` is a space, as in forms). */
function queryParameter(path: string, name: string): string | undefined {
  const query = path.indexOf("?");
  if (query === -1) return undefined;
  for (const pair of path.slice(query + 1).split("&")) {
    const eq = pair.indexOf("=");
    const [rawName, rawValue] = eq === -1 ? [pair, ""] : [pair.slice(0, eq), pair.slice(eq + 1)];
    if (decode(rawName) === name) return decode(rawValue);
  }
  return undefined;
}

/** Malformed escapes ("%zz") are kept as written rather than failing the request. */
function decode(text: string): string {
  const spaced = text.replaceAll("+", " ");
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
}

/** The PickContext for one request; the key is extracted at most once, on first use. */
export function pickContext(key: HashKey | undefined, request: KeySource): PickContext {
  let extracted = false;
  let value: string | undefined;
  return {
    clientIp: clientIpOf(request.remote),
    hashKey() {
      if (!extracted && key !== undefined) value = extractHashKey(key, request);
      extracted = true;
      return value;
    },
  };
}
