/**
 * Query parameters and cookies of a request (pure), read the way backends read them: names and
 * values percent-decoded (`+` is a space, as in forms), every occurrence kept, so a caller can
 * tell one value from two.
 */
import { getHeaderValues, type Header, trimOws } from "./headers.ts";

/** One `name=value` of a query string: decoded, and as written (for re-serialising). */
export interface QueryPair {
  name: string;
  value: string;
  raw: string;
}

/** The pairs of `path`'s query string, in order; [] without one. */
export function queryPairs(path: string): QueryPair[] {
  const query = path.indexOf("?");
  if (query === -1) return [];
  return path.slice(query + 1).split("&").map((raw) => {
    const eq = raw.indexOf("=");
    return eq === -1
      ? { name: decode(raw), value: "", raw }
      : { name: decode(raw.slice(0, eq)), value: decode(raw.slice(eq + 1)), raw };
  });
}

/** Every value of that query parameter, in order. */
export function queryValues(path: string, name: string): string[] {
  return queryPairs(path).filter((pair) => pair.name === name).map((pair) => pair.value);
}

/** Every cookie of that name over every Cookie field (RFC 6265 §5.4: "; "-separated pairs). */
export function cookieValues(headers: Header[], name: string): string[] {
  const values: string[] = [];
  for (const field of getHeaderValues(headers, "cookie")) {
    for (const pair of field.split(";")) {
      const eq = pair.indexOf("=");
      if (eq !== -1 && trimOws(pair.slice(0, eq)) === name) values.push(trimOws(pair.slice(eq + 1)));
    }
  }
  return values;
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
