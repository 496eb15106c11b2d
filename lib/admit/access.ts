/**
 * ACCESS (pure): per-route allow-lists, checked once the route is known. A client is refused
 * (403) when its address is in `deny`, when `allow` is set and its address is not in it, or when
 * `allow_origins` is set and its Origin header matches none of the patterns.
 * Origin checks defend against cross-site WebSocket hijacking: a browser sends the page's origin
 * with every WebSocket handshake, and cookies go along with it. A missing Origin is refused too
 * when a list is set (non-browser clients can send one); "null" (sandboxed pages) is never matched.
 */
import { type Cidr, matchesAny } from "../net/cidr.ts";
import { originAllowed, type OriginPattern } from "../net/origin.ts";

export interface AccessRules {
  allow_origins?: readonly OriginPattern[];
  allow?: readonly Cidr[];
  deny?: readonly Cidr[];
}

/**
 * Why the client is refused, or undefined when it may pass. `ip` is undefined for a unix-socket
 * client: it matches no block, so `allow` refuses it and `deny` lets it through.
 */
export function checkAccess(
  rules: AccessRules,
  client: { ip: string | undefined; origin: string | undefined },
): string | undefined {
  const who = client.ip ?? "a unix-socket client";
  if (rules.deny && matchesAny(rules.deny, client.ip)) return `${who} is in the route's deny list`;
  if (rules.allow && !matchesAny(rules.allow, client.ip)) return `${who} is not in the route's allow list`;
  if (rules.allow_origins && !originAllowed(rules.allow_origins, client.origin)) {
    return client.origin === undefined
      ? "no Origin header (the route has allow_origins)"
      : `origin ${JSON.stringify(client.origin.slice(0, 100))} is not allowed`;
  }
  return undefined;
}
