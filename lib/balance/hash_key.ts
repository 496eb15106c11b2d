/**
 * The per-request inputs of balancing (pure): the client's IP address and the value of the
 * group's `hash_key` (`header:NAME`, `cookie:NAME`, `query:NAME` or `ip`), computed only when a
 * policy asks for it, so round robin never parses a cookie.
 */
import type { HashKey } from "../config/schema.ts";
import { type Addr, clientIpOf } from "../net/address.ts";
import type { Header } from "../http/headers.ts";
import { getHeaderValues } from "../http/headers.ts";
import { cookieValues, queryValues } from "../http/params.ts";
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
      return cookieValues(request.headers, key.name)[0];
    case "query":
      return queryValues(request.path, key.name)[0];
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
