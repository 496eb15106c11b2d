/**
 * X-Forwarded-* and X-Real-IP for the upstream (the de-facto headers nginx sets), and the
 * standard RFC 7239 `Forwarded` with the same facts. Only the client chains (X-Forwarded-For,
 * Forwarded) are worth keeping, and only when they come from a trusted proxy (anyone else could
 * write any address into them); the others describe wsgate's own client connection, so incoming
 * values are replaced rather than trusted.
 */
import { getHeaderValues, type Header, withoutHeaders } from "./headers.ts";

export interface ForwardedInfo {
  clientIp: string;
  proto: "http" | "https";
  host?: string;
  /** The client is a trusted proxy: append to its X-Forwarded-For instead of replacing it. */
  trustIncoming?: boolean;
}

/**
 * Appends the client to X-Forwarded-For and Forwarded when `trustIncoming` (joining existing
 * fields into one, "a, b, client"), else sets them to the client alone. Sets X-Forwarded-Proto, X-Forwarded-Host
 * (when host is given) and X-Real-IP, replacing incoming ones.
 * Without a host, an incoming X-Forwarded-Host is dropped rather than passed on unchecked.
 */
const FORWARDED_NAMES: ReadonlySet<string> = new Set([
  "forwarded",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-real-ip",
]);

export function addForwardedHeaders(headers: Header[], info: ForwardedInfo): Header[] {
  const chain = (name: string, last: string) => {
    if (!info.trustIncoming) return last;
    return [...getHeaderValues(headers, name).filter((value) => value !== ""), last].join(", ");
  };
  const result = withoutHeaders(headers, FORWARDED_NAMES);
  result.push({ name: "Forwarded", value: chain("forwarded", forwardedElement(info)) });
  result.push({ name: "X-Forwarded-For", value: chain("x-forwarded-for", info.clientIp) });
  result.push({ name: "X-Forwarded-Proto", value: info.proto });
  if (info.host !== undefined) result.push({ name: "X-Forwarded-Host", value: info.host });
  result.push({ name: "X-Real-IP", value: info.clientIp });
  return result;
}

/** One RFC 7239 element: `for=` (IPv6 bracketed and quoted; "unknown" for a unix-socket client),
 * `host=` quoted when it is not a token (a port's colon), `proto=`. */
function forwardedElement(info: ForwardedInfo): string {
  const node = info.clientIp === "unix:"
    ? "unknown"
    : info.clientIp.includes(":")
    ? `"[${info.clientIp}]"`
    : info.clientIp;
  const host = info.host === undefined ? "" : `;host=${tokenOrQuoted(info.host)}`;
  return `for=${node}${host};proto=${info.proto}`;
}

function tokenOrQuoted(value: string): string {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value) ? value : `"${value.replace(/["\\]/g, "\\$&")}"`;
}
