/** `hash_key` as written in a config (`header:NAME`, `cookie:NAME`, `query:NAME` or `ip`). Pure. */
import type { HashKey } from "./schema.ts";

const SOURCES = ["header", "cookie", "query"] as const;
/** A header field name is an RFC 9110 token; cookie and query names need only be non-empty. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const SYNTAX = "must be header:NAME, cookie:NAME, query:NAME or ip";

/** "header:X-User-Id" -> { source: "header", name: "X-User-Id" }, for validation. */
export function parseHashKey(text: string): HashKey | { error: string } {
  if (text === "ip") return { source: "ip" };
  const colon = text.indexOf(":");
  const source = SOURCES.find((s) => s === text.slice(0, colon));
  const name = text.slice(colon + 1);
  if (colon === -1 || source === undefined) return { error: `${SYNTAX}, not ${JSON.stringify(text)}` };
  if (name === "") return { error: `${SYNTAX}: the name after "${source}:" is missing` };
  if (source === "header" && !TOKEN.test(name)) {
    return { error: `invalid header name ${JSON.stringify(name)}` };
  }
  return { source, name };
}

export function formatHashKey(key: HashKey): string {
  return key.source === "ip" ? "ip" : `${key.source}:${key.name}`;
}
