/**
 * Hop-by-hop headers describe one connection, not the message (RFC 9110 §7.6.1), so a proxy
 * removes them and sets its own for the next hop.
 */
import { getTokenList, type Header, withoutHeaders } from "./headers.ts";

export const HOP_BY_HOP_HEADERS = [
  "connection", // options for this connection only, and the list of other hop-by-hop fields (§7.6.1)
  "keep-alive", // persistence parameters of the client's connection (RFC 2068 §19.7.1)
  "proxy-connection", // non-standard Connection sent by old clients to proxies
  "te", // transfer codings the sender accepts on this hop (§10.1.4)
  "trailer", // announces trailer fields of this hop's chunked framing (§6.6.2)
  "transfer-encoding", // framing of this hop (RFC 9112 §6.1); kept only when the body is relayed verbatim
  "upgrade", // protocol switch of this connection (§7.8); wsgate sets its own
  "proxy-authenticate", // challenge from a proxy to its client, not for the next hop (as Go's httputil)
  "proxy-authorization", // credentials for this proxy, never forwarded (as Go's httputil)
] as const;

/**
 * Fields Connection may not remove: dropping Host, Content-Length or Sec-WebSocket-* because a
 * client named them would break routing, body framing (smuggling) or the handshake upstream;
 * dropping Origin would hand the backend a request that passed `allow_origins` without it.
 */
function isProtected(name: string): boolean {
  return name === "host" || name === "content-length" || name === "origin" ||
    name.startsWith("sec-websocket-");
}

/** Removes the table's headers and every header named in Connection; `keep` (lowercase names) survives. */
export function removeHopByHop(headers: Header[], options: { keep?: string[] } = {}): Header[] {
  const keep = options.keep ?? [];
  // The usual lists are built once (this runs once per request); copied only to add to them.
  let drop: ReadonlySet<string> = keep.length === 0
    ? HOP_BY_HOP
    : keep.length === 1 && keep[0] === "transfer-encoding"
    ? HOP_BY_HOP_BUT_FRAMING
    : new Set(HOP_BY_HOP_HEADERS.filter((name) => !keep.includes(name)));
  for (const token of getTokenList(headers, "connection")) {
    const name = token.toLowerCase();
    if (isProtected(name) || drop.has(name) || keep.includes(name)) continue;
    drop = new Set(drop).add(name);
  }
  return withoutHeaders(headers, drop);
}

const HOP_BY_HOP: ReadonlySet<string> = new Set(HOP_BY_HOP_HEADERS);
const HOP_BY_HOP_BUT_FRAMING: ReadonlySet<string> = new Set(
  HOP_BY_HOP_HEADERS.filter((name) => name !== "transfer-encoding"),
);

/** Headers for the upstream Upgrade request: hop-by-hop removed, then `Upgrade: websocket` and `Connection: Upgrade`. */
export function upgradeRequestHeaders(headers: Header[]): Header[] {
  // removeHopByHop's list is a fresh copy: appended to in place.
  const sent = removeHopByHop(headers);
  sent.push({ name: "Upgrade", value: "websocket" }, { name: "Connection", value: "Upgrade" });
  return sent;
}

/** Headers for a plain HTTP message on a persistent connection: the body is relayed verbatim, so
 * its Transfer-Encoding stays; HTTP/1.1 persists without saying so. */
export function persistentHeaders(headers: Header[]): Header[] {
  return removeHopByHop(headers, { keep: ["transfer-encoding"] });
}

/** Headers for a plain HTTP message on a one-shot connection: as persistentHeaders, plus `Connection: close`. */
export function closeDelimitedHeaders(headers: Header[]): Header[] {
  return [...persistentHeaders(headers), { name: "Connection", value: "close" }];
}
