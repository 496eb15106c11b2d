/**
 * X-Forwarded-* and X-Real-IP for the upstream (the de-facto headers nginx sets). Only
 * X-Forwarded-For is a chain worth keeping; the others describe wsgate's own client connection,
 * so incoming values are replaced rather than trusted.
 */
import type { Header } from "./head.ts";
import { getHeaderValues, withoutHeaders } from "./headers.ts";

export interface ForwardedInfo {
  clientIp: string;
  proto: "http" | "https";
  host?: string;
}

/**
 * Appends the client to X-Forwarded-For (joining existing fields into one, "a, b, client") and sets
 * X-Forwarded-Proto, X-Forwarded-Host (when host is given) and X-Real-IP, replacing incoming ones.
 * Without a host, an incoming X-Forwarded-Host is dropped rather than passed on unchecked.
 */
export function addForwardedHeaders(headers: Header[], info: ForwardedInfo): Header[] {
  const chain = [
    ...getHeaderValues(headers, "x-forwarded-for").filter((value) => value !== ""),
    info.clientIp,
  ];
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
