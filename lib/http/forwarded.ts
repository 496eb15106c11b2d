/**
 * X-Forwarded-* and X-Real-IP for the upstream (the de-facto headers nginx sets). Only
 * X-Forwarded-For is a chain worth keeping, and only when it comes from a trusted proxy (anyone
 * else could write any address into it); the others describe wsgate's own client connection,
 * so incoming values are replaced rather than trusted.
 */
import type { Header } from "./head.ts";
import { getHeaderValues, withoutHeaders } from "./headers.ts";

export interface ForwardedInfo {
  clientIp: string;
  proto: "http" | "https";
  host?: string;
  /** The client is a trusted proxy: append to its X-Forwarded-For instead of replacing it. */
  trustIncoming?: boolean;
}

/**
 * Appends the client to X-Forwarded-For when `trustIncoming` (joining existing fields into one,
 * "a, b, client"), else sets it to the client alone. Sets X-Forwarded-Proto, X-Forwarded-Host
 * (when host is given) and X-Real-IP, replacing incoming ones.
 * Without a host, an incoming X-Forwarded-Host is dropped rather than passed on unchecked.
 */
export function addForwardedHeaders(headers: Header[], info: ForwardedInfo): Header[] {
  const incoming = info.trustIncoming ? getHeaderValues(headers, "x-forwarded-for") : [];
  const chain = [...incoming.filter((value) => value !== ""), info.clientIp];
  const result = withoutHeaders(headers, [
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-real-ip",
  ]);
  result.push({ name: "X-Forwarded-For", value: chain.join(", ") });
  result.push({ name: "X-Forwarded-Proto", value: info.proto });
  if (info.host !== undefined) result.push({ name: "X-Forwarded-Host", value: info.host });
  result.push({ name: "X-Real-IP", value: info.clientIp });
  return result;
}
